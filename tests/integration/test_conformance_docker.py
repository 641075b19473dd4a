"""The behaviour cases on the real engine of the test bed (the docker engine), with compose v2; the
compose-file and health scenarios also with the legacy v1 CLI. Each scenario at its newest
version, and the offline-fallback scenarios at every group of versions (versions 1-6 with the
option, as well as 7). The recorded engine, in the unit tests, runs every version of every
scenario; a contract test (test_fake_contract.py) holds its fakes to the real docker and compose;
and the versions' different sequences are observed on the engine by test_runtime.py. `dadc
conformance --engine docker [--one-per-group]` runs more here (about a quarter of an hour for all)."""
from __future__ import annotations

import pytest

from dadc.conformance import runner
from dadc.conformance.behaviour_cases import discover, one_per_group

def _chosen() -> list:  # type: ignore[type-arg]
    grouped = one_per_group(discover()[0])
    newest: dict[str, int] = {}
    for c in grouped:
        newest[c.name] = max(newest.get(c.name, 0), c.version)
    return [c for c in grouped if c.version == newest[c.name] or c.name.startswith("offline-fallback")]


CASES = _chosen()
V1_SCENARIOS = {c.scenario for c in CASES if c.scenario.startswith("compose-")} | {  # and recovery's (issue 18)
    "health-rollback", "health-one-shot", "health-digest-pin", "health-same-release", "health-pruned-image",
    "health-fallback-before", "reload-after-rollback", "rollback-history"}


@pytest.fixture(scope="module")
def docker_results(testbed_env: dict[str, str]) -> dict[str, runner.CaseResult]:
    return {r.case.id: r for r in runner.run("docker", compose_command=testbed_env["DADC_COMPOSE_V2"], per_group=True,
                                             ids={c.id for c in CASES})}


@pytest.fixture(scope="module")
def v1_results(testbed_env: dict[str, str]) -> dict[str, runner.CaseResult]:
    return {r.case.id: r for r in runner.run("docker", scenarios=V1_SCENARIOS, per_group=True,
                                             compose_command=testbed_env["DADC_COMPOSE_V1"], ids={c.id for c in CASES})}


@pytest.mark.parametrize("case_id", [c.id for c in CASES if c.applies_to(2)])
def test_case_on_the_real_engine(docker_results: dict[str, runner.CaseResult], case_id: str) -> None:
    result = docker_results[case_id]
    assert result.outcome == "pass", result.detail


@pytest.mark.parametrize("case_id", [c.id for c in CASES if c.scenario in V1_SCENARIOS and c.applies_to(1)])
def test_compose_case_with_the_v1_cli(v1_results: dict[str, runner.CaseResult], case_id: str) -> None:
    result = v1_results[case_id]
    assert result.outcome == "pass", result.detail
