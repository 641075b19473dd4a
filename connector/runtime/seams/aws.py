"""The AWS seam: what a start needs from AWS (the compose file from S3, registry logins from
Secrets Manager and ECR), behind one small protocol. AwsCloud is the boto3 implementation and
the only code that creates boto3 sessions; the conformance harness's recorded engine brings
an in-memory one, so it needs nothing beyond dadc's own dependencies."""
from __future__ import annotations

import os
from typing import Any, Callable, Protocol

from dadc.errors import CredentialsUnreachable, DadcError, SourceUnreachable
from dadc.runtime.seams import s3, secrets


class Cloud(Protocol):
    def fetch(self, bucket: str, key: str, version: str | None,
              if_none_match: str | None = None) -> s3.Fetched | None: ...
    def secret_logins(self, arns: list[str]) -> list[secrets.Login]: ...
    def ecr_logins(self, registries: dict[str, tuple[str, str]]) -> list[secrets.Login]: ...


class AwsCloud:
    """boto3 clients, created once per process and region, and only when a start needs them."""

    _shared: dict[tuple[str | None, ...], "AwsCloud"] = {}

    def __init__(self, region: str | None) -> None:
        import boto3
        self.session = boto3.session.Session(region_name=region)
        self._clients: dict[tuple[str, str | None], Any] = {}

    @classmethod
    def for_region(cls, region: str | None) -> "AwsCloud":
        """One per region, endpoint and credentials: loading botocore's models is the expensive
        part, and a process that deploys again (a fleet device, the harness) reuses them."""
        key = (region, os.environ.get("AWS_ENDPOINT_URL"), os.environ.get("AWS_ACCESS_KEY_ID"),
               os.environ.get("AWS_PROFILE"), os.environ.get("AWS_MAX_ATTEMPTS"), os.environ.get("AWS_RETRY_MODE"))
        if key not in cls._shared:
            cls._shared[key] = cls(region)
        return cls._shared[key]

    def client(self, service: str, region: str | None = None) -> Any:
        key = (service, region)
        if key not in self._clients:
            from botocore.config import Config
            # a device on a flaky link: fail within seconds, so an offline fallback or a retry can act;
            # botocore's own AWS_MAX_ATTEMPTS and AWS_RETRY_MODE still win where the operator sets them
            config = Config(connect_timeout=5, read_timeout=30, retries=retries(os.environ))
            self._clients[key] = self.session.client(service, region_name=region or self.session.region_name,
                                                     config=config)
        return self._clients[key]

    def _reached(self, service: str, unreachable: type[DadcError], what: str) -> Any:
        """A client; making one resolves the credentials (a container credentials endpoint that
        times out or answers 5xx when offline), so a failure there is the service not reached."""
        from botocore.exceptions import BotoCoreError
        try:
            return self.client(service)
        except BotoCoreError as exc:
            raise unreachable(f"{what} is unreachable: no credentials: {type(exc).__name__}") from None

    def fetch(self, bucket: str, key: str, version: str | None,
              if_none_match: str | None = None) -> s3.Fetched | None:
        client = self._reached("s3", SourceUnreachable, "S3")
        return s3.S3(client).fetch(bucket, key, version, if_none_match=if_none_match)

    def secret_logins(self, arns: list[str]) -> list[secrets.Login]:
        return secrets.from_secrets(self._reached("secretsmanager", CredentialsUnreachable, "Secrets Manager"), arns)

    def ecr_logins(self, registries: dict[str, tuple[str, str]]) -> list[secrets.Login]:
        return secrets.from_ecr(lambda region: self.client("ecr", region), registries)


def factory(region: str | None, cloud: Cloud | None = None) -> Callable[[], Cloud]:
    """The one way to get a cloud: the given one (the recorded engine's), else AwsCloud for the
    region, made when first asked for (a start that needs no AWS never loads boto3)."""
    if cloud is not None:
        return lambda: cloud

    def make() -> Cloud:
        return AwsCloud.for_region(region)
    return make


def retries(environ: "os._Environ[str] | dict[str, str]") -> dict[str, Any]:
    """3 attempts in botocore's standard mode, unless AWS_MAX_ATTEMPTS / AWS_RETRY_MODE say otherwise
    (an explicit Config would otherwise silently override them)."""
    try:
        attempts = max(1, int(environ.get("AWS_MAX_ATTEMPTS") or 3))
    except ValueError:
        attempts = 3
    return {"mode": environ.get("AWS_RETRY_MODE") or "standard", "max_attempts": attempts}
