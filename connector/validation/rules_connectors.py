"""Document shape, connector entries and connector ARNs."""
from __future__ import annotations

import re
from typing import Any, Iterator

from dadc import arn, profiles
from dadc.validation.findings import Finding, rule, quoted
from dadc.validation.positions import join

API = "https://docs.aws.amazon.com/greengrass/v1/apireference/definitions-connector.html"
SHAPE = rule("E0003", "document-shape",
             "The document is not a connector definition version, a create-connector-definition "
             "input, or a Parameters object.", API)
CONNECTORS = rule("E1001", "connectors-shape", "Connectors must be an array of objects.", API)
MEMBER = rule("E1002", "connector-member-missing", "Each connector needs Id and ConnectorArn.", API)
ID_INVALID = rule("E1003", "connector-id-invalid",
                  "Id is a string of at most 128 characters of [a-zA-Z0-9:_-].", API)
ID_DUPLICATE = rule("E1004", "connector-id-duplicate", "Id is unique within a definition.", API)
SINGLE = rule("E1005", "connector-single",
              "A group holds one version of a connector: one DockerApplicationDeployment per definition.",
              "https://docs.aws.amazon.com/greengrass/v1/developerguide/connectors.html")
OTHER = rule("I1006", "other-connector", "A connector other than DockerApplicationDeployment is not checked.")
NEAR_MISS = rule("W1008", "connector-name-near-miss",
                 "A connector name that is almost DockerApplicationDeployment (a typo, another case) names no connector "
                 "the service knows; none of this connector's checks ran.", API)
NAME = rule("E1007", "definition-name", "A create-connector-definition input's Name is a string.", API)
ARN_SYNTAX = rule("E2001", "arn-syntax", "ConnectorArn is arn:<partition>:greengrass:<region>::/connectors/<Name>/versions/<N>.")
ARN_PARTITION = rule("E2002", "arn-partition", "The ARN's partition is aws, aws-cn or aws-us-gov.")
ARN_REGION = rule("E2003", "arn-region", "The ARN's region is a real region of its partition, not the placeholder 'region'.")
ARN_VERSION = rule("E2004", "arn-version", f"The ARN names a version that exists ({profiles.versions_text()}), written as the service writes it (7, not 07).")
ARN_ACCOUNT = rule("E2005", "arn-account", "Connector ARNs leave the account field empty.")

_ARN_RULES = {"syntax": ARN_SYNTAX, "partition": ARN_PARTITION, "region": ARN_REGION,
              "version": ARN_VERSION, "account": ARN_ACCOUNT, "connector": ARN_SYNTAX}
_ID = re.compile(r"[a-zA-Z0-9:_-]+")
_VERSION_HINT = re.compile(r"/versions/(\d+)$")


def _near_miss(carn: str) -> str | None:
    """The connector name in an ARN, when it is almost ours (same letters in another case, or a typo)."""
    import difflib
    name = carn.split("/connectors/", 1)[1].split("/")[0]
    ours = profiles.settings()["connector_name"]
    close = name.lower() == ours.lower() or difflib.SequenceMatcher(None, name.lower(), ours.lower()).ratio() >= 0.85
    return name if close else None


def connectors_pointer(data: Any) -> tuple[str | None, list[Finding]]:
    """Where the Connectors array is, for each accepted document shape."""
    if not isinstance(data, dict):
        return None, [SHAPE("", "the document must be a JSON object")]
    if "InitialVersion" in data:
        found = [] if isinstance(data.get("Name"), str) else [NAME("", "Name must be a string")]
        inner = data["InitialVersion"]
        if not isinstance(inner, dict) or "Connectors" not in inner:
            return None, found + [SHAPE("/InitialVersion", "InitialVersion must hold Connectors")]
        return "/InitialVersion/Connectors", found
    for wrapper in ("Definition",):  # get-connector-definition-version output
        if isinstance(data.get(wrapper), dict) and "Connectors" in data[wrapper]:
            return f"/{wrapper}/Connectors", []
    if "Connectors" in data:
        return "/Connectors", []
    return None, []


def connectors_at(data: Any, pointer: str) -> Any:
    """The value at a pointer that connectors_pointer returned (its tokens need no unescaping)."""
    value = data
    for token in pointer.strip("/").split("/"):
        value = value[token]
    return value


def check_connector_list(connectors: Any, pointer: str, shapes: bool = True) -> Iterator[Finding]:
    """The connectors' Ids, ARNs and count; shapes: also their shapes (a template's; a JSON
    document's shapes are botocore's model's to judge, validation/apishape.py)."""
    if not isinstance(connectors, list):
        if shapes:
            yield CONNECTORS(pointer, "Connectors must be an array")
        return
    seen: dict[str, int] = {}
    ours = 0
    for index, entry in enumerate(connectors):
        here = join(pointer, index)
        if not isinstance(entry, dict):
            if shapes:
                yield CONNECTORS(here, "each connector must be an object")
            continue
        for member in ("Id", "ConnectorArn") if shapes else ():
            if member not in entry:
                yield MEMBER(here, f"connector has no {member}")
        cid = entry.get("Id")
        if "Id" in entry:
            if not isinstance(cid, str) and not shapes:
                pass  # its type is the API shape's to judge
            elif not isinstance(cid, str) or len(cid) > 128 or not _ID.fullmatch(cid):
                yield ID_INVALID(join(here, "Id"),
                                 f"Id {quoted(cid)} must be 1-128 characters of [a-zA-Z0-9:_-]")
            elif cid in seen:
                yield ID_DUPLICATE(join(here, "Id"), f"Id {quoted(cid)} is already used by connector {seen[cid]}")
            else:
                seen[cid] = index
        carn = entry.get("ConnectorArn")
        if isinstance(carn, str) and "/connectors/" not in carn:
            yield ARN_SYNTAX(join(here, "ConnectorArn"), f"{quoted(carn)} is not a connector ARN")
        elif isinstance(carn, str) and not arn.is_this_connector(carn):
            guess = _near_miss(carn)
            if guess:
                yield NEAR_MISS(join(here, "ConnectorArn"), f"connector {quoted(guess)} is not {profiles.settings()['connector_name']}"
                                f"; did you mean {profiles.settings()['connector_name']}? (nothing else was checked)")
            else:
                yield OTHER(join(here, "ConnectorArn"), f"{carn} is another connector; not checked")
        elif isinstance(carn, str):
            ours += 1
            if ours == 2:
                yield SINGLE(here, "a second DockerApplicationDeployment connector; a group holds one")
        elif "ConnectorArn" in entry and shapes:
            yield ARN_SYNTAX(join(here, "ConnectorArn"), "ConnectorArn must be a string")


def check_arn(value: str, pointer: str) -> tuple[arn.ConnectorRef | None, list[Finding]]:
    """The connector's reference (version at least, when readable) and the ARN's findings."""
    try:
        return arn.parse_connector_arn(value), []
    except arn.ArnError as exc:
        finding = _ARN_RULES[exc.reason](pointer, exc.message)
        hint = _VERSION_HINT.search(value)
        if exc.reason in ("version", "syntax") or not hint or int(hint[1]) not in profiles.known_versions():
            return None, [finding]
        return arn.ConnectorRef(int(hint[1])), [finding]
