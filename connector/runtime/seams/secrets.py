"""The registry-credentials seam: Secrets Manager secrets and ECR tokens, read into Logins.
With seams/docker.py (which hands a password to `docker login` on stdin) the only code that
holds a password; neither puts one in argv, logs, messages or exception text."""
from __future__ import annotations

import base64
import json
import logging
from dataclasses import dataclass, field
from typing import Any, Callable
from urllib.parse import urlsplit

from dadc.errors import CredentialError, CredentialsUnreachable, InvalidParameter

log = logging.getLogger("dadc.credentials")
_DOCKER_HUB_PATHS = {"", "/", "/v1", "/v1/", "/v2", "/v2/"}


@dataclass(frozen=True)
class Login:
    registry: str
    username: str
    password: str = field(repr=False)
    source: str  # the secret ARN or "ECR", for messages

    def __repr__(self) -> str:  # never show the password, even by accident
        return f"Login(registry={self.registry!r}, username={self.username!r}, source={self.source!r})"


def registry_host(url: str, source: str) -> str:
    """registryUrl as docker login wants it: host[:port]. A scheme is allowed (the reference's
    example has one); another path than Docker Hub's /v1/ is not."""
    text = url.strip()
    parts = urlsplit(text if "://" in text else f"//{text}")
    if parts.scheme not in ("", "http", "https") or not parts.hostname:
        raise InvalidParameter(f"{source}: registryUrl {text!r} is not host[:port] or https://host[:port]")
    if parts.path not in _DOCKER_HUB_PATHS or parts.query or parts.fragment or parts.username:
        raise InvalidParameter(f"{source}: registryUrl {text!r} has a path; give the registry's host[:port]")
    return parts.netloc


def parse_secret(arn: str, response: dict[str, Any]) -> Login:
    """Read username, password and registryUrl from a secret, object or list-of-objects form."""
    if "SecretString" not in response:
        raise InvalidParameter(f"{arn}: a binary secret; store username, password and registryUrl as JSON text")
    try:
        value = json.loads(response["SecretString"])
    except ValueError:
        raise InvalidParameter(f"{arn}: the secret is not JSON; it needs username, password and registryUrl") from None
    if isinstance(value, list) and all(isinstance(i, dict) for i in value):
        merged: dict[str, Any] = {}
        for item in value:  # [{"username":...},{"password":...},{"registryUrl":...}] (create-secret example)
            merged.update(item)
        value = merged
    if not isinstance(value, dict):
        raise InvalidParameter(f"{arn}: the secret must be a JSON object with username, password, registryUrl")
    missing = [k for k in ("username", "password", "registryUrl") if not isinstance(value.get(k), str) or not value[k]]
    if missing:
        raise InvalidParameter(f"{arn}: the secret lacks {', '.join(missing)}")
    return Login(registry_host(value["registryUrl"], arn), value["username"], value["password"], arn)


def from_secrets(client: Any, arns: list[str]) -> list[Login]:
    from botocore.exceptions import BotoCoreError, ClientError
    logins = []
    for arn in arns:
        try:
            response = client.get_secret_value(SecretId=arn)
        except BotoCoreError as exc:  # never reached: an offline fallback may apply
            raise CredentialsUnreachable(f"{arn}: Secrets Manager is unreachable: {type(exc).__name__}") from None
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "error")
            kind = InvalidParameter if code in ("ResourceNotFoundException", "AccessDeniedException") else CredentialError
            raise kind(f"{arn}: cannot read the secret: {code}") from None
        logins.append(parse_secret(arn, response))
    return logins


def from_ecr(client_for: Callable[[str], Any], registries: dict[str, tuple[str, str]]) -> list[Login]:
    """A fresh token per ECR registry (they last 12 hours; fetched at every start)."""
    from botocore.exceptions import BotoCoreError, ClientError
    logins = []
    for host, (account, region) in registries.items():
        try:
            data = client_for(region).get_authorization_token(registryIds=[account])["authorizationData"][0]
        except BotoCoreError as exc:  # never reached: an offline fallback may apply
            raise CredentialsUnreachable(f"ECR {host}: the token endpoint is unreachable: {type(exc).__name__}") from None
        except ClientError as exc:  # refused: not offline
            code = exc.response.get("Error", {}).get("Code", "error")
            raise CredentialError(f"ECR {host}: cannot get an authorization token: {code}") from None
        user, _, password = base64.b64decode(data["authorizationToken"]).decode().partition(":")
        logins.append(Login(host, user, password, "ECR"))
    return logins
