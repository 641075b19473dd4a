"""JSON Schemas (draft 2020-12) generated from the parameter catalogue and profiles.

The generated files are committed under schemas/ for other tools; a test keeps them current.
"""
from __future__ import annotations

import json
import re
from typing import Any

from dadc import profiles

DRAFT = "https://json-schema.org/draft/2020-12/schema"
BASE = "https://dadc.dev/schemas/"


def _any_case(pattern: str) -> str:
    # The validator accepts booleans in any case (with a warning); ECMA regexes have no flags.
    return re.sub(r"[a-z]", lambda m: f"[{m[0].upper()}{m[0]}]", pattern)


def _up_to(maximum: int) -> str:
    """A regex for the numbers 0..maximum (no leading zeros), e.g. for a 32-bit UID."""
    digits = str(maximum)
    options = ["[0-9]"] + [f"[1-9][0-9]{{{n - 1}}}" for n in range(2, len(digits))]
    for i, d in enumerate(digits):  # same length: the same prefix, a smaller digit, anything after
        low = "1" if i == 0 and len(digits) > 1 else "0"
        if int(d) > int(low):
            rest = len(digits) - i - 1
            options.append(digits[:i] + (f"[{low}-{int(d) - 1}]" if int(d) - 1 > int(low) else
                                         f"[{low}]" if int(d) - 1 == int(low) else "") + (f"[0-9]{{{rest}}}" if rest else ""))
    options.append(digits)
    return "(?:" + "|".join(o for o in options if o) + ")"


def _number_pattern(p: profiles.Parameter) -> str:
    """The documented digits pattern and the maximum together: leading zeros count as digits."""
    digits = re.fullmatch(r"\^\[0-9\]\{1,(\d+)\}\$", p.pattern or "")
    assert digits and p.maximum is not None, p.name
    return f"^(?=[0-9]{{1,{digits[1]}}}$)0*{_up_to(p.maximum)}$"


def _secret_list_pattern(element: str) -> str:
    """The whole AWSSecretsArnList string: a JSON array of ARNs (written without JSON escapes)."""
    arn = element.strip("^$").replace("{6}", "+")
    arn = re.sub(r"\((?!\?)", "(?:", arn)  # no capture groups needed
    return rf'^\s*\[\s*(?:"{arn}"(?:\s*,\s*"{arn}")*)?\s*\]\s*$'


def _property(p: profiles.Parameter) -> dict[str, Any]:
    prop: dict[str, Any] = {"type": "string", "description": p.description,
                            "x-since-version": p.since}
    if p.default is not None:
        prop["default"] = p.default
    if p.kind == "secret-arn-list":
        assert p.element_pattern is not None
        prop["pattern"] = _secret_list_pattern(p.element_pattern)
        prop["contentMediaType"] = "application/json"
        prop["contentSchema"] = {"type": "array",
                                 "items": {"type": "string", "pattern": p.element_pattern.replace("{6}", "+")}}
    elif p.kind == "boolean" and p.pattern:
        prop["anyOf"] = [{"pattern": p.pattern},
                         {"pattern": _any_case(p.pattern), "deprecated": True,
                          "description": "another case than the documented pattern's: the runtime reads it, "
                                         "`dadc validate` warns (W3006)"}]
    elif p.maximum is not None:
        prop["pattern"] = _number_pattern(p)
        prop["x-maximum"] = p.maximum
    elif p.pattern:
        prop["pattern"] = p.pattern
    return prop


def parameters_schema(profile: profiles.Profile) -> dict[str, Any]:
    return {
        "$schema": DRAFT,
        "$id": f"{BASE}parameters-v{profile.version}.json",
        "title": f"DockerApplicationDeployment version {profile.version} Parameters",
        "type": "object",
        "properties": {p.name: _property(p) for p in profile.parameters},
        "required": [p.name for p in profile.parameters if p.required],
        "additionalProperties": False,
    }


def _arn_pattern(name: str) -> str:
    """Our connector's ARN: a partition, one of its regions, an empty account, a known version."""
    regions = "|".join(f"arn:{part}:greengrass:{region.strip('^$')}"
                       for part, region in profiles.settings()["partitions"].items())
    versions = "|".join(map(str, profiles.known_versions()))
    return f"^(?:{regions})::/connectors/{name}/versions/(?:{versions})$"


def definition_schema() -> dict[str, Any]:
    name = profiles.settings()["connector_name"]
    branches = [{
        "if": {"properties": {"ConnectorArn": {"pattern": f"/connectors/{name}/versions/"}}},
        "then": {"properties": {"ConnectorArn": {"pattern": _arn_pattern(name)}}},
    }] + [{
        "if": {"properties": {"ConnectorArn": {"pattern": f"/connectors/{name}/versions/{v}$"}}},
        "then": {"required": ["Parameters"], "properties": {"Parameters": {"$ref": f"parameters-v{v}.json"}}},
    } for v in profiles.known_versions()]
    return {
        "$schema": DRAFT,
        "$id": f"{BASE}connector-definition.json",
        "title": "Greengrass connector definition version (the value of --initial-version)",
        "type": "object",
        "required": ["Connectors"],
        "properties": {"Connectors": {
            "type": "array",
            # one DockerApplicationDeployment connector per definition (a group holds one version)
            "contains": {"type": "object", "required": ["ConnectorArn"],
                         "properties": {"ConnectorArn": {"type": "string", "pattern": f"/connectors/{name}/"}}},
            "minContains": 0, "maxContains": 1,
            "items": {
                "type": "object",
                "required": ["Id", "ConnectorArn"],
                "properties": {
                    "Id": {"type": "string", "maxLength": 128, "pattern": "^[a-zA-Z0-9:_-]+$"},
                    # any connector's ARN has this shape (rule E2001); ours is checked more closely below
                    "ConnectorArn": {"type": "string",
                                     "pattern": "^arn:[^:]*:greengrass:[^:]*:[^:]*:/connectors/[^/]+/versions/[^/]+$"},
                    "Parameters": {"type": "object", "additionalProperties": {"type": "string"}},
                },
                "allOf": branches,
            },
        }},
    }


def all_schemas() -> dict[str, str]:
    """File name -> text, exactly as committed under schemas/."""
    out = {f"parameters-v{p.version}.json": parameters_schema(p) for p in profiles.registry().values()}
    out["connector-definition.json"] = definition_schema()
    return {name: json.dumps(doc, indent=2) + "\n" for name, doc in out.items()}
