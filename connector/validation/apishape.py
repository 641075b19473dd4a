"""Definitions as the service's own client reads them: each document checked against the shapes
of botocore's `greengrass` model, read at run time (never restated here): required members,
member types and unknown keys, each located; an unknown key names the allowed ones and the
nearest. Which shape a document is follows from its keys.

Where dadc is stricter than the client on purpose (the service's own checks: an Id's pattern, the
connector's ARN and parameters) the other rule modules say so (docs/rules.md)."""
from __future__ import annotations

import difflib
from functools import lru_cache
from typing import Any, Iterator

from dadc.validation.findings import Finding, rule
from dadc.validation.positions import join
from dadc.validation.rules_connectors import CONNECTORS, MEMBER, NAME
from dadc.validation.rules_parameters import SHAPE as PARAMS_SHAPE, TYPE as PARAMS_TYPE, json_string

API = "https://docs.aws.amazon.com/greengrass/v1/apireference/definitions-connector.html"
UNKNOWN_KEY = rule("E0005", "api-unknown-key", "A key the API's shape does not have (botocore's model): the client "
                   "refuses the request before sending it. The finding names the allowed keys and the nearest.", API)
MEMBER_TYPE = rule("E0006", "api-member-type", "A member of the wrong type for the API's shape (botocore's model): "
                   "a string, an array or an object where another is given.", API)
REQUIRED = rule("E0007", "api-member-required", "A member the API's shape requires is missing (botocore's model), "
                "e.g. a create-connector-definition-version input without ConnectorDefinitionId.", API)
NO_CONNECTOR = rule("W0008", "no-connector", "The document holds no connector (`{}`, a create-connector-definition "
                    "input without InitialVersion): valid for the API, nothing for dadc to check. --strict makes this "
                    "an error.", API)

# which operation's shape a document is, by its keys (the first that matches)
KINDS: dict[str, tuple[str, str]] = {
    "get-connector-definition-version output": ("GetConnectorDefinitionVersion", "output"),
    "create-connector-definition-version input": ("CreateConnectorDefinitionVersion", "input"),
    "create-connector-definition input": ("CreateConnectorDefinition", "input"),
    "connector definition version": ("", "ConnectorDefinitionVersion"),
}
TYPES = {"string": str, "list": list, "map": dict, "structure": dict, "boolean": bool}
WORDS = {"string": "a string", "list": "an array", "map": "an object", "structure": "an object", "boolean": "a boolean"}


@lru_cache(maxsize=1)
def _model() -> Any:
    import botocore.session
    return botocore.session.get_session().get_service_model("greengrass")


def shape(kind: str) -> Any:
    operation, which = KINDS[kind]
    if not operation:
        return _model().shape_for(which)
    op = _model().operation_model(operation)
    return op.input_shape if which == "input" else op.output_shape


def _top_names() -> dict[str, str]:
    """Every top-level member name of the shapes a document may be -> its kind."""
    names: dict[str, str] = {}
    for kind in reversed(list(KINDS)):  # the first kind that has a name wins
        names.update({m: kind for m in shape(kind).members})
    return names


def kind_of(doc: dict[str, Any]) -> str | None:
    """The shape the document is: by its keys, then by a key that is almost one of them (a typo:
    `initialVersion`, `Connector`); None when nothing says (a bare Parameters object, `{}`)."""
    keys = set(doc)
    if "Definition" in keys:
        return "get-connector-definition-version output"
    if "ConnectorDefinitionId" in keys or {"Connectors", "AmznClientToken"} <= keys:
        return "create-connector-definition-version input"  # (a version input that lacks its id)
    if keys & {"InitialVersion", "Name", "tags", "AmznClientToken"}:
        return "create-connector-definition input"
    if "Connectors" in keys:
        return "connector definition version"
    names = _top_names()
    for key in sorted(keys):
        near = _nearest(key, list(names))
        if near and near != "Parameters":
            return names[near]
    return None


def _nearest(key: str, allowed: list[str]) -> str | None:
    by_lower = {a.lower(): a for a in allowed}
    return by_lower.get(key.lower()) or next(iter(difflib.get_close_matches(key, allowed, n=1, cutoff=0.75)), None)


def _rule_for(owner: str, member: str, problem: str) -> Any:
    """dadc's ids for what it checked before the model was read, kept; the model's for the rest."""
    if owner == "Connector" and problem == "required":
        return MEMBER
    if member == "Connectors" or owner == "__listOfConnector":
        return CONNECTORS
    if owner in ("CreateConnectorDefinitionRequest", "ConnectorDefinition") and member == "Name":
        return NAME
    if owner == "Connector" and member == "Parameters" or owner == "__mapOf__string":
        return PARAMS_SHAPE if owner == "Connector" else PARAMS_TYPE
    return {"required": REQUIRED, "type": MEMBER_TYPE, "unknown": UNKNOWN_KEY}[problem]


def check(doc: Any, kind: str) -> Iterator[Finding]:
    """The document against its shape, each problem located."""
    yield from _walk(doc, shape(kind), "", "", "")


def _walk(value: Any, sh: Any, pointer: str, owner: str, member: str) -> Iterator[Finding]:
    kind = sh.type_name
    wanted = TYPES.get(kind)
    if wanted is not None and (not isinstance(value, wanted) or (wanted is not bool and isinstance(value, bool))):
        where = f"{member} " if member else ""
        fix = f" (write {json_string(value)})" if kind == "string" and isinstance(value, (bool, int, float)) else ""
        yield _rule_for(owner, member, "type")(pointer, f"{where or 'the document '}must be {WORDS[kind]}, not "
                                                        f"{_kind_of(value)}{fix}".replace("  ", " "))
        return
    if kind == "structure":
        for name in sh.required_members:
            if name not in value:
                yield _rule_for(sh.name, name, "required")(pointer, f"{name} is required ({_where(sh.name)})")
        allowed = list(sh.members)
        for key, item in value.items():
            if key in sh.members:
                yield from _walk(item, sh.members[key], join(pointer, key), sh.name, key)
                continue
            near = _nearest(key, allowed)
            hint = f"; did you mean {near}?" if near else ""
            yield _rule_for(sh.name, key, "unknown")(join(pointer, key), f"unknown key {key!r} in {_where(sh.name)}: "
                                                                         f"one of {', '.join(allowed)}{hint}")
    elif kind == "list":
        for index, item in enumerate(value):
            yield from _walk(item, sh.member, join(pointer, index), sh.name, member)
    elif kind == "map":
        for key, item in value.items():
            yield from _walk(item, sh.value, join(pointer, key), sh.name, key)


def _where(shape_name: str) -> str:
    return {"CreateConnectorDefinitionRequest": "a create-connector-definition input",
            "CreateConnectorDefinitionVersionRequest": "a create-connector-definition-version input",
            "GetConnectorDefinitionVersionResponse": "a get-connector-definition-version output",
            "ConnectorDefinitionVersion": "a connector definition version", "Connector": "a connector"
            }.get(shape_name, shape_name)


def _kind_of(value: Any) -> str:
    return {bool: "a boolean", int: "a number", float: "a number", str: "a string", list: "an array", dict: "an object",
            type(None): "null"}.get(type(value), type(value).__name__)


def connectors_pointer(kind: str) -> str | None:
    return {"get-connector-definition-version output": "/Definition/Connectors",
            "create-connector-definition-version input": "/Connectors",
            "create-connector-definition input": "/InitialVersion/Connectors",
            "connector definition version": "/Connectors"}.get(kind)
