"""DockerUserId rules, and an S3 answer that is not what was asked for."""
from __future__ import annotations

import io
import os

import pytest

from dadc.errors import InvalidParameter, SourceError
from dadc.runtime import context, dockeruser
from dadc.runtime.seams import s3 as sources


def test_docker_user_id_must_be_ours_when_not_root(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    assert dockeruser.run_as_for("1000") is None  # already that user
    with pytest.raises(InvalidParameter) as info:
        dockeruser.run_as_for("4322")
    assert "DockerUserId is 4322 but dadc runs as uid 1000" in str(info.value)


def test_docker_user_id_as_root_needs_the_docker_group_unless_granted(monkeypatch: pytest.MonkeyPatch) -> None:
    """The documentation: the Docker user "must belong to the docker Linux group". dadc refuses one
    that does not (naming the fix) unless --grant-docker-group, an extension, adds the group."""
    import grp
    monkeypatch.setattr(os, "geteuid", lambda: 0)
    monkeypatch.setattr(grp, "getgrnam", lambda name: grp.struct_group(("docker", "x", 4242, [])))
    with pytest.raises(InvalidParameter) as info:
        dockeruser.run_as_for("65534")  # nobody: not in the docker group
    assert "DockerUserId 65534 (nobody) is not a member of the docker group" in str(info.value)
    assert "usermod -aG docker nobody" in str(info.value) and "--grant-docker-group" in str(info.value)
    run_as = dockeruser.run_as_for("65534", grant_docker_group=True)
    assert run_as is not None and run_as.uid == 65534 and 4242 in run_as.groups
    monkeypatch.setattr(os, "getgrouplist", lambda name, gid: [gid, 4242])  # a member, as the docs ask
    member = dockeruser.run_as_for("65534")
    assert member is not None and 4242 in member.groups
    assert dockeruser.run_as_for(None) is None


def test_docker_and_compose_get_what_they_need_and_never_dadcs_secrets(tmp_path: "os.PathLike[str]") -> None:
    from pathlib import Path
    environ = {"PATH": "/usr/bin", "LANG": "C.UTF-8", "DOCKER_HOST": "unix:///run/d.sock", "COMPOSE_PROFILES": "a",
               "HTTPS_PROXY": "http://proxy:3128", "AWS_SECRET_ACCESS_KEY": "s3cr3t", "AWS_ACCESS_KEY_ID": "AKIA",
               "AWS_SESSION_TOKEN": "tok", "DADC_MQTT_PASSWORD": "mqtt-pw", "APP_TAG": "1.2", "DB_URL": "x",
               "HOME": "/root"}
    env = context.docker_environment(environ, ("APP_TAG", "AWS_SECRET_ACCESS_KEY"), Path("/d/.docker"), "/home/u")
    assert env == {"PATH": "/usr/bin", "LANG": "C.UTF-8", "DOCKER_HOST": "unix:///run/d.sock", "COMPOSE_PROFILES": "a",
                   "HTTPS_PROXY": "http://proxy:3128", "APP_TAG": "1.2", "DOCKER_CONFIG": "/d/.docker",
                   "HOME": "/home/u"}


class FakeS3:
    def __init__(self, version: str | None, body: bytes = b"services: {web: {image: x}}\n") -> None:
        self.version, self.body = version, body

    def get_object(self, **request: str) -> dict[str, object]:
        return {"Body": io.BytesIO(self.body), "VersionId": self.version, "ContentLength": len(self.body)}


def test_a_different_version_than_asked_is_never_deployed() -> None:
    with pytest.raises(SourceError) as info:
        sources.S3(FakeS3("v2")).fetch("b", "k", "v1")
    assert "returned version v2 when v1 was asked for" in str(info.value)
    assert sources.S3(FakeS3("v1")).fetch("b", "k", "v1").version_id == "v1"


def test_reading_stops_at_the_cap() -> None:
    big = FakeS3(None, b"#" * (sources.MAX_BYTES + 10))
    with pytest.raises(InvalidParameter) as info:
        sources.S3(big).fetch("b", "k", None)
    assert "larger than" in str(info.value)


def test_aws_retries_are_botocores_own_settings_where_the_operator_set_them() -> None:
    from dadc.runtime.seams.aws import retries
    assert retries({}) == {"mode": "standard", "max_attempts": 3}
    assert retries({"AWS_MAX_ATTEMPTS": "1", "AWS_RETRY_MODE": "adaptive"}) == {"mode": "adaptive", "max_attempts": 1}
    assert retries({"AWS_MAX_ATTEMPTS": "many"})["max_attempts"] == 3
    assert retries({"AWS_MAX_ATTEMPTS": "0"})["max_attempts"] == 1
