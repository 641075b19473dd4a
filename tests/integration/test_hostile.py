"""Hostile or broken input, and secrets: rejected cleanly, nothing running touched, nothing leaked."""
from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from tests.integration.bed import Bed, compose_text, containers, statuses
from tests.integration.faults import read_all

BOMB = ("services:\n  web: {image: x}\nx-0: &a0 [1, 2, 3, 4, 5, 6, 7, 8, 9]\n"
        + "".join(f"x-{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 9)}]\n" for i in range(1, 9)))
HOSTILE = {
    "alias-bomb": BOMB.encode(),
    "deep-nesting": b"services:\n  web: " + b"[" * 20000 + b"]" * 20000 + b"\n",
    "not-utf8": b"services:\n  web:\n    image: \xff\xfe\n",
    "duplicate-keys": b"services:\n  web:\n    image: a\n  web:\n    image: b\n",
    "not-a-mapping": b"- services\n- web\n",
    "huge-100mb": b"services:\n  web: {image: x}\n" + b"#" * 100 * 1024 * 1024,
}


@pytest.fixture
def running_app(bed: Bed) -> tuple[Path, list[dict[str, str]], bytes]:
    bed.put(compose_text({"web": bed.open_image}))
    definition = bed.definition(6)
    assert bed.dadc("deploy", "--definition", str(definition)).returncode == 0
    return definition, containers(running_only=True), (bed.dest / "docker-compose.yml").read_bytes()


@pytest.mark.parametrize("name", list(HOSTILE))
def test_hostile_compose_files_are_rejected_quickly(bed: Bed, running_app: tuple, name: str) -> None:  # type: ignore[type-arg]
    definition, running, good = running_app
    bed.put(HOSTILE[name])
    started = time.monotonic()
    proc = bed.dadc("deploy", "--definition", str(definition))
    assert time.monotonic() - started < 30
    assert proc.returncode == 1
    status = statuses(proc.stdout)[-1]
    assert status["error"] == "InvalidParameter" and "s3://" in status["error_message"], status
    assert containers(running_only=True) == running
    assert (bed.dest / "docker-compose.yml").read_bytes() == good
    assert " pull" not in proc.stderr and " down" not in proc.stderr


@pytest.mark.parametrize("key", ["../../outside.yml", "/abs/olute.yml", "a/../../b.yml", "$(touch {marker});`touch {marker}`.yml"])
def test_keys_never_place_files_outside_and_never_reach_a_shell(bed: Bed, key: str) -> None:
    marker = bed.tmp / "pwned"
    key = key.format(marker=marker)
    bed.put(compose_text({"web": bed.open_image}), key=key)
    definition = bed.definition(6, DockerComposeFileS3Key=key)
    before = sorted(p.name for p in bed.tmp.iterdir())
    proc = bed.dadc("deploy", "--definition", str(definition))
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert sorted(p.name for p in bed.tmp.iterdir()) == before and not marker.exists()
    assert sorted(p.name for p in bed.dest.iterdir()) == [".docker", "docker-compose.yml"]


@pytest.mark.parametrize(("secret", "words"), [
    ({"SecretBinary": b"\x00\x01"}, "binary secret"),
    ({"SecretString": "username=a password=b"}, "not JSON"),
    ({"SecretString": json.dumps({"username": "u", "password": "p"})}, "lacks registryUrl"),
    ({"SecretString": json.dumps({"username": "u", "password": "p", "registryUrl": "https://r.io/a/b"})}, "has a path"),
])
def test_broken_secrets_are_invalid_parameters(bed: Bed, aws_clients: dict[str, Any], unique: str,
                                               secret: dict[str, Any], words: str) -> None:
    arn = aws_clients["secretsmanager"].create_secret(Name=f"greengrass-broken-{unique}", **secret)["ARN"]
    bed.put(compose_text({"web": bed.open_image}))
    proc = bed.dadc("deploy", "--definition", str(bed.definition(6, AWSSecretsArnList=json.dumps([arn]))))
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    status = statuses(proc.stdout)[-1]
    assert status["error"] == "InvalidParameter" and words in status["error_message"]
    assert containers() == []


def test_loose_destination_permissions_are_warned_about(bed: Bed) -> None:
    bed.dest.chmod(0o777)
    bed.put(compose_text({"web": bed.open_image}))
    proc = bed.dadc("deploy", "--definition", str(bed.definition(6)))
    assert proc.returncode == 0 and "writable by group or others (mode 777)" in proc.stderr
    assert (bed.dest / ".docker").stat().st_mode & 0o777 == 0o700


def test_no_secret_anywhere(bed: Bed, pushed_image: str, registry_secret: str, tmp_path: Path) -> None:
    """Registry password and ECR token: never in argv (snapshotted during login), logs, status,
    or any file dadc wrote other than the Docker config (0600)."""
    password, token = bed.env["DADC_REGISTRY_PASSWORD"], "123456789012-auth-token"
    wrappers = tmp_path / "wrappers"
    wrappers.mkdir()
    snapshots = tmp_path / "cmdlines"
    real = subprocess.run(["sh", "-c", "command -v docker"], capture_output=True, text=True).stdout.strip()
    (wrappers / "docker").write_text(f"#!/bin/sh\nps -eo args >> {snapshots}\nexec {real} \"$@\"\n")
    (wrappers / "docker").chmod(0o755)
    ecr = f"{bed.env['DADC_ECR_HOST']}/{bed.env['DADC_BASE_IMAGE']}"
    bed.put(compose_text({"web": pushed_image, "worker": ecr}))
    log = tmp_path / "dadc.log"
    env = dict(os.environ, PATH=f"{wrappers}:{os.environ['PATH']}")
    proc = bed.dadc("deploy", "--definition", str(bed.definition(5, AWSSecretsArnList=json.dumps([registry_secret]))),
                    "--log-file", str(log), env=env)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "login" in snapshots.read_text()
    written = read_all(bed.dest)
    config = str(bed.dest / ".docker" / "config.json")
    assert (bed.dest / ".docker" / "config.json").stat().st_mode & 0o777 == 0o600
    everything = {"stdout": proc.stdout.encode(), "stderr": proc.stderr.encode(), "log": log.read_bytes(),
                  "argv snapshots": snapshots.read_bytes(),
                  **{k: v for k, v in written.items() if k != config}}
    for name, data in everything.items():
        for secret in (password, token):
            assert secret.encode() not in data, f"{secret[:3]}… found in {name}"
