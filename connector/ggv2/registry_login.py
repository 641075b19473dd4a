"""docker login for each registry secret, on a Greengrass V2 device without dadc (`dadc export
ggv2 --style native` ships this file as an artifact). It needs python3 and boto3 on the device.

The secret is read with the token exchange service's credentials (boto3's container provider
reads AWS_CONTAINER_CREDENTIALS_FULL_URI, which the nucleus sets), as the connector read it with
the group role: no IPC client library is needed and nothing is kept on the device. The password
goes to `docker login --password-stdin`: never in argv, a log line or an error.

Usage: registry_login.py DELAYS OFFLINE_OK ARNS_JSON ECR_HOSTS
  DELAYS: the pauses between login attempts, comma-separated, as dadc's planner plans them ('' one try)
  ARNS_JSON: AWSSecretsArnList as the connector took it ('' or [] for none)
  ECR_HOSTS: the ECR registries of the compose file's images, comma-separated: a token from ECR with
    the same credentials, for the pulls the lifecycle makes itself (DockerPullBeforeUp)
exit 0: logged in (or, with OFFLINE_OK=true, the registry, Secrets Manager, ECR or the credentials
unreachable: the token exchange service answers 500 or 504 while the device is offline); 1: refused.
"""
from __future__ import annotations

import json
import subprocess
import sys
import time
from urllib.parse import urlsplit

UNREACHABLE = ("connection refused", "no such host", "i/o timeout", "network is unreachable", "timeout",
               "connection reset", "tls handshake")


def credentials(arn: str, client: object) -> tuple[str, str, str]:
    value = json.loads(client.get_secret_value(SecretId=arn)["SecretString"])  # type: ignore[attr-defined]
    if isinstance(value, list):  # [{"username":..},{"password":..},{"registryUrl":..}]
        merged: dict[str, str] = {}
        for item in value:
            merged.update(item)
        value = merged
    url = value["registryUrl"].strip()
    host = urlsplit(url if "://" in url else "//" + url).netloc
    return host, value["username"], value["password"]


def login(host: str, user: str, password: str, delays: list[float]) -> str:
    """'' when logged in, else what docker said (never the password)."""
    said = ""
    attempts = len(delays) + 1
    for attempt in range(1, attempts + 1):
        done = subprocess.run(["docker", "login", "--username", user, "--password-stdin", host],
                              input=password, text=True, capture_output=True)
        if done.returncode == 0:
            print(f"logged in to {host}")
            return ""
        said = (done.stderr or done.stdout).strip().replace(password, "***")
        if attempt < attempts:
            print(f"docker login {host} failed (attempt {attempt} of {attempts}): {said}", file=sys.stderr)
            time.sleep(delays[attempt - 1])
    return said


def unreachable_errors() -> tuple[type[BaseException], ...]:
    """What botocore raises when Secrets Manager or the credentials cannot be reached (offline, the
    token exchange service answers the credentials URI with 500 or 504): not a refusal."""
    import botocore.exceptions as e
    names = ("EndpointConnectionError", "ConnectTimeoutError", "ReadTimeoutError", "ConnectionClosedError",
             "NoCredentialsError", "CredentialRetrievalError", "PartialCredentialsError")
    return tuple(getattr(e, name) for name in names if hasattr(e, name))


def ecr_credentials(host: str) -> tuple[str, str, str]:
    """A token from ECR for the registry host ACCOUNT.dkr.ecr.REGION.amazonaws.com."""
    import base64

    import boto3
    account, region = host.split(".")[0], host.split(".")[3]
    data = boto3.client("ecr", region_name=region).get_authorization_token(registryIds=[account])
    user, _, password = base64.b64decode(data["authorizationData"][0]["authorizationToken"]).decode().partition(":")
    return host, user, password


def main(argv: list[str]) -> int:
    delays = [float(d) for d in argv[0].split(",") if d]
    offline_ok = argv[1] == "true"
    arns = json.loads(argv[2]) if argv[2].strip() else []
    ecr = [h for h in (argv[3] if len(argv) > 3 else "").split(",") if h]
    import boto3
    gone = unreachable_errors()
    failed = 0
    client = None

    def secret(arn: str) -> tuple[str, str, str]:
        nonlocal client
        client = client or boto3.client("secretsmanager")
        return credentials(arn, client)
    sources = [(arn, "Secrets Manager", lambda arn=arn: secret(arn)) for arn in arns] + \
        [(host, "ECR", lambda host=host: ecr_credentials(host)) for host in ecr]
    for name, service, read in sources:
        try:
            host, user, password = read()
        except gone as exc:
            print(f"{name}: {service} unreachable ({type(exc).__name__})", file=sys.stderr)
            failed += 0 if offline_ok else 1
            continue
        except Exception as exc:  # a refusal or a malformed secret: named by type, never its text
            print(f"{name}: cannot read the {'secret' if service != 'ECR' else 'token'} ({type(exc).__name__})",
                  file=sys.stderr)
            failed += 1
            continue
        said = login(host, user, password, delays)
        if said:
            print(f"docker login {host} failed: {said}", file=sys.stderr)
            unreachable = any(word in said.lower() for word in UNREACHABLE)
            failed += 0 if offline_ok and unreachable else 1
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
