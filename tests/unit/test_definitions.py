"""Definition sources: a changed definition is noticed; an unchanged one costs one conditional
request; a device that boots offline runs the last good definition kept locally."""
from __future__ import annotations

from pathlib import Path

import pytest

from connector.errors import InvalidParameter
from connector.runtime.definitions import LocalFile, S3Object, source_for
from connector.runtime.seams.s3 import Fetched, SourceUnreachable


class Cloud:
    def __init__(self) -> None:
        self.body, self.etag, self.down, self.asked = b'{"v": 1}', '"e1"', False, []

    def fetch(self, bucket: str, key: str, version: str | None, if_none_match: str | None = None) -> Fetched | None:
        self.asked.append(if_none_match)
        if self.down:
            raise SourceUnreachable("S3 is unreachable: EndpointConnectionError")
        if if_none_match == self.etag:
            return None
        return Fetched(self.body, None, self.etag)


def test_an_s3_definition_is_read_with_a_conditional_request(tmp_path: Path) -> None:
    cloud = Cloud()
    source = S3Object("s3://group-bucket/fleet/definition.json", lambda: cloud, tmp_path)
    assert (source.bucket, source.key) == ("group-bucket", "fleet/definition.json")
    assert source.read() == b'{"v": 1}' and cloud.asked == [None]
    assert source.read() is None and cloud.asked[-1] == '"e1"'  # unchanged: one 304, nothing more
    cloud.body, cloud.etag = b'{"v": 2}', '"e2"'
    assert source.read() == b'{"v": 2}'
    assert source.read(force=True) == b'{"v": 2}'  # SIGHUP: read it whatever its ETag


def test_an_offline_boot_runs_the_kept_definition(tmp_path: Path) -> None:
    cloud = Cloud()
    online = S3Object("s3://b/k.json", lambda: cloud, tmp_path)
    online.keep(online.read() or b"")
    cloud.down = True
    rebooted = S3Object("s3://b/k.json", lambda: cloud, tmp_path)
    assert rebooted.read() == b'{"v": 1}'  # the kept copy
    assert rebooted.read() is None  # later: the current deployment keeps running
    with pytest.raises(SourceUnreachable):
        S3Object("s3://b/other.json", lambda: cloud, tmp_path).read()  # nothing kept for this one


def test_a_local_file_changes_when_its_bytes_do(tmp_path: Path) -> None:
    path = tmp_path / "definition.json"
    path.write_text("{}")
    source = source_for(str(path), lambda: Cloud(), str(tmp_path))
    assert isinstance(source, LocalFile)
    assert source.read() == b"{}" and source.read() is None
    path.write_text("{ }")
    assert source.read() == b"{ }"
    assert source.read(force=True) == b"{ }"
    path.unlink()
    with pytest.raises(InvalidParameter):
        source.read()


@pytest.mark.parametrize("url", ["s3://", "s3://bucket", "s3://bucket/"])
def test_an_s3_url_names_a_bucket_and_a_key(url: str, tmp_path: Path) -> None:
    with pytest.raises(InvalidParameter):
        S3Object(url, lambda: Cloud(), tmp_path)
