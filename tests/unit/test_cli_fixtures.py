"""The AWS CLI's own skeletons (tests/fixtures/cli/make: `--generate-cli-skeleton input|output` of
awscli), filled in by fill.py beside them: dadc takes each as the CLI would send or print it, and
refuses what botocore's ParamValidator refuses before any request is sent."""
from __future__ import annotations

import copy
import importlib.util
import json
from pathlib import Path
from typing import Any

import pytest
from botocore.validate import ParamValidator

from dadc.validation import apishape
from dadc.validation.engine import validate_bytes

HERE = Path(__file__).resolve().parents[1] / "fixtures" / "cli"
KINDS = {
    "create-connector-definition": "create-connector-definition input",
    "create-connector-definition-version": "create-connector-definition-version input",
    "get-connector-definition-version": "get-connector-definition-version output",
}


def _fill() -> Any:
    spec = importlib.util.spec_from_file_location("cli_fill", HERE / "fill.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.fill


@pytest.mark.parametrize("name", sorted(KINDS))
def test_the_filled_documents_are_the_skeletons_filled(name: str) -> None:
    """Each filled document is fill.py over the skeleton the CLI printed, with every member of it."""
    skeleton = json.loads((HERE / f"{name}.skeleton.json").read_text())
    filled = json.loads((HERE / f"{name}.json").read_text())
    assert filled == _fill()(skeleton)
    assert set(filled) == set(skeleton)


@pytest.mark.parametrize("name", sorted(KINDS))
def test_dadc_takes_the_clis_documents(name: str) -> None:
    raw = (HERE / f"{name}.json").read_bytes()
    doc = json.loads(raw)
    assert apishape.kind_of(doc) == KINDS[name]
    result = validate_bytes(name, raw)
    assert result.errors == 0 and result.warnings == 0 and not result.fatal, [f.message for f in result.findings]
    assert not ParamValidator().validate(doc, apishape.shape(KINDS[name])).has_errors()


def _mutations(doc: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """Ordinary mistakes in a document the CLI would take: a misspelt member, a wrong type, a missing
    required member, an extra key in a connector."""
    out = []
    top = next(k for k in doc if k not in ("AmznClientToken", "tags"))
    misspelt = {(k[0].lower() + k[1:] if k == top else k): v for k, v in doc.items()}
    out.append(("a misspelt member", misspelt))
    wrong = copy.deepcopy(doc)
    wrong[next(k for k, v in doc.items() if isinstance(v, str))] = 5
    out.append(("a number for a string", wrong))
    extra = copy.deepcopy(doc)
    connectors = extra.get("Connectors") or (extra.get("InitialVersion") or extra.get("Definition"))["Connectors"]
    connectors[0]["Parameter"] = {}
    out.append(("an unknown key in a connector", extra))
    return out


@pytest.mark.parametrize("name", sorted(KINDS))
def test_dadc_refuses_what_botocore_refuses_in_them(name: str) -> None:
    doc = json.loads((HERE / f"{name}.json").read_text())
    for what, bad in _mutations(doc):
        boto = ParamValidator().validate(bad, apishape.shape(KINDS[name]))
        result = validate_bytes(name, json.dumps(bad, indent=2).encode())
        assert boto.has_errors(), what
        assert result.errors > 0 and not result.fatal, (what, [f.message for f in result.findings])
        assert all(f.line > 0 and f.column > 0 for f in result.findings)
