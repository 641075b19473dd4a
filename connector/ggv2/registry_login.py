"""docker login for each registry secret, on a Greengrass V2 device without dadc (`dadc export
ggv2 --style native` ships this file as an artifact). It needs python3 and boto3 on the device.

The secret is read with the token exchange service's credentials (boto3's container provider
reads AWS_CONTAINER_CREDENTIALS_FULL_URI, which the nucleus sets), as the connector read it with
the group role: no IPC client library is needed and nothing is kept on the device. The password
goes to `docker login --password-stdin`: never in argv, a log line or an error.

Usage: registry_login.py ATTEMPTS DELAY OFFLINE_OK ARNS_JSON (AWSSecretsArnList as the connector took it)
exit 0: logged in (or, with OFFLINE_OK=true, the registry or Secrets Manager unreachable); 1: refused.
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


def login(host: str, user: str, password: str, attempts: int, delay: float) -> str:
    """'' when logged in, else what docker said (never the password)."""
    said = ""
    for attempt in range(1, attempts + 1):
        done = subprocess.run(["docker", "login", "--username", user, "--password-stdin", host],
                              input=password, text=True, capture_output=True)
        if done.returncode == 0:
            print(f"logged in to {host}")
            return ""
        said = (done.stderr or done.stdout).strip().replace(password, "***")
        if attempt < attempts:
            print(f"docker login {host} failed (attempt {attempt} of {attempts}): {said}", file=sys.stderr)
            time.sleep(delay * 2 ** (attempt - 1))
    return said


def main(argv: list[str]) -> int:
    attempts, delay, offline_ok, arns = int(argv[0]), float(argv[1]), argv[2] == "true", json.loads(argv[3])
    import boto3
    import botocore.exceptions
    client = boto3.client("secretsmanager")
    failed = 0
    for arn in arns:
        try:
            host, user, password = credentials(arn, client)
        except (botocore.exceptions.EndpointConnectionError, botocore.exceptions.ConnectTimeoutError,
                botocore.exceptions.NoCredentialsError) as exc:
            print(f"{arn}: Secrets Manager unreachable ({type(exc).__name__})", file=sys.stderr)
            failed += 0 if offline_ok else 1
            continue
        except Exception as exc:  # a refusal or a malformed secret: named by type, never its text
            print(f"{arn}: cannot read the secret ({type(exc).__name__})", file=sys.stderr)
            failed += 1
            continue
        said = login(host, user, password, attempts, delay)
        if said:
            print(f"docker login {host} failed: {said}", file=sys.stderr)
            unreachable = any(word in said.lower() for word in UNREACHABLE)
            failed += 0 if offline_ok and unreachable else 1
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
