"""The health gate's judgement and the planner's gate: pure, on made-up engine states."""
from __future__ import annotations


import pytest

from dadc import profiles
from dadc.plan import Observed, PlanOptions, plan_start
from dadc.steps import BeforeCurrent, LastGood, PreviousGood, Ref
from dadc.runtime import health
from dadc.runtime.seams.docker import ContainerState


def c(service: str, status: str = "running", health_: str = "none", restarts: int = 0, n: int = 1,
      code: int = 0, restart: str = "no", max_retries: int = 0) -> ContainerState:
    return ContainerState(f"{service}{n}", f"p-{service}-{n}", service, status, health_, code, restarts, "sha256:x", "img",
                          restart, max_retries)


@pytest.mark.parametrize(("states", "failure", "waiting"), [
    ([c("web"), c("db", health_="healthy")], "", ""),
    ([c("web", health_="starting")], "", "health starting"),
    ([c("web", status="created")], "", "is created"),
    ([c("web", health_="unhealthy")], "is unhealthy", ""),
    ([c("web", status="exited", code=3)], "exited with code 3", ""),
    ([c("web", status="restarting", restarts=1)], "restarted", ""),
    ([], "", "0 of 1 containers"),
    ([c("web"), c("web", n=2)], "", ""),
])
def test_judge(states: list[ContainerState], failure: str, waiting: str) -> None:
    expected = {"web": 2 if len(states) == 2 and states[0].service == states[1].service else 1}
    if any(s.service == "db" for s in states):
        expected["db"] = 1
    got_failure, got_waiting = health.judge(states, expected, {})
    assert (failure in got_failure) and bool(got_failure) == bool(failure)
    assert (waiting in got_waiting) and bool(got_waiting) == bool(waiting)


@pytest.mark.parametrize(("state", "failure", "waiting"), [
    (c("migrate", status="exited", code=0), "", ""),  # a one-shot that completed
    (c("migrate", status="exited", code=0, restart="on-failure"), "", ""),
    (c("migrate", status="exited", code=0, restart="always"), "exited with code 0", ""),  # it should be up
    (c("migrate", status="exited", code=2), "exited with code 2", ""),
])
def test_a_one_shot_that_exited_0_is_complete_as_compose_sees_it(state: ContainerState, failure: str,
                                                                  waiting: str) -> None:
    got_failure, got_waiting = health.judge([c("web"), state], {"web": 1, "migrate": 1}, {})
    assert (failure in got_failure) and bool(got_failure) == bool(failure)
    assert got_waiting == waiting


def test_a_service_others_wait_on_must_complete() -> None:
    """depends_on: {migrate: {condition: service_completed_successfully}}: awaited while it runs."""
    one_shots = frozenset({"migrate"})
    assert "has not completed yet" in health.judge([c("web"), c("migrate")], {"web": 1, "migrate": 1}, {},
                                                   one_shots)[1]
    assert health.judge([c("web"), c("migrate", status="exited")], {"web": 1, "migrate": 1}, {}, one_shots) == ("", "")
    assert "exited with code 1" in health.judge([c("migrate", status="exited", code=1)], {"migrate": 1}, {},
                                                one_shots)[0]


def test_replicas_count() -> None:
    assert "1 of 2 containers" in health.judge([c("web")], {"web": 2}, {})[1]


def test_a_restart_after_the_first_look_fails_the_gate() -> None:
    seen: dict[str, int] = {}
    assert health.judge([c("web", restarts=2)], {"web": 1}, seen) == ("", "")  # restarts before the gate
    assert "restarted (3 restarts" in health.judge([c("web", restarts=3)], {"web": 1}, seen)[0]


class Engine:
    """States that change as the virtual clock moves: (from time, states)."""

    def __init__(self, timeline: list[tuple[float, list[ContainerState]]]) -> None:
        self.timeline, self.now = timeline, 0.0

    def states(self, project: str) -> list[ContainerState]:
        return [s for t, s in self.timeline if t <= self.now][-1]

    def pause(self, seconds: float) -> None:
        self.now += seconds


def run_gate(engine: Engine, timeout: float = 30, stable: float = 5) -> health.Verdict:
    return health.gate(engine, "p", {"web": 1}, timeout, stable, lambda: engine.now, engine.pause)  # type: ignore[arg-type]


def test_the_gate_waits_for_health_then_for_stability() -> None:
    engine = Engine([(0, [c("web", health_="starting")]), (3, [c("web", health_="healthy")])])
    assert run_gate(engine).ok and engine.now >= 8  # healthy at 3, stable until 8


def test_a_crash_during_the_stability_period_fails_it() -> None:
    engine = Engine([(0, [c("web")]), (2, [c("web", restarts=1)])])
    verdict = run_gate(engine)
    assert not verdict.ok and "restarted" in verdict.reason and engine.now < 5


def test_never_healthy_within_the_gate() -> None:
    verdict = run_gate(Engine([(0, [c("web", health_="starting")])]), timeout=10)
    assert not verdict.ok and "health starting" in verdict.reason


def test_ready_too_late_to_be_stable_within_the_gate() -> None:
    engine = Engine([(0, [c("web", status="created")]), (8, [c("web")])])
    verdict = run_gate(engine, timeout=10, stable=5)
    assert not verdict.ok and "not stable for 5 s within the 10 s gate" in verdict.reason


OPTS = PlanOptions(health_gate=30.0, health_stable=5.0)
RECOVER = ["choose", "down", "remove", "pin", "restore", "up", "check-images", "gate"]


def test_the_planner_adds_the_gate_and_its_fallback_only_when_asked() -> None:
    v6 = profiles.get(6)
    assert [s.kind for s in plan_start(v6, {}, Observed(True, True))][-2:] == ["publish", "record"]
    assert "gate" not in [s.kind for s in plan_start(v6, {}, Observed(True, True))]  # off by default
    steps = plan_start(v6, {}, Observed(True, True, last_good=True), OPTS)
    gate = next(s for s in steps if s.kind == "gate")
    assert (gate.timeout, gate.stable, gate.origin) == (30.0, 5.0, "--health-gate")
    # the recovery is planned in full: keep the failed release, bring the last good one back, gated, then fail
    assert [r.kind for r in gate.on_fail] == ["keep-failed"] + RECOVER + ["fail"]
    assert gate.on_fail[0].guard == "same-release" and gate.on_fail[-1].ending == "rolled-back"
    assert next(r for r in gate.on_fail if r.kind == "gate").on_fail == ()  # a failed rollback is final
    assert [s.kind for s in steps][-4:] == ["up", "gate", "publish", "record"]
    # every step from down on carries the same recovery: a failed up fails like a failed gate
    assert [s.kind for s in steps if s.on_fail] == ["install", "verify", "up", "gate"]
    assert all(s.on_fail == gate.on_fail for s in steps if s.on_fail)
    first = next(s for s in plan_start(v6, {}, Observed(False, False), OPTS) if s.kind == "gate")
    assert [r.kind for r in first.on_fail] == ["keep-failed", "down", "remove", "fail"]  # nothing good: taken down
    assert first.on_fail[-1].ending == "taken-down"
    damaged = next(s for s in plan_start(v6, {}, Observed(True, True, history="damaged"), OPTS) if s.kind == "gate")
    assert [(r.kind, r.ending) for r in damaged.on_fail] == [("fail", "left-running")]  # nothing taken down


def test_a_failed_release_is_refused_after_the_fetch_and_the_last_good_comes_back() -> None:
    steps = plan_start(profiles.get(7), {}, Observed(True, True, last_good=True, failed_release=True), OPTS)
    assert [s.kind for s in steps[:2]] == ["fetch", "refuse-failed"]
    assert steps[0].timeout == 120.0  # the fetch's own limit: compose config of the file
    assert [r.kind for r in steps[1].on_fail] == RECOVER + ["fail"] and steps[1].on_fail[-1].ending == "instead"
    assert steps[1].on_fail[0].candidates == (LastGood(), PreviousGood())
    assert "refuse-failed" not in [s.kind for s in plan_start(profiles.get(7), {}, Observed(True, True, last_good=True))]


def test_dadc_rollback_is_planned_too() -> None:
    from dadc.plan import plan_rollback
    steps = plan_rollback(profiles.get(7), PlanOptions(to="3"))
    assert [s.kind for s in steps] == ["choose", "keep-failed", "down", "remove", "pin", "restore", "up",
                                       "check-images", "record"]
    assert steps[0].candidates == (Ref("3"),) and steps[1].file == "current"
    assert plan_rollback(profiles.get(7))[0].candidates == (BeforeCurrent(),)
    assert "gate" in [s.kind for s in plan_rollback(profiles.get(7), OPTS)]


def test_an_on_failure_migration_that_fails_until_its_database_answers_is_judged_at_the_end_of_the_gate() -> None:
    """restart: on-failure: Docker retries it; compose by hand ends it as Exited (0). Each failure
    Docker will retry is awaited, never a failure by itself; a restart resets the stable period."""
    seen: dict[str, int] = {}
    expected = {"db": 1, "migrate": 1}
    looks = [
        c("migrate", status="restarting", code=1, restarts=1, restart="on-failure"),
        c("migrate", status="exited", code=1, restarts=2, restart="on-failure"),  # between two retries
        c("migrate", status="running", restarts=3, restart="on-failure"),
        c("migrate", status="exited", code=0, restarts=3, restart="on-failure"),
    ]
    verdicts = [health.judge([c("db"), look], expected, seen) for look in looks]
    assert [f for f, _ in verdicts] == ["", "", "", ""]
    assert "still failing" in verdicts[0][1] and "still failing" in verdicts[1][1]
    assert "restarted" in verdicts[2][1]  # running again, but it restarted since the last look
    assert verdicts[3] == ("", "")  # completed


@pytest.mark.parametrize(("state", "failure", "waiting"), [
    (c("migrate", status="exited", code=1, restarts=3, restart="on-failure", max_retries=3),
     "exited with code 1 after 3 restarts (its max_retries)", ""),  # Docker gave up on it
    (c("migrate", status="exited", code=1, restarts=2, restart="on-failure", max_retries=3), "", "still failing"),
    (c("migrate", status="restarting", code=1, restarts=9, restart="on-failure"), "", "still failing"),
    (c("migrate", status="restarting", code=1, restarts=1, restart="always"), "restarted", ""),  # a crash loop
])
def test_on_failure_is_awaited_until_docker_gives_up(state: ContainerState, failure: str, waiting: str) -> None:
    got_failure, got_waiting = health.judge([state], {"migrate": 1}, {})
    assert (failure in got_failure) and bool(got_failure) == bool(failure), got_failure
    assert (waiting in got_waiting) and bool(got_waiting) == bool(waiting), got_waiting


def test_a_gate_that_ends_while_an_on_failure_service_still_fails_fails_saying_so() -> None:
    class Engine:
        def states(self, project: str) -> list[ContainerState]:
            return [c("migrate", status="restarting", code=1, restarts=4, restart="on-failure")]
    now = [0.0]

    def pause(seconds: float) -> None:
        now[0] += seconds
    verdict = health.gate(Engine(), "p", {"migrate": 1}, 10, 1, lambda: now[0], pause)  # type: ignore[arg-type]
    assert not verdict.ok and "still failing (exit code 1, 4 restarts, restart: on-failure)" in verdict.reason


@pytest.mark.parametrize(("states", "wrong"), [
    ([c("web"), c("db")], ""),
    ([c("web", status="created"), c("db")], "service web: container p-web-1 was created but never started"),
    ([c("db")], "service web: no container"),
    ([c("web", status="exited", code=1), c("db")], "service web: container p-web-1 exited with code 1"),
    ([c("web", status="exited", code=0), c("db")], ""),  # a one-shot that completed
    ([c("web", status="restarting", code=1, restart="always"), c("db")], ""),  # the gate's to judge
    ([c("web", status="exited", code=1, restarts=1, restart="on-failure"), c("db")], ""),  # Docker retries it
    ([c("web"), c("db", status="created"), c("web", n=2)], "service db: container p-db-1 was created"),
])
def test_what_up_left_is_judged_by_the_engine_whatever_composes_exit_status(states: list[ContainerState],
                                                                              wrong: str) -> None:
    got = health.after_up(states, {"web": 1, "db": 1})
    assert (wrong in got) and bool(got) == bool(wrong), got
