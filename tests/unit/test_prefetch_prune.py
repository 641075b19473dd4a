"""--prefetch and --prune-images as the planner places them, and which images a prune may take."""
from __future__ import annotations

import pytest

from dadc import profiles
from dadc.domain.images import LocalImage, prunable, repository
from dadc.plan import Observed, PlanOptions, plan_start
from dadc.runtime.seams.docker import human_bytes
from dadc.steps import Fallback, Guard, Kind

AGAIN = Observed(previous_file=True, project_running=True)
ORPHANS = Observed(previous_file=False, project_running=True)
FIRST = Observed(previous_file=False, project_running=False)
ON = PlanOptions(prefetch=True)


def kinds(steps: list) -> list[str]:  # type: ignore[type-arg]
    return [str(s.kind) for s in steps]


# (version, parameters, the actions around the stop, whether prefetch pulls only what the engine lacks)
CASES = [
    (1, {}, ["login", "prefetch", "down", "install"], True),  # up pulls only what is missing
    (3, {}, ["login", "prefetch", "down", "install"], True),
    (4, {}, ["login", "prefetch", "down", "pull"], False),  # the version pulls every image after the stop
    (5, {"DockerPullBeforeUp": "false"}, ["login", "prefetch", "down", "install"], True),
    (7, {"DockerPullBeforeUp": "false"}, ["login", "prefetch", "down", "install"], True),
]


@pytest.mark.parametrize(("version", "params", "around", "only_missing"), CASES)
def test_prefetch_comes_right_before_the_stop(version: int, params: dict[str, str], around: list[str],
                                               only_missing: bool) -> None:
    steps = plan_start(profiles.get(version), params, AGAIN, ON)
    names = kinds(steps)
    i = names.index("prefetch")
    assert names[i - 1:i + 3] == around
    prefetch = steps[i]
    assert (prefetch.guard == Guard.ONLY_MISSING) is only_missing
    assert prefetch.origin == "--prefetch" and not prefetch.on_fail  # nothing is stopped yet: no recovery
    assert kinds(plan_start(profiles.get(version), params, AGAIN)) == [n for n in names if n != "prefetch"]


@pytest.mark.parametrize("version", [5, 6, 7])
def test_no_prefetch_where_the_version_already_pulls_before_the_stop(version: int) -> None:
    assert "prefetch" not in kinds(plan_start(profiles.get(version), {"DockerPullBeforeUp": "true"}, AGAIN, ON))


def test_no_second_prefetch_after_the_old_connectors_stop() -> None:
    """A new deployment's prefetch ran in its own child before the old stop sequence."""
    assert "prefetch" not in kinds(plan_start(profiles.get(4), {}, AGAIN, PlanOptions(prefetch=True, after_stop=True)))


def test_no_prefetch_when_nothing_would_be_stopped() -> None:
    assert "prefetch" not in kinds(plan_start(profiles.get(4), {}, FIRST, ON))
    # v6 and v7 without StopContainersOnNewDeployment: no stop before up (up replaces what changed)
    assert "prefetch" not in kinds(plan_start(profiles.get(6), {"StopContainersOnNewDeployment": "false"}, AGAIN, ON))


def test_prefetch_protects_containers_left_without_their_file_too() -> None:
    names = kinds(plan_start(profiles.get(4), {"ForceDeploy": "true"}, ORPHANS, ON))
    assert names.index("prefetch") + 1 == names.index("remove")


def test_prefetch_carries_the_later_pulls_fallback() -> None:
    """v4 with --offline-fallback: the pull after the stop may stand on local images, so may the prefetch."""
    steps = plan_start(profiles.get(4), {}, AGAIN, PlanOptions(prefetch=True, offline_fallback=True))
    prefetch, pull = (next(s for s in steps if s.kind == k) for k in (Kind.PREFETCH, Kind.PULL))
    assert prefetch.fallback == pull.fallback == Fallback.LOCAL_IMAGES
    assert prefetch.stand_in == pull.stand_in
    plain = next(s for s in plan_start(profiles.get(4), {}, AGAIN, ON) if s.kind == Kind.PREFETCH)
    assert plain.fallback == Fallback.NONE


def test_prune_comes_last_and_only_logs_its_failure() -> None:
    steps = plan_start(profiles.get(7), {}, AGAIN, PlanOptions(prune_images=True))
    assert kinds(steps)[-3:] == ["publish", "record", "prune-images"]
    assert steps[-1].fallback == Fallback.LOG
    assert "prune-images" not in kinds(plan_start(profiles.get(7), {}, AGAIN))


@pytest.mark.parametrize(("ref", "repo"), [
    ("busybox", "docker.io/library/busybox"), ("busybox:1", "docker.io/library/busybox"),
    ("docker.io/library/busybox:1", "docker.io/library/busybox"), ("acme/app:2", "docker.io/acme/app"),
    ("127.0.0.1:5000/dadc/app:3", "127.0.0.1:5000/dadc/app"),
    ("127.0.0.1:5000/dadc/app@sha256:" + "a" * 64, "127.0.0.1:5000/dadc/app"),
    ("localhost/app:1", "localhost/app"),
])
def test_repository_is_named_as_the_engine_names_it(ref: str, repo: str) -> None:
    assert repository(ref) == repo


def image(i: str, *refs: str) -> LocalImage:
    return LocalImage(f"sha256:{i}", tuple(r for r in refs if "@" not in r), tuple(r for r in refs if "@" in r))


def test_prunable_takes_only_the_projects_images_that_nothing_needs() -> None:
    ours = {"reg:5000/app", "docker.io/library/redis"}
    old = image("1", "reg:5000/app:1")
    dangling_ours = image("2", "reg:5000/app@sha256:" + "b" * 64)  # a tag moved on; its digest remains
    recorded = image("3", "reg:5000/app:2")
    running = image("4", "redis:6")
    shared = image("5", "reg:5000/app:0", "other/tool:1")  # tagged for another repository too
    foreign = image("6", "other/tool:2")
    nameless = image("7")  # a dangling build: nobody's to judge here
    hub = image("8", "docker.io/library/redis:5")
    local = [old, dangling_ours, recorded, running, shared, foreign, nameless, hub]
    got = prunable(local, ours, keep={recorded.id}, in_use={running.id})
    assert got == [old, dangling_ours, hub]


@pytest.mark.parametrize(("text", "value"), [("1.982MB", 1982000), ("0B", 0), ("311B", 311), ("4.5kB", 4500),
                                             ("1.2GB", 1200000000), ("n/a", None)])
def test_sizes_read_as_docker_prints_them(text: str, value: int | None) -> None:
    assert human_bytes(text) == value


@pytest.mark.parametrize(("version", "params", "only_missing"), [
    (1, {}, True), (4, {}, False), (5, {"DockerPullBeforeUp": "true"}, False), (7, {"DockerPullBeforeUp": "false"}, True),
])
def test_a_new_deployments_prefetch_runs_before_the_old_stop_and_touches_nothing(
        version: int, params: dict[str, str], only_missing: bool) -> None:
    """A changed definition stops the old connector first; its prefetch child fetches, logs in and
    pulls what the new start will pull (a pull before its own down is after that stop now)."""
    from dadc.plan import plan_prefetch
    steps = plan_prefetch(profiles.get(version), params, PlanOptions(prefetch=True, prefetch_only=True,
                                                                     health_gate=30, prune_images=True))
    assert kinds(steps) == ["fetch", "login", "prefetch"]
    assert (steps[-1].guard == Guard.ONLY_MISSING) is only_missing
    assert not any(step.on_fail for step in steps)


def test_prune_is_never_part_of_a_recovery() -> None:
    def walk(steps):  # type: ignore[no-untyped-def]
        for step in steps:
            yield step
            yield from walk(step.on_fail)
    steps = plan_start(profiles.get(7), {}, Observed(True, True, last_good=True),
                       PlanOptions(prune_images=True, health_gate=30))
    assert [s for s in walk(steps) if s.kind == Kind.PRUNE] == [steps[-1]]


@pytest.mark.parametrize("version", [1, 4, 5, 7])
def test_after_the_old_connectors_stop_every_step_carries_the_recovery(version: int) -> None:
    """A new deployment: the old stop sequence took the previous release down, so a failed fetch,
    login or pull brings it back (with the gate); without the gate nothing is added."""
    observed = Observed(previous_file=True, project_running=False, last_good=True)
    gated = PlanOptions(health_gate=30, after_stop=True)
    steps = plan_start(profiles.get(version), {}, observed, gated)
    for step in steps[:-2]:  # all but publish and record (and the new down: its own fallback, as before)
        if step.kind == Kind.DOWN:
            continue
        assert step.on_fail and step.on_fail[-1].kind == Kind.FAIL, step.kind
    before = plan_start(profiles.get(version), {}, observed, PlanOptions(health_gate=30))
    assert not before[0].on_fail and not before[1].on_fail  # a plain start: fetch and login come before its down
    assert not any(s.on_fail for s in plan_start(profiles.get(version), {}, observed, PlanOptions(after_stop=True)))
