"""Every behaviour case on the real engine of the test bed (the docker engine)."""
from __future__ import annotations

import pytest

from conformance import runner
from conformance.behaviour_cases import discover

CASES = discover()[0]


@pytest.fixture(scope="module")
def docker_results(testbed_env: dict[str, str]) -> dict[str, runner.CaseResult]:
    return {r.case.id: r for r in runner.run("docker")}


@pytest.mark.parametrize("case_id", [c.id for c in CASES])
def test_case_on_the_real_engine(docker_results: dict[str, runner.CaseResult], case_id: str) -> None:
    result = docker_results[case_id]
    assert result.outcome == "pass", result.detail
