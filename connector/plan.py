"""Profile x parameters x observed state x dadc options -> the steps to run. Pure: it runs nothing.

This is the one place that decides. Each step says what to do, on which compose file, within
which limit, what it checks before acting, and what follows when it fails; the executor
(runtime/executor.py) only follows it, and `dadc plan` shows it (connector/planview.py).
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

from dadc.profiles import Command, Profile, settings
from dadc.steps import (BeforeCurrent, Ending, Fallback, File, Guard, Kind, LastGood, PreviousGood, Ref,
                             StandIn, Target)

if TYPE_CHECKING:
    from dadc.options import RuntimeOptions

# a sequence entry's `of` -> the file a step works on
FILES = {"new": File.INCOMING, "previous": File.CURRENT, "current": File.CURRENT}
# what --offline-fallback adds, per command: version 7's DockerOfflineMode, for any version
OFFLINE_OPTION = {"fetch": Fallback.OFFLINE, "login": Fallback.OFFLINE, "pull": Fallback.LOCAL_IMAGES}
# a failed pull: local images stand in when the registry could not be reached, or when the start
# already runs on the local copy (then nothing was reachable, and a pull would fail for that)
LOCAL_IMAGES_WHEN = frozenset({StandIn.UNREACHABLE, StandIn.ON_LOCAL_COPY})
NO_FILE_TO_STOP = ("containers of a previous deployment are running and no local compose file is "
                   "left to stop them")
RECOVERY = "dadc: recovery"
STOP_RESERVE = 5.0  # seconds of a stop's budget kept for looking at what down left and saying so


@dataclass(frozen=True)
class PlanOptions:
    """What the planner reads of the runtime options (and nothing else)."""

    health_gate: float | None = None
    health_stable: float = 10.0
    offline_fallback: bool = False
    stop_timeout: float | None = None
    to: str | None = None
    retry: bool = False
    retry_base: float = 2.0
    retry_cap: float = 300.0
    prefetch: bool = False
    prune_images: bool = False
    prefetch_only: bool = False  # a new deployment's prefetch, before the old connector's stop sequence
    after_stop: bool = False  # a new deployment: the old connector's stop sequence has just run

    @classmethod
    def of(cls, options: "RuntimeOptions | None") -> "PlanOptions":
        if options is None:
            return cls()
        return cls(options.health_gate, options.health_stable, options.offline_fallback, options.stop_timeout,
                   options.to, options.retry, options.retry_base, options.retry_cap, options.prefetch,
                   options.prune_images, options.prefetch_only, options.after_stop)


@dataclass(frozen=True)
class Observed:
    previous_file: bool  # a local copy of a compose file (the previous deployment's) exists
    project_running: bool  # the engine has containers with the project's label
    last_good: bool = False  # a last good deployment is recorded (something to roll back to)
    failed_release: bool = False  # a release that failed is recorded
    history: str = ""  # '' the history reads (or there is none); else why it cannot be read
    unknown: tuple[str, ...] = ()  # facts this host could not look at (`dadc plan` on a CI host)


@dataclass(frozen=True)
class Step:
    """One planned step; each field one meaning (connector/steps.py has the vocabulary)."""

    kind: Kind
    file: File = File.NONE
    timeout: float | None = None
    delays: tuple[float, ...] = ()  # login: the pause before each further attempt
    fallback: Fallback = Fallback.NONE
    stand_in: frozenset[StandIn] = frozenset()  # pull's local-images: when they may stand in
    origin: str = ""  # the profile entry, parameter or dadc option behind the step or its fallback
    guard: Guard = Guard.NONE
    candidates: tuple[Target, ...] = ()  # choose: tried in this order
    stable: float = 0.0  # gate: how long every service must stay up
    label: str = ""  # gate: what its failure says first
    hint: str = ""  # down: added to its failure (how the version could force it)
    refusal: str = ""  # abort: why the start cannot go on
    why: str = ""  # keep-failed: the reason kept with the release
    ending: Ending = Ending.NONE  # fail: how the recovery ended
    note: str = ""  # what the plan's reader is told besides (remove: of what)
    on_fail: tuple["Step", ...] = field(default=())  # planned recovery: runs when this step fails

    @property
    def attempts(self) -> int:
        return len(self.delays) + 1


@dataclass(frozen=True)
class RetryPolicy:
    """`dadc run --retry`: a failed start that may succeed later (InternalError) is tried again
    after min(cap, base x 2^attempt) seconds, times a jitter in [low, high)."""

    base: float
    cap: float
    jitter: tuple[float, float] = (0.5, 1.0)

    def delay(self, attempt: int, fraction: float) -> float:
        """The pause before attempt+2, with fraction in [0, 1) drawn by the caller."""
        low, high = self.jitter
        return min(self.cap, self.base * 2 ** attempt) * (low + (high - low) * fraction)


def longest(steps: "tuple[Step, ...] | list[Step]", registries: int = 1) -> float:
    """The longest the steps can take as planned: each within its limit (a login once per registry,
    every attempt within the limit, with its pauses; a gate for its seconds), and the longest planned
    recovery one of them may start. What a supervisor must allow a start (a GGv2 Startup's Timeout)."""
    total, recovery = 0.0, 0.0
    for step in steps:
        once = (step.timeout or 0.0) * step.attempts + sum(step.delays) + step.stable
        total += once * (max(1, registries) if step.kind == Kind.LOGIN else 1)
        recovery = max(recovery, longest(step.on_fail, registries) if step.on_fail else 0.0)
    return total + recovery


def retry_policy(options: PlanOptions) -> RetryPolicy | None:
    return RetryPolicy(options.retry_base, options.retry_cap) if options.retry else None


def login_delays(command: Command) -> tuple[float, ...]:
    """The pauses between login attempts: the profile's first pause, doubling."""
    return tuple(command.retry_delay_seconds * 2 ** i for i in range(command.attempts - 1))


def _fallback(profile: Profile, params: dict[str, str], command: Command,
              options: PlanOptions) -> tuple[Fallback, str]:
    """(fallback, what enabled it): the version's own, by its parameter, else dadc's option."""
    fb = command.fallback
    if fb and profile.parameter(fb.when) and profile.flag(params, fb.when):
        return fb.then, fb.when
    if options.offline_fallback and command.command in OFFLINE_OPTION:
        return OFFLINE_OPTION[command.command], "--offline-fallback"
    return Fallback.NONE, ""


def stop_timeout(profile: Profile, options: PlanOptions) -> float:
    return float(options.stop_timeout) if options.stop_timeout is not None else profile.stop_timeout_seconds


def limit(kind: str) -> float:
    """dadc's limit for a docker or compose command other than down (parameters.json): the
    documentation gives a limit only for the cleanup (each version's stop_timeout_seconds)."""
    return float(settings()["step_limits_seconds"][kind])


def stop_limit(profile: Profile, options: PlanOptions, budget: float | None = None) -> float:
    """A stop's down: the version's limit, or what is left of it when the stop began with an
    interrupt (SIGTERM during a start), less a reserve for reporting what is left."""
    full = stop_timeout(profile, options)
    if budget is None:
        return full
    return max(1.0, min(full, budget - STOP_RESERVE))


def _without_file(profile: Profile, params: dict[str, str], command: Command, options: PlanOptions) -> Step:
    """The previous deployment's containers run, but its file is gone: remove them by label
    when the version's down fallback allows it, else stop here."""
    fallback, origin = _fallback(profile, params, command, options)
    if fallback == Fallback.FORCE_REMOVE:
        return Step(Kind.REMOVE, origin=origin, note=NO_FILE_TO_STOP + f"; {origin} removes them by label")
    fb = command.fallback
    hint = f"; set {fb.when} to remove them" if fb and profile.parameter(fb.when) else ""
    return Step(Kind.ABORT, origin=f"version {profile.version}", refusal=NO_FILE_TO_STOP + hint)


def plan_start(profile: Profile, params: dict[str, str], observed: Observed,
               options: PlanOptions | None = None) -> list[Step]:
    """The version's start sequence. With --health-gate, every step from the one that takes the
    previous release down onwards carries the planned recovery (a failed pull after down, install,
    up, the gate alike): the device ends on a good release, or says why it could not. In a new
    deployment the old connector's stop sequence took it down already (after_stop): then every step
    carries it, the fetch and the logins too."""
    options = options or PlanOptions()
    steps: list[Step] = []
    recovery = _recovery(profile, observed, options)
    after_down = options.after_stop
    for command in profile.start_sequence:
        if command.when and not profile.flag(params, command.when):
            continue
        origin = command.when or f"version {profile.version}"
        fallback, enabled_by = _fallback(profile, params, command, options)
        on_fail = recovery if after_down else ()
        if command.command == Kind.UP:
            steps += [Step(Kind.INSTALL, File.INCOMING, origin=origin, on_fail=on_fail),
                      Step(Kind.VERIFY, File.CURRENT, origin="dadc: compose runs what dadc installed", on_fail=recovery),
                      Step(Kind.UP, File.CURRENT, timeout=limit("up"), origin=origin, on_fail=recovery)]
            if options.health_gate is not None:
                steps.append(Step(Kind.GATE, timeout=float(options.health_gate), stable=float(options.health_stable),
                                  origin="--health-gate", label="health gate failed", on_fail=recovery))
        elif command.command == Kind.DOWN:
            if observed.previous_file:
                fb = command.fallback
                hint = f"; set {fb.when} to force" if fb and profile.parameter(fb.when) and not fallback else ""
                steps.append(Step(Kind.DOWN, FILES[command.of], timeout=stop_timeout(profile, options),
                                  fallback=fallback, origin=enabled_by or origin, hint=hint))
            elif observed.project_running:
                steps.append(_without_file(profile, params, command, options))
            after_down = True
        else:
            steps.append(Step(Kind(command.command), FILES[command.of],
                              delays=login_delays(command) if command.command == Kind.LOGIN else (),
                              fallback=fallback, origin=enabled_by or origin, on_fail=on_fail,
                              stand_in=LOCAL_IMAGES_WHEN if fallback == Fallback.LOCAL_IMAGES else frozenset(),
                              timeout=limit("config" if command.command == Kind.FETCH else command.command)))
            if command.command == Kind.FETCH and observed.failed_release and observed.last_good \
                    and not observed.history:
                steps.append(Step(Kind.REFUSE_FAILED, File.INCOMING, origin="dadc: a release that failed runs no more",
                                  on_fail=_restore(profile, options, (LastGood(), PreviousGood()))
                                  + (Step(Kind.FAIL, ending=Ending.INSTEAD),)))
    # the status message says only what happened; the record (image ids, digests) is bookkeeping
    # for a later rollback, made once the message is out: its failure is logged, not a failed start
    steps.append(Step(Kind.PUBLISH, origin="the documented success status"))
    steps.append(Step(Kind.RECORD, fallback=Fallback.LOG, origin="dadc: the last good deployment, for a rollback"))
    if options.prune_images:
        steps.append(Step(Kind.PRUNE, fallback=Fallback.LOG, origin="--prune-images"))
    # (after the old connector's stop, its prefetch child has run already: plan_prefetch)
    return _with_prefetch(steps) if options.prefetch and not options.after_stop else steps


STOPS = (Kind.DOWN, Kind.REMOVE, Kind.ABORT)  # where a start's sequence stops the previous release


def _prefetch_step(pull: Step | None) -> Step:
    """--prefetch: what the pull after the stop pulls (with its fallback), or with none, only what
    up would pull (the images the engine lacks: a tag already present is not refreshed, which would
    change what the version runs)."""
    if pull is None:
        return Step(Kind.PREFETCH, File.INCOMING, timeout=limit("pull"), origin="--prefetch", guard=Guard.ONLY_MISSING)
    return Step(Kind.PREFETCH, File.INCOMING, timeout=limit("pull"), origin="--prefetch", fallback=pull.fallback,
                stand_in=pull.stand_in,
                note=f"local images stand in as for the pull after the stop ({pull.origin})" if pull.fallback else "")


def _with_prefetch(steps: list[Step]) -> list[Step]:
    """--prefetch, just before the step that stops the previous release; nothing where nothing is
    stopped, or where the version pulls before its stop already."""
    stop = next((i for i, step in enumerate(steps) if step.kind in STOPS), None)
    if stop is None or any(step.kind == Kind.PULL for step in steps[:stop]):
        return steps
    later = next((step for step in steps[stop:] if step.kind == Kind.PULL), None)
    return steps[:stop] + [_prefetch_step(later)] + steps[stop:]


def plan_prefetch(profile: Profile, params: dict[str, str], options: PlanOptions) -> list[Step]:
    """--prefetch when the definition changed: the old connector's stop sequence comes first (under
    the old definition), so before it, in a child of its own: the new definition's fetch and logins,
    then every image the new start will pull (its pull now comes after a stop), else what its up
    would pull. Nothing stops and no success is published; a failure is the new start's fail
    status, and the old deployment keeps running."""
    plain = replace(options, health_gate=None, prefetch=False, prune_images=False, prefetch_only=False,
                    after_stop=False)
    start = plan_start(profile, params, Observed(previous_file=False, project_running=False), plain)
    head = [step for step in start if step.kind in (Kind.FETCH, Kind.LOGIN)]
    return head + [_prefetch_step(next((step for step in start if step.kind == Kind.PULL), None))]


def _restore(profile: Profile, options: PlanOptions, candidates: tuple[Target, ...]) -> tuple[Step, ...]:
    """Bring a good release back as a whole: choose one that can come back (before anything is
    taken down), take down what runs unless it is that release, point tags at its recorded
    images, put its files back, up, check that what runs is what was recorded, and, with
    --health-gate, its own gate (whose failure is final)."""
    steps = [Step(Kind.CHOOSE, candidates=candidates, origin=RECOVERY),
             Step(Kind.DOWN, File.CURRENT, timeout=stop_timeout(profile, options), fallback=Fallback.FORCE_REMOVE,
                  guard=Guard.UNLESS_TARGET_RUNS, origin=RECOVERY),
             Step(Kind.REMOVE, guard=Guard.UNLESS_TARGET_RUNS, origin=RECOVERY, note="whatever down left"),
             Step(Kind.PIN, origin=RECOVERY),
             Step(Kind.RESTORE, origin=RECOVERY),
             Step(Kind.UP, File.CURRENT, timeout=limit("up"), origin=RECOVERY),
             Step(Kind.CHECK_IMAGES, origin=RECOVERY)]
    if options.health_gate is not None:
        steps.append(Step(Kind.GATE, timeout=float(options.health_gate), stable=float(options.health_stable),
                          origin="--health-gate", label="the good deployment failed the gate too"))
    return tuple(steps)


def _recovery(profile: Profile, observed: Observed, options: PlanOptions) -> tuple[Step, ...]:
    """--health-gate: what follows a failure once the previous release may be down: the release is
    kept as failed and rolled back as a whole to the last good deployment, or, with none recorded,
    taken down; with a history that cannot be read, nothing is taken down on its strength.
    Without the gate: nothing (each version does what its documentation says)."""
    if options.health_gate is None:
        return ()
    keep = Step(Kind.KEEP_FAILED, File.INCOMING, guard=Guard.SAME_RELEASE, origin="--health-gate")
    if observed.history:
        return (Step(Kind.FAIL, ending=Ending.LEFT_RUNNING, origin="--health-gate"),)
    if observed.last_good:
        return (keep,) + _restore(profile, options, (LastGood(), PreviousGood())) + \
            (Step(Kind.FAIL, ending=Ending.ROLLED_BACK),)
    return (keep, Step(Kind.DOWN, File.CURRENT, timeout=stop_timeout(profile, options), fallback=Fallback.FORCE_REMOVE,
                       origin="--health-gate"),
            Step(Kind.REMOVE, origin="--health-gate", note="whatever down left"),
            Step(Kind.FAIL, ending=Ending.TAKEN_DOWN))


def plan_rollback(profile: Profile, options: PlanOptions | None = None) -> list[Step]:
    """`dadc rollback [--to REF]`: the chosen good release comes back; the current one is kept as
    failed (the next start will not bring it back by itself); nothing changes when none can."""
    options = options or PlanOptions()
    target: Target = Ref(options.to) if options.to else BeforeCurrent()
    restore = list(_restore(profile, options, (target,)))
    keep = Step(Kind.KEEP_FAILED, File.CURRENT, origin="dadc rollback", why="rolled back by hand (dadc rollback)")
    return restore[:1] + [keep] + restore[1:] + [Step(Kind.RECORD, origin="dadc: the last good deployment")]


def plan_stop(profile: Profile, params: dict[str, str], observed: Observed, options: PlanOptions | None = None,
              budget: float | None = None) -> list[Step]:
    """The stop sequence: nothing to stop without a local copy; past the limit, report what is left.
    budget: the seconds left of the stop limit when the stop follows an interrupted start."""
    options = options or PlanOptions()
    if not observed.previous_file:
        return []
    return [Step(Kind(c.command), FILES[c.of], timeout=stop_limit(profile, options, budget), fallback=Fallback.REPORT,
                 origin=c.when or f"version {profile.version}")
            for c in profile.stop_sequence if not c.when or profile.flag(params, c.when)]

