"""DockerUserId rules, and an S3 answer that is not what was asked for."""
from __future__ import annotations

import io
import os

import pytest

from connector.errors import InvalidParameter, SourceError
from connector.runtime import context
from connector.runtime.seams import s3 as sources


def test_docker_user_id_must_be_ours_when_not_root(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    assert context.run_as_for("1000") is None  # already that user
    with pytest.raises(InvalidParameter) as info:
        context.run_as_for("4322")
    assert "DockerUserId is 4322 but dadc runs as uid 1000" in str(info.value)


def test_docker_user_id_as_root_gives_the_user_and_the_docker_group(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(os, "geteuid", lambda: 0)
    run_as = context.run_as_for("65534")  # nobody
    assert run_as is not None and run_as.uid == 65534
    assert context.run_as_for(None) is None


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
