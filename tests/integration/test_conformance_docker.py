"""The behaviour cases on the real engine of the test bed (the docker engine), one version per
group of versions that share an expectation (the recorded engine, in the unit tests, runs every
version; `dadc conformance --engine docker` runs them all here too, in about a quarter of an
hour), with compose v2; the compose-file and health scenarios also with the legacy v1 CLI."""
from __future__ import annotations

import pytest

from conformance import runner
from conformance.behaviour_cases import discover, one_per_group

CASES = one_per_group(discover()[0])
V1_SCENARIOS = {c.scenario for c in CASES if c.scenario.startswith("compose-")} | {
    "health-rollback", "health-one-shot", "health-digest-pin", "health-same-release"}


@pytest.fixture(scope="module")
def docker_results(testbed_env: dict[str, str]) -> dict[str, runner.CaseResult]:
    return {r.case.id: r for r in runner.run("docker", compose_command=testbed_env["DADC_COMPOSE_V2"], per_group=True)}


@pytest.fixture(scope="module")
def v1_results(testbed_env: dict[str, str]) -> dict[str, runner.CaseResult]:
    return {r.case.id: r for r in runner.run("docker", scenarios=V1_SCENARIOS, per_group=True,
                                             compose_command=testbed_env["DADC_COMPOSE_V1"])}


@pytest.mark.parametrize("case_id", [c.id for c in CASES if c.applies_to(2)])
def test_case_on_the_real_engine(docker_results: dict[str, runner.CaseResult], case_id: str) -> None:
    result = docker_results[case_id]
    assert result.outcome == "pass", result.detail


@pytest.mark.parametrize("case_id", [c.id for c in CASES if c.scenario in V1_SCENARIOS and c.applies_to(1)])
def test_compose_case_with_the_v1_cli(v1_results: dict[str, runner.CaseResult], case_id: str) -> None:
    result = v1_results[case_id]
    assert result.outcome == "pass", result.detail
