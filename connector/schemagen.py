"""JSON Schemas (draft 2020-12) generated from the parameter catalogue and profiles.

The generated files are committed under schemas/ for other tools; a test keeps them current.
"""
from __future__ import annotations

import json
import re
from typing import Any

from connector import profiles

DRAFT = "https://json-schema.org/draft/2020-12/schema"
BASE = "https://dadc.dev/schemas/"


def _any_case(pattern: str) -> str:
    # The validator accepts booleans in any case (with a warning); ECMA regexes have no flags.
    return re.sub(r"[a-z]", lambda m: f"[{m[0].upper()}{m[0]}]", pattern)


def _property(p: profiles.Parameter) -> dict[str, Any]:
    prop: dict[str, Any] = {"type": "string", "description": p.description,
                            "x-since-version": p.since}
    if p.default is not None:
        prop["default"] = p.default
    if p.kind == "secret-arn-list":
        prop["contentMediaType"] = "application/json"
        prop["contentSchema"] = {"type": "array",
                                 "items": {"type": "string", "pattern": p.element_pattern.replace("{6}", "+")}}
    elif p.pattern:
        prop["pattern"] = _any_case(p.pattern) if p.kind == "boolean" else p.pattern
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


def definition_schema() -> dict[str, Any]:
    name = profiles.settings()["connector_name"]
    branches = [{
        "if": {"properties": {"ConnectorArn": {"pattern": f"/connectors/{name}/versions/{v}$"}}},
        "then": {"required": ["Parameters"], "properties": {"Parameters": {"$ref": f"parameters-v{v}.json"}}},
    } for v in profiles.known_versions()]
    return {
        "$schema": DRAFT,
        "$id": f"{BASE}connector-definition.json",
        "title": "Greengrass connector definition version (the value of --initial-version)",
        "type": "object",
        "required": ["Connectors"],
        "properties": {"Connectors": {"type": "array", "items": {
            "type": "object",
            "required": ["Id", "ConnectorArn"],
            "properties": {
                "Id": {"type": "string", "maxLength": 128, "pattern": "^[a-zA-Z0-9:_-]+$"},
                "ConnectorArn": {"type": "string"},
                "Parameters": {"type": "object", "additionalProperties": {"type": "string"}},
            },
            "allOf": branches,
        }}},
    }


def all_schemas() -> dict[str, str]:
    """File name -> text, exactly as committed under schemas/."""
    out = {f"parameters-v{p.version}.json": parameters_schema(p) for p in profiles.registry().values()}
    out["connector-definition.json"] = definition_schema()
    return {name: json.dumps(doc, indent=2) + "\n" for name, doc in out.items()}
