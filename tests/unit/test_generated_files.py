"""Committed generated files are current, and the schemas agree with the validator."""
from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest

from connector import schemagen
from connector.validation import rulesdoc
from conformance.validation_cases import discover

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("name", sorted(schemagen.all_schemas()))
def test_schema_file_is_current(name: str) -> None:
    assert (ROOT / "schemas" / name).read_text() == schemagen.all_schemas()[name], "run scripts/gen-schemas"


def test_rules_doc_is_current() -> None:
    assert (ROOT / "docs" / "rules.md").read_text() == rulesdoc.render(), "run scripts/gen-docs"


def _registry() -> "jsonschema.protocols.Validator":
    from referencing import Registry, Resource
    resources = [(doc["$id"], Resource.from_contents(doc))
                 for doc in (json.loads(t) for t in schemagen.all_schemas().values())]
    registry = Registry().with_resources(resources)
    definition = json.loads(schemagen.all_schemas()["connector-definition.json"])
    return jsonschema.Draft202012Validator(definition, registry=registry)


@pytest.mark.parametrize("case", [c for c in discover() if "document" in c.spec and "version" not in c.spec
                                  and isinstance(c.spec["document"], dict) and "Connectors" in c.spec["document"]],
                         ids=lambda c: c.name)
def test_schema_agrees_on_parameter_errors(case) -> None:  # type: ignore[no-untyped-def]
    """Documents without parameter errors pass the schema; the E3xxx ones fail it."""
    schema_errors = list(_registry().iter_errors(case.spec["document"]))
    # contentSchema (the JSON inside AWSSecretsArnList) is an annotation in 2020-12, not an assertion
    param_errors = [e for e in case.spec["expected"] if e["rule"][:2] == "E3"]
    if param_errors:
        assert schema_errors, case.name
    elif not any(e["rule"][:2] in ("E1", "E2", "E0") or e["rule"] == "E4001" for e in case.spec["expected"]):
        assert not [e.message for e in schema_errors if "Parameters" in list(e.absolute_path)], case.name
