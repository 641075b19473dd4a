"""The plan's vocabulary, as types: what a step does (Kind), on which file (File), what its failure
falls back to (Fallback), what it checks before it acts (Guard), how a recovery ends (Ending),
which good release a rollback brings back (Target), and when local images may stand in
(StandIn). Each name compares equal to the string the profiles and the JSON plan spell it with
(`Kind.UP == "up"`), and a name the profiles use that is not here fails when they load."""
from __future__ import annotations

from dataclasses import dataclass
from enum import Enum


class Name(str, Enum):
    def __str__(self) -> str:
        return str(self.value)


class Kind(Name):
    FETCH = "fetch"  # the compose file from S3 -> the incoming file
    REFUSE_FAILED = "refuse-failed"  # the fetched file is a release that failed: it does not run
    LOGIN = "login"  # the secrets' and the file's ECR registries
    PULL = "pull"
    PREFETCH = "prefetch"  # --prefetch: the new release's images, before anything stops
    DOWN = "down"
    REMOVE = "remove"  # the project's containers by label (ForceDeploy's removal; a recovery's)
    ABORT = "abort"  # the start cannot go on (its message says why)
    INSTALL = "install"  # the incoming file becomes the local copy
    VERIFY = "verify"  # the local copy is what dadc installed (not rewritten since)
    UP = "up"
    GATE = "gate"  # --health-gate
    PUBLISH = "publish"  # the success status message
    RECORD = "record"  # the release and its images -> the history
    PRUNE = "prune-images"  # --prune-images: images of the project that no recorded release needs
    KEEP_FAILED = "keep-failed"  # a recovery's: the release that failed is kept as failed
    CHOOSE = "choose"  # a recovery's: the good release that comes back
    PIN = "pin"  # its tags at its recorded images again
    RESTORE = "restore"  # its files back in the project directory
    CHECK_IMAGES = "check-images"  # what runs is what was recorded
    FAIL = "fail"  # a recovery's end: the start fails, saying what runs


class File(Name):
    NONE = ""
    INCOMING = "incoming"  # just fetched (or, offline, the local copy standing in)
    CURRENT = "current"  # the local copy


class Fallback(Name):
    NONE = ""
    FORCE_REMOVE = "force-remove"  # a failed down: remove the project's containers by label
    OFFLINE = "offline"  # S3 or a registry out of reach: the local copy stands in
    LOCAL_IMAGES = "local-images"  # a failed pull: images already present stand in (see StandIn)
    REPORT = "report"  # a stop that left containers: say which, and how to remove them
    LOG = "log"  # a failure is logged; the start has already succeeded (the record)


class StandIn(Name):
    """When local images may stand in for a failed pull."""

    UNREACHABLE = "unreachable"  # the registry could not be reached (or the pull passed its limit)
    ON_LOCAL_COPY = "on-local-copy"  # the start already runs on the local copy (nothing was reachable)


class Guard(Name):
    NONE = ""
    UNLESS_TARGET_RUNS = "unless-target-runs"  # a recovery's down and remove: not when the target already runs
    SAME_RELEASE = "same-release"  # keep-failed after a gate: not when what failed is the last good release
    ONLY_MISSING = "only-missing"  # prefetch: only the images the engine lacks (what up would pull)


class Ending(Name):
    NONE = ""
    ROLLED_BACK = "rolled-back"  # the good deployment runs again
    INSTEAD = "instead"  # the definition names a release that failed: the last good one runs instead
    TAKEN_DOWN = "taken-down"  # no good deployment recorded: the release was taken down
    LEFT_RUNNING = "left-running"  # the history could not be read: nothing is taken down on its strength


@dataclass(frozen=True)
class LastGood:
    """The last good release."""

    def __str__(self) -> str:
        return "last-good"


@dataclass(frozen=True)
class PreviousGood:
    """The good release before the last good one."""

    def __str__(self) -> str:
        return "previous-good"


@dataclass(frozen=True)
class BeforeCurrent:
    """The good release before the one installed now (`dadc rollback`)."""

    def __str__(self) -> str:
        return "before-current"


@dataclass(frozen=True)
class Ref:
    """A release of the history, by number or sha256 prefix (`dadc rollback --to REF`)."""

    ref: str

    def __str__(self) -> str:
        return f"ref:{self.ref}"


Target = LastGood | PreviousGood | BeforeCurrent | Ref


def kind(name: str) -> Kind:
    return Kind(name)


def fallback(name: str) -> Fallback:
    """A profile's `then`: a name dadc does not know fails when the profile loads."""
    try:
        return Fallback(name)
    except ValueError:
        raise ValueError(f"unknown fallback {name!r}: one of {', '.join(f.value for f in Fallback if f.value)}") from None
