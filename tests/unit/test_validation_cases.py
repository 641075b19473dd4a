"""Data-driven validation cases (conformance/cases/validation), one test each."""
from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest

from dadc.conformance.validation_cases import ValidationCase, cases_dir, discover

CASES = discover()
SCHEMA = json.loads((cases_dir().parent / "validation.schema.json").read_text())


def test_there_are_cases_for_every_version() -> None:
    names = {c.name for c in CASES}
    assert {f"v{v}-minimal-valid" for v in range(1, 7)} <= names
    assert len(CASES) >= 50


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_case_file_matches_schema(case: ValidationCase) -> None:
    jsonschema.validate(case.spec, SCHEMA)


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_validation_case(case: ValidationCase) -> None:
    assert case.run() == []


def test_an_edited_expectation_fails(tmp_path: Path) -> None:
    """The case runner can fail: drop one expected finding and the case reports it."""
    case = next(c for c in CASES if c.name == "v1-force-deploy-unknown")
    edited = ValidationCase(case.name, dict(case.spec, expected=[], exit=0))
    problems = edited.run()
    assert any("E3004" in p for p in problems) and any("exit 1" in p for p in problems)
