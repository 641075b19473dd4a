"""The planner is pure: profile x parameters x observed state -> steps."""
from __future__ import annotations

import pytest

from dadc import profiles
from dadc.plan import Observed, plan_start, plan_stop

FIRST = Observed(previous_file=False, project_running=False)
AGAIN = Observed(previous_file=True, project_running=True)
ORPHANS = Observed(previous_file=False, project_running=True)


COMPOSE_LEVEL = {"remove": "force-remove"}  # the removal by label, as the earlier planner called it
FILES = {"incoming": "new"}


def actions(steps: list) -> list[str]:  # type: ignore[type-arg]
    """The compose-level actions; install always comes right before up, and every start begins
    with fetch then login (both checked here)."""
    names = [s.kind for s in steps]
    if "up" in names:
        assert names[names.index("up") - 2:names.index("up")] == ["install", "verify"], names
    if "fetch" in names:
        assert names[:2] == ["fetch", "login"], names
        assert names[-2:] == ["publish", "record"], names  # the status first, then the bookkeeping
    return [COMPOSE_LEVEL.get(n, n) for n in names
            if n not in ("install", "verify", "fetch", "login", "publish", "record")]


@pytest.mark.parametrize(("version", "first", "again"), [
    (1, ["up"], ["down", "up"]), (3, ["up"], ["down", "up"]), (4, ["pull", "up"], ["down", "pull", "up"]),
    (5, ["pull", "up"], ["pull", "down", "up"]), (6, ["pull", "up"], ["pull", "down", "up"]),
])
def test_first_deploy_and_redeploy(version: int, first: list[str], again: list[str]) -> None:
    profile = profiles.get(version)
    assert actions(plan_start(profile, {}, FIRST)) == first
    assert actions(plan_start(profile, {}, AGAIN)) == again


def test_down_uses_the_previous_file_and_pull_the_new_one() -> None:
    steps = [s for s in plan_start(profiles.get(5), {}, AGAIN) if s.kind not in ("fetch", "login", "publish", "record")]
    assert [(s.kind, FILES.get(s.file, s.file)) for s in steps] == [("pull", "new"), ("down", "current"),
                                                                    ("install", "new"), ("verify", "current"),
                                                                    ("up", "current")]


def test_v6_flags() -> None:
    v6 = profiles.get(6)
    assert actions(plan_start(v6, {"DockerPullBeforeUp": "false"}, AGAIN)) == ["down", "up"]
    assert actions(plan_start(v6, {"StopContainersOnNewDeployment": "false"}, AGAIN)) == ["pull", "up"]
    assert actions(plan_stop(v6, {"StopContainersOnNewDeployment": "False"}, AGAIN)) == []
    assert actions(plan_stop(v6, {}, AGAIN)) == ["down"]


def test_v5_ignores_a_v6_flag_it_does_not_have() -> None:
    assert actions(plan_stop(profiles.get(5), {"StopContainersOnNewDeployment": "false"}, AGAIN)) == ["down"]


@pytest.mark.parametrize("version", [1, 2, 3, 4, 5])
def test_stop_always_downs_before_v6(version: int) -> None:
    assert actions(plan_stop(profiles.get(version), {}, AGAIN)) == ["down"]
    assert actions(plan_stop(profiles.get(version), {}, FIRST)) == []


def test_orphans_without_a_file_need_force_deploy() -> None:
    assert actions(plan_start(profiles.get(1), {}, ORPHANS)) == ["abort", "up"]
    assert "ForceDeploy" not in plan_start(profiles.get(1), {}, ORPHANS)[2].refusal  # v1 has no ForceDeploy
    step = plan_start(profiles.get(2), {}, ORPHANS)[2]
    assert step.kind == "abort" and "set ForceDeploy" in step.refusal
    assert actions(plan_start(profiles.get(2), {"ForceDeploy": "true"}, ORPHANS)) == ["force-remove", "up"]
    assert actions(plan_start(profiles.get(5), {"ForceDeploy": "True"}, ORPHANS)) == ["pull", "force-remove", "up"]


@pytest.mark.parametrize("version", profiles.known_versions())
@pytest.mark.parametrize("variant", ["plain", "health-gate", "offline-fallback", "rollback-to"])
def test_the_plan_is_the_golden_one(version: int, variant: str) -> None:
    """Every planner change shows as a diff of tests/unit/golden/ (scripts/gen-golden-plans)."""
    import json

    from tests.unit import golden_plans
    expected = golden_plans.path(version, variant)
    assert expected.is_file(), "run scripts/gen-golden-plans"
    assert golden_plans.render(version, variant) == json.loads(expected.read_text()), \
        f"the plan of v{version} {variant} changed: run scripts/gen-golden-plans and review the diff"
