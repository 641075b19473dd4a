"""Profile x parameters x observed state -> the steps to run. Pure: it runs nothing."""
from __future__ import annotations

from dataclasses import dataclass

from connector.profiles import Profile


@dataclass(frozen=True)
class Observed:
    previous_file: bool  # a last-good local compose file exists
    project_running: bool  # containers carry the project label


@dataclass(frozen=True)
class PlannedStep:
    """``action``: pull, down, install (the new file becomes the local copy), up, force-remove
    (by label) or abort; ``file``: new (fetched, not yet installed) or current (the local copy)."""

    action: str
    file: str = ""
    reason: str = ""

    def __str__(self) -> str:
        return f"{self.action}{' (' + self.file + ' file)' if self.file else ''}{': ' + self.reason if self.reason else ''}"


NO_FILE_TO_STOP = ("containers of a previous deployment are running and no local compose file is "
                   "left to stop them")


def plan_start(profile: Profile, params: dict[str, str], observed: Observed) -> list[PlannedStep]:
    steps: list[PlannedStep] = []
    for step in profile.start_sequence:
        if step.when and not profile.flag(params, step.when):
            continue
        if step.command == "up":
            steps += [PlannedStep("install", "new", "make it the local copy"), PlannedStep("up", "current")]
        elif step.command != "down":
            steps.append(PlannedStep(step.command, "new"))
        elif observed.previous_file:
            steps.append(PlannedStep("down", "current", "stop the previous deployment"))
        elif observed.project_running:
            steps.append(_cleanup_without_file(profile, params))
    return steps


def _cleanup_without_file(profile: Profile, params: dict[str, str]) -> PlannedStep:
    if profile.parameter("ForceDeploy") and profile.flag(params, "ForceDeploy"):
        return PlannedStep("force-remove", "", NO_FILE_TO_STOP + "; ForceDeploy removes them by label")
    hint = "; set ForceDeploy to remove them" if profile.parameter("ForceDeploy") else ""
    return PlannedStep("abort", "", NO_FILE_TO_STOP + hint)


def plan_stop(profile: Profile, params: dict[str, str], observed: Observed) -> list[PlannedStep]:
    steps = []
    for step in profile.stop_sequence:
        if step.when and not profile.flag(params, step.when):
            continue
        if observed.previous_file:
            steps.append(PlannedStep(step.command, "current"))
    return steps
