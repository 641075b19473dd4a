"""Profile x parameters x observed state x dadc options -> the steps to run. Pure: it runs nothing.

This is the one place that decides. Each step says what to do, on which compose file, within
which limit, and what to do when it fails; the executor (runtime/executor.py) only follows it.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from connector.profiles import Command, Profile, settings

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
    guard: str = ""  # fetch: "last-good" when the fetched file is the release that failed its gate
    gate: float | None = None  # fetch with the last-good guard: the health gate of the restored release


def _fallback(profile: Profile, params: dict[str, str], command: Command, options: Any) -> tuple[str, str]:
    """(fallback, what enabled it): the version's own, by its parameter, else dadc's option."""
    fb = command.fallback
    if fb and profile.parameter(fb.when) and profile.flag(params, fb.when):
        return fb.then, fb.when
    if getattr(options, "offline_fallback", False) and command.command in OFFLINE_OPTION:
        return OFFLINE_OPTION[command.command], "--offline-fallback"
    return "", ""


def stop_timeout(profile: Profile, options: Any) -> float:
    value = getattr(options, "stop_timeout", None)
    return float(value) if value is not None else profile.stop_timeout_seconds


def limit(kind: str) -> float:
    """dadc's limit for a docker or compose command other than down (parameters.json): the
    documentation gives a limit only for the cleanup (each version's stop_timeout_seconds)."""
    return float(settings()["step_limits_seconds"][kind])


def stop_limit(profile: Profile, options: Any, budget: float | None = None) -> float:
    """A stop's down: the version's limit, or what is left of it when the stop began with an
    interrupt (SIGTERM during a start), less a reserve for reporting what is left."""
    full = stop_timeout(profile, options)
    if budget is None:
        return full
    return max(1.0, min(full, budget - STOP_RESERVE))


STOP_RESERVE = 5.0  # seconds of a stop's budget kept for looking at what down left and saying so


def _without_file(profile: Profile, params: dict[str, str], command: Command, options: Any) -> Step:
    """The previous deployment's containers run, but its file is gone: remove them by label
    when the version's down fallback allows it, else stop here."""
    fallback, origin = _fallback(profile, params, command, options)
    if fallback == "force-remove":
        return Step("remove", origin=origin, reason=NO_FILE_TO_STOP + f"; {origin} removes them by label")
    fb = command.fallback
    hint = f"; set {fb.when} to remove them" if fb and profile.parameter(fb.when) else ""
    return Step("abort", origin=f"version {profile.version}", reason=NO_FILE_TO_STOP + hint)


def plan_start(profile: Profile, params: dict[str, str], observed: Observed, options: Any = None) -> list[Step]:
    steps: list[Step] = []
    for command in profile.start_sequence:
        if command.when and not profile.flag(params, command.when):
            continue
        origin = command.when or f"version {profile.version}"
        fallback, enabled_by = _fallback(profile, params, command, options)
        if command.command == "up":
            steps += [Step("install", "incoming", origin=origin),
                      Step("up", "current", timeout=limit("up"), origin=origin)]
            steps += _gate(observed, options)
        elif command.command == "down":
            if observed.previous_file:
                fb = command.fallback
                hint = f"; set {fb.when} to force" if fb and profile.parameter(fb.when) and not fallback else ""
                steps.append(Step("down", FILES[command.of], timeout=stop_timeout(profile, options),
                                  fallback=fallback, origin=enabled_by or origin, reason=hint))
            elif observed.project_running:
                steps.append(_without_file(profile, params, command, options))
        else:
            guarded = command.command == "fetch" and observed.failed_release and observed.last_good
            gate = getattr(options, "health_gate", None)
            steps.append(Step(command.command, FILES[command.of], attempts=command.attempts,
                              retry_delay=command.retry_delay_seconds, fallback=fallback,
                              origin=enabled_by or origin, guard="last-good" if guarded else "",
                              timeout=limit("config" if command.command == "fetch" else command.command),
                              gate=gate if guarded else None,
                              stable=getattr(options, "health_stable", 0.0) if guarded else 0.0))
    steps.append(Step("record", origin="dadc: the last good deployment, for a rollback"))
    return steps


def _gate(observed: Observed, options: Any) -> list[Step]:
    """--health-gate: after up, the gate; a release that fails it is rolled back as a whole to
    the last good deployment, or, with none recorded, taken down."""
    timeout = getattr(options, "health_gate", None)
    if timeout is None:
        return []
    return [Step("gate", timeout=float(timeout), stable=float(getattr(options, "health_stable", 10.0)),
                 fallback="rollback" if observed.last_good else "take-down", origin="--health-gate")]


def plan_stop(profile: Profile, params: dict[str, str], observed: Observed, options: Any = None,
              budget: float | None = None) -> list[Step]:
    """The stop sequence: nothing to stop without a local copy; past the limit, report what is left.
    budget: the seconds left of the stop limit when the stop follows an interrupted start."""
    if not observed.previous_file:
        return []
    return [Step(c.command, FILES[c.of], timeout=stop_limit(profile, options, budget), fallback="report",
                 origin=c.when or f"version {profile.version}")
            for c in profile.stop_sequence if not c.when or profile.flag(params, c.when)]
