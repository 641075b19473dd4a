"""One exception base class; every failure carries a kind the status payload can use."""
from __future__ import annotations

from typing import Any


class DadcError(Exception):
    """Base of every dadc error.

    ``error`` is the status-payload error type (``InvalidParameter`` or ``InternalError``);
    ``details`` are structured fields safe to log (never a secret).
    """

    error = "InternalError"
    retriable = True  # `dadc run --retry` may try the start again (an invalid definition: no)

    def __init__(self, message: str, **details: Any) -> None:
        super().__init__(message)
        self.message = message
        self.details = details

    def __str__(self) -> str:
        return self.message


class UsageError(DadcError):
    """Options that cannot work (a bad URL, an unreadable CA or key): exit 2 before any deploy."""


class InternalError(DadcError):
    error = "InternalError"


class HealthGateFailed(InternalError):
    """A release failed its health gate, or is one that failed (and a recovery ran): retrying the
    same release would not help, so `dadc run --retry` does not; a failed recovery is final too."""

    retriable = False


class InvalidParameter(DadcError):
    error = "InvalidParameter"
    retriable = False


class UnknownVersion(InvalidParameter):
    pass


class ComposeFileError(InvalidParameter):
    pass


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


class UnsafeFile(InternalError):
    """A link, or an entry that belongs to someone other than root or the DockerUserId user, where
    dadc keeps its files: refused, nothing changed (it would make dadc write what that user chose)."""

    retriable = False


class Interrupted(DadcError):
    """SIGTERM or SIGINT interrupted a step: the rest of the start is skipped for the stop sequence."""

    retriable = False


class CommandFailed(DadcError):
    """A docker or compose command exited non-zero (or timed out)."""


class CommandNotFound(DadcError):
    pass


class LockHeld(DadcError):
    pass
