"""Profile x parameters x observed state x dadc options -> the steps to run. Pure: it runs nothing.

This is the one place that decides. Each step says what to do, on which compose file, within
which limit, and what to do when it fails; the executor (runtime/executor.py) only follows it.
"""
from __future__ import annotations

from dataclasses import dataclass

from connector.options import RuntimeOptions
from connector.profiles import Command, Profile, settings

NO_OPTIONS = RuntimeOptions()

# a sequence entry's `of` -> the file a step works on
FILES = {"new": "incoming", "previous": "current", "current": "current"}
# what --offline-fallback adds, per command: version 7's DockerOfflineMode, for any version
OFFLINE_OPTION = {"fetch": "offline", "login": "offline", "pull": "local-images"}
NO_FILE_TO_STOP = ("containers of a previous deployment are running and no local compose file is "
                   "left to stop them")


@dataclass(frozen=True)
class Observed:
    previous_file: bool  # a local copy of a compose file (the previous deployment's) exists
    project_running: bool  # the engine has containers with the project's label
    last_good: bool = False  # a last good deployment is recorded (something to roll back to)
    failed_release: bool = False  # a release that failed its health gate is recorded


@dataclass(frozen=True)
class Step:
    """kind: fetch, login, pull, down, remove (ForceDeploy's removal by label), abort, install
    (the incoming file becomes the local copy), up. file: incoming (just fetched) or current
    (the local copy). fallback: what the executor does if the step fails (force-remove, offline,
    local-images, report; empty: the start fails). origin: the profile entry, parameter or dadc
    option behind the step or its fallback."""

    kind: str
    file: str = ""
    timeout: float | None = None
    attempts: int = 1
    retry_delay: float = 0.0
    fallback: str = ""
    origin: str = ""
    reason: str = ""
    stable: float = 0.0  # gate: how long every service must stay up
    # a condition the executor checks before acting: unless-target-runs (down and remove during a
    # recovery: not when what runs is already the release that comes back), same-release (keep-failed
    # after a gate: not when the failing file is the last good one)
    guard: str = ""
    target: str = ""  # choose: last-good (else the one before it), before-current, or ref:REF (dadc rollback --to)
    on_fail: tuple["Step", ...] = ()  # planned recovery: runs when this step fails, then the start fails


def _fallback(profile: Profile, params: dict[str, str], command: Command,
              options: RuntimeOptions) -> tuple[str, str]:
    """(fallback, what enabled it): the version's own, by its parameter, else dadc's option."""
    fb = command.fallback
    if fb and profile.parameter(fb.when) and profile.flag(params, fb.when):
        return fb.then, fb.when
    if options.offline_fallback and command.command in OFFLINE_OPTION:
        return OFFLINE_OPTION[command.command], "--offline-fallback"
    return "", ""


def stop_timeout(profile: Profile, options: RuntimeOptions | None) -> float:
    value = (options or NO_OPTIONS).stop_timeout
    return float(value) if value is not None else profile.stop_timeout_seconds


def limit(kind: str) -> float:
    """dadc's limit for a docker or compose command other than down (parameters.json): the
    documentation gives a limit only for the cleanup (each version's stop_timeout_seconds)."""
    return float(settings()["step_limits_seconds"][kind])


def stop_limit(profile: Profile, options: RuntimeOptions | None, budget: float | None = None) -> float:
    """A stop's down: the version's limit, or what is left of it when the stop began with an
    interrupt (SIGTERM during a start), less a reserve for reporting what is left."""
    full = stop_timeout(profile, options)
    if budget is None:
        return full
    return max(1.0, min(full, budget - STOP_RESERVE))


STOP_RESERVE = 5.0  # seconds of a stop's budget kept for looking at what down left and saying so


def _without_file(profile: Profile, params: dict[str, str], command: Command, options: RuntimeOptions) -> Step:
    """The previous deployment's containers run, but its file is gone: remove them by label
    when the version's down fallback allows it, else stop here."""
    fallback, origin = _fallback(profile, params, command, options)
    if fallback == "force-remove":
        return Step("remove", origin=origin, reason=NO_FILE_TO_STOP + f"; {origin} removes them by label")
    fb = command.fallback
    hint = f"; set {fb.when} to remove them" if fb and profile.parameter(fb.when) else ""
    return Step("abort", origin=f"version {profile.version}", reason=NO_FILE_TO_STOP + hint)


def plan_start(profile: Profile, params: dict[str, str], observed: Observed,
               options: RuntimeOptions | None = None) -> list[Step]:
    """The version's start sequence. With --health-gate, every step from the one that takes the
    previous release down onwards carries the planned recovery (a failed pull after down, install,
    up, the gate alike): the device ends on a good release, or says why it could not."""
    options = options or NO_OPTIONS
    steps: list[Step] = []
    recovery = _recovery(profile, observed, options)
    after_down = False
    for command in profile.start_sequence:
        if command.when and not profile.flag(params, command.when):
            continue
        origin = command.when or f"version {profile.version}"
        fallback, enabled_by = _fallback(profile, params, command, options)
        on_fail = recovery if after_down else ()
        if command.command == "up":
            steps += [Step("install", "incoming", origin=origin, on_fail=on_fail),
                      Step("up", "current", timeout=limit("up"), origin=origin, on_fail=recovery)]
            if options.health_gate is not None:
                steps.append(Step("gate", timeout=float(options.health_gate), stable=float(options.health_stable),
                                  origin="--health-gate", on_fail=recovery))
        elif command.command == "down":
            if observed.previous_file:
                fb = command.fallback
                hint = f"; set {fb.when} to force" if fb and profile.parameter(fb.when) and not fallback else ""
                steps.append(Step("down", FILES[command.of], timeout=stop_timeout(profile, options),
                                  fallback=fallback, origin=enabled_by or origin, reason=hint))
            elif observed.project_running:
                steps.append(_without_file(profile, params, command, options))
            after_down = True
        else:
            steps.append(Step(command.command, FILES[command.of], attempts=command.attempts,
                              retry_delay=command.retry_delay_seconds, fallback=fallback,
                              origin=enabled_by or origin, on_fail=on_fail,
                              timeout=limit("config" if command.command == "fetch" else command.command)))
            if command.command == "fetch" and observed.failed_release and observed.last_good:
                steps.append(Step("refuse-failed", "incoming", origin="dadc: a release that failed runs no more",
                                  on_fail=_restore(profile, options, "last-good") + (Step("fail", reason="instead"),)))
    steps.append(Step("record", origin="dadc: the last good deployment, for a rollback"))
    return steps


RECOVERY = "dadc: recovery"


def _restore(profile: Profile, options: RuntimeOptions, target: str) -> tuple[Step, ...]:
    """Bring a good release back as a whole: choose one that can come back (before anything is
    taken down), take down what runs unless it is that release, point tags at its recorded
    images, install its file, up, and, with --health-gate, its own gate (whose failure is final)."""
    steps = [Step("choose", target=target, origin=RECOVERY),
             Step("down", "current", timeout=stop_timeout(profile, options), fallback="force-remove",
                  guard="unless-target-runs", origin=RECOVERY),
             Step("remove", guard="unless-target-runs", origin=RECOVERY, reason="whatever down left"),
             Step("pin", origin=RECOVERY),
             Step("restore", origin=RECOVERY),
             Step("up", "current", timeout=limit("up"), origin=RECOVERY)]
    if options.health_gate is not None:
        steps.append(Step("gate", timeout=float(options.health_gate), stable=float(options.health_stable),
                          origin="--health-gate", reason="the good deployment failed the gate too"))
    return tuple(steps)


def _recovery(profile: Profile, observed: Observed, options: RuntimeOptions) -> tuple[Step, ...]:
    """--health-gate: what follows a failure once the previous release may be down: the release is
    kept as failed and rolled back as a whole to the last good deployment, or, with none recorded,
    taken down. Without the gate: nothing (each version does what its documentation says)."""
    if options.health_gate is None:
        return ()
    keep = Step("keep-failed", "incoming", guard="same-release", origin="--health-gate")
    if observed.last_good:
        return (keep,) + _restore(profile, options, "last-good") + (Step("fail", reason="rolled-back"),)
    return (keep, Step("down", "current", timeout=stop_timeout(profile, options), fallback="force-remove",
                       origin="--health-gate"),
            Step("remove", origin="--health-gate", reason="whatever down left"),
            Step("fail", reason="taken-down"))


def plan_rollback(profile: Profile, options: RuntimeOptions | None = None) -> list[Step]:
    """`dadc rollback [--to REF]`: the chosen good release comes back; the current one is kept as
    failed (the next start will not bring it back by itself); nothing changes when none can."""
    options = options or NO_OPTIONS
    target = f"ref:{options.to}" if options.to else "before-current"
    restore = list(_restore(profile, options, target))
    keep = Step("keep-failed", "current", origin="dadc rollback", reason="rolled back by hand (dadc rollback)")
    return restore[:1] + [keep] + restore[1:] + [Step("record", origin="dadc: the last good deployment")]


def plan_stop(profile: Profile, params: dict[str, str], observed: Observed, options: RuntimeOptions | None = None,
              budget: float | None = None) -> list[Step]:
    """The stop sequence: nothing to stop without a local copy; past the limit, report what is left.
    budget: the seconds left of the stop limit when the stop follows an interrupted start."""
    if not observed.previous_file:
        return []
    return [Step(c.command, FILES[c.of], timeout=stop_limit(profile, options, budget), fallback="report",
                 origin=c.when or f"version {profile.version}")
            for c in profile.stop_sequence if not c.when or profile.flag(params, c.when)]
