"""One exception base class; every failure carries a kind the status payload can use, and the
facts a caller reads as typed attributes of its class (never a bag of details)."""
from __future__ import annotations

from typing import Sequence


class DadcError(Exception):
    """Base of every dadc error. ``error`` is the status-payload error type (``InvalidParameter``
    or ``InternalError``); ``retriable``: `dadc run --retry` may try the start again."""

    error = "InternalError"
    retriable = True

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


class UsageError(DadcError):
    """Options that cannot work (a bad URL, an unreadable CA or key): exit 2 before any deploy."""


class InternalError(DadcError):
    error = "InternalError"


class HealthGateFailed(InternalError):
    """A release failed its health gate (or another step a recovery guards), or is one that failed:
    retrying the same release would not help, so `dadc run --retry` does not."""

    retriable = False


class RecoveryEnded(HealthGateFailed):
    """A planned recovery's own end: what it says is what runs now (no further wrapping).
    rolled_back: a good deployment runs again."""

    def __init__(self, message: str, *, rolled_back: bool = False) -> None:
        super().__init__(message)
        self.rolled_back = rolled_back


class InvalidParameter(DadcError):
    error = "InvalidParameter"
    retriable = False


class UnknownVersion(InvalidParameter):
    pass


class DefinitionUnreadable(InvalidParameter):
    """The definition file cannot be read (missing, a folder, no permission) or parsed (not JSON,
    no template): nothing was tried, so every command exits 2 (bad usage); a start still publishes
    its fail status."""


class ComposeFileError(InvalidParameter):
    """A compose file dadc will not take; line and column (1-based) where its parser stopped."""

    def __init__(self, message: str, *, line: int | None = None, column: int | None = None) -> None:
        super().__init__(message)
        self.line, self.column = line, column


class SourceError(DadcError):
    """S3 could not give us the object."""


class CredentialError(DadcError):
    pass


class Unreachable(DadcError):
    """A remote (S3, Secrets Manager, ECR's token endpoint, a registry) could not be reached at
    all: the network, a name, a refused or timed-out connection. Only this kind of failure lets
    an offline fallback act; a refusal (401/403, AccessDenied) fails as the version did."""


class SourceUnreachable(SourceError, Unreachable):
    """S3 could not be reached."""


class CredentialsUnreachable(CredentialError, Unreachable):
    """Secrets Manager, ECR's token endpoint or a registry's login could not be reached."""


class StateError(InternalError):
    """dadc's own state could not be read or written (a full disk, a read-only file system, a
    file past its limit): named, never a traceback."""


class RecordsDamaged(InternalError):
    """The release history exists but cannot be read (cut short, not JSON, the wrong shape), and
    neither can the generation before it: dadc will not act as if there were no history."""

    retriable = False


class UnsafeFile(InternalError):
    """A link, or an entry that belongs to someone other than root or the DockerUserId user, where
    dadc keeps its files: refused, nothing changed (it would make dadc write what that user chose)."""

    retriable = False


class Interrupted(DadcError):
    """SIGTERM or SIGINT interrupted a step: the rest of the start is skipped for the stop sequence."""

    retriable = False


class CommandFailed(DadcError):
    """A docker or compose command exited non-zero (or passed its limit)."""

    def __init__(self, message: str, *, argv: Sequence[str] = (), returncode: int | None = None, stderr: str = "",
                 timed_out: bool = False) -> None:
        super().__init__(message)
        self.argv, self.returncode, self.stderr, self.timed_out = tuple(argv), returncode, stderr, timed_out


class CommandNotFound(DadcError):
    pass


class LockHeld(DadcError):
    def __init__(self, message: str, *, holder: str = "") -> None:
        super().__init__(message)
        self.holder = holder
