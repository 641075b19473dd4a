"""Secrets parsing, registry URLs, and a password that never leaves stdin."""
from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest

from dadc.errors import CredentialError, InvalidParameter
from dadc.runtime.seams import process
from dadc.runtime.seams import secrets as credentials
from dadc.runtime.seams.docker import Docker

ARN = "arn:aws:secretsmanager:us-east-1:123456789012:secret:greengrass-x-AbCdEf"
PASSWORD = "s3cr3t-Pa55word-XYZ"


@pytest.mark.parametrize("value", [
    {"username": "u", "password": PASSWORD, "registryUrl": "registry.example.com:5000"},
    [{"username": "u"}, {"password": PASSWORD}, {"registryUrl": "https://registry.example.com:5000"}],
])
def test_both_secret_forms(value: object) -> None:
    login = credentials.parse_secret(ARN, {"SecretString": json.dumps(value)})
    assert (login.registry, login.username, login.password) == ("registry.example.com:5000", "u", PASSWORD)
    assert PASSWORD not in repr(login) and PASSWORD not in str(login)


@pytest.mark.parametrize(("response", "words"), [
    ({"SecretBinary": b"x"}, "binary"),
    ({"SecretString": "not json"}, "not JSON"),
    ({"SecretString": json.dumps({"username": "u", "password": PASSWORD})}, "lacks registryUrl"),
    ({"SecretString": json.dumps({"username": "u", "registryUrl": "r"})}, "lacks password"),
    ({"SecretString": json.dumps("text")}, "JSON object"),
    ({"SecretString": json.dumps({"username": "u", "password": PASSWORD, "registryUrl": "https://r.io/some/path"})}, "path"),
    ({"SecretString": json.dumps({"username": "u", "password": PASSWORD, "registryUrl": "ftp://r.io"})}, "host"),
])
def test_bad_secrets_are_invalid_parameters_without_the_password(response: dict, words: str) -> None:  # type: ignore[type-arg]
    with pytest.raises(InvalidParameter) as info:
        credentials.parse_secret(ARN, response)
    assert words in str(info.value) and PASSWORD not in str(info.value)


def test_docker_hub_url_forms() -> None:
    assert credentials.registry_host("https://index.docker.io/v1/", ARN) == "index.docker.io"
    assert credentials.registry_host("https://docker.io", ARN) == "docker.io"


def test_ecr_registries_found_in_images() -> None:
    from dadc.domain.images import ecr_registries
    found = ecr_registries(("123456789012.dkr.ecr.eu-west-1.amazonaws.com/app:1", "nginx",
                                        "registry:5000/x", "210987654321.dkr.ecr.cn-north-1.amazonaws.com.cn/y"))
    assert found == {"123456789012.dkr.ecr.eu-west-1.amazonaws.com": ("123456789012", "eu-west-1"),
                     "210987654321.dkr.ecr.cn-north-1.amazonaws.com.cn": ("210987654321", "cn-north-1")}


def fake_docker(tmp_path: Path, exit_code: int) -> Path:
    """A docker that records argv and stdin, then echoes stdin on stderr as a hostile tool might."""
    script = tmp_path / "docker"
    script.write_text(f"#!/bin/sh\necho \"$@\" >> {tmp_path}/argv\ncat > {tmp_path}/stdin\n"
                      f"echo \"error: bad credentials $(cat {tmp_path}/stdin)\" >&2\n"
                      f"mkdir -p \"$2\" && echo {{}} > \"$2/config.json\"\nexit {exit_code}\n")
    script.chmod(0o755)
    return script


def test_login_passes_the_password_on_stdin_only(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level("DEBUG")
    login = credentials.Login("r.example:5000", "user", PASSWORD, ARN)
    from dadc.runtime.seams.local import Destination
    dest = Destination(tmp_path)
    Docker(str(fake_docker(tmp_path, 0))).login(dest.docker_config, login)
    assert (tmp_path / "stdin").read_text() == PASSWORD
    assert PASSWORD not in (tmp_path / "argv").read_text()
    assert "--password-stdin" in (tmp_path / "argv").read_text()
    assert PASSWORD not in caplog.text
    (dest.docker_config / "config.json").chmod(0o644)  # as a docker with another umask might leave it
    dest.private_docker_config()  # what the login step does next
    assert stat.S_IMODE(os.stat(dest.docker_config / "config.json").st_mode) == 0o600


def test_a_failed_login_never_shows_the_password(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    login = credentials.Login("r.example:5000", "user", PASSWORD, ARN)
    with pytest.raises(CredentialError) as info:
        Docker(str(fake_docker(tmp_path, 1))).login(tmp_path / "cfg", login)
    assert PASSWORD not in str(info.value) and PASSWORD not in repr(vars(info.value))
    assert "********" in str(info.value) and PASSWORD not in caplog.text


def test_run_seam_never_uses_a_shell(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    result = process.run(["echo", f"; touch {marker}", "$(touch " + str(marker) + ")"])
    assert not marker.exists() and "touch" in result.stdout
