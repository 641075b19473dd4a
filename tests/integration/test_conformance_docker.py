"""The behaviour cases on the real engine of the test bed (the docker engine), with compose v2; some
compose-file scenarios and a rollback's also with the legacy v1 CLI. CI runs one scenario of each
family at its newest version: every compose-file scenario (what compose itself accepts and
refuses), a first deploy, a changed redeploy, a stop, each registry (private, ECR, a failed pull), a failed
up, ForceDeploy's cleanup, a definition on S3, the offline mode and the offline fallback, and the
health gate (up fails, rollback, no good release, a pruned image, a one-shot, a reload after a
rollback, the history); login retries, S3 unreachable and a restart after a stop are
test_runtime.py's on the real engine. The recorded engine, in the
unit tests, runs every version of every scenario (229 cases); a contract test
(test_fake_contract.py) holds its fakes to the real docker and compose; the versions' different
sequences are observed on the engine by test_runtime.py, and the recovery's faults by
test_recovery_faults.py. `dadc conformance --engine docker` runs every scenario here (about a
quarter of an hour for all, 8 minutes for the newest version of each): CI keeps to these to stay
well within its time."""
from __future__ import annotations

import pytest

from dadc.conformance import runner
from dadc.conformance.behaviour_cases import discover, one_per_group

FAMILIES = {"first-deploy", "redeploy-changed", "stop", "private-registry-login", "ecr-login",
            "pull-failure", "up-fails", "cleanup-failure-force-deploy", "definition-on-s3",
            "invalid-compose", "invalid-parameters", "offline-mode", "offline-mode-private-secret",
            "offline-fallback-option", "health-up-fails", "health-rollback",
            "health-pruned-image", "health-one-shot", "health-no-previous-good", "reload-after-rollback",
            "rollback-history"}


def _chosen() -> list:  # type: ignore[type-arg]
    grouped = one_per_group(discover()[0])
    newest: dict[str, int] = {}
    for c in grouped:
        newest[c.name] = max(newest.get(c.name, 0), c.version)
    return [c for c in grouped if c.version == newest[c.name] and (c.name in FAMILIES or c.name.startswith("compose-"))]


CASES = _chosen()
V1_SCENARIOS = {"compose-build-and-image", "compose-profiles", "compose-include-refused", "rollback-history"}


def test_every_family_named_is_a_scenario() -> None:
    names = {c.name for c in discover()[0]}
    assert FAMILIES <= names and V1_SCENARIOS <= names, (FAMILIES | V1_SCENARIOS) - names


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
