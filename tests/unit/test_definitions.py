"""Definition sources: a changed definition is noticed; an unchanged one costs one conditional
request; a device that boots offline runs the last good definition kept locally."""
from __future__ import annotations

from pathlib import Path

import pytest

from dadc.errors import InvalidParameter
from dadc.options import RuntimeOptions
from dadc.runtime.definitions import LocalFile, S3Object, Stdin, resolve
from dadc.runtime.seams.s3 import Fetched, SourceUnreachable


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
    source = resolve(RuntimeOptions(definition=str(path), state_dir=str(tmp_path)), lambda: Cloud()).source
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


def test_every_command_form_resolves_in_one_place(tmp_path: Path) -> None:
    """--definition and --parameters take a file, '-' or s3://; the S3 source reads with the cloud
    it is given (the recorded engine's, in the harness)."""
    cloud = Cloud()
    found = resolve(RuntimeOptions(parameters="s3://b/params.json", version="7", state_dir=str(tmp_path)),
                    lambda: cloud)
    assert isinstance(found.source, S3Object) and found.bare and found.version == "7"
    assert found.source.read() == b'{"v": 1}' and cloud.asked == [None]
    assert isinstance(resolve(RuntimeOptions(definition="-"), lambda: cloud).source, Stdin)
    local = resolve(RuntimeOptions(definition=str(tmp_path / "d.json"), connector_id="x"), lambda: cloud)
    assert isinstance(local.source, LocalFile) and not local.bare and local.connector_id == "x"
    with pytest.raises(InvalidParameter, match="give s3://BUCKET/KEY"):
        resolve(RuntimeOptions(definition="s3://bucket-only"), lambda: cloud)


def test_a_bare_parameters_object_on_s3_is_validated_with_its_version(tmp_path: Path) -> None:
    cloud = Cloud()
    cloud.body = (b'{"DockerComposeFileS3Bucket": "bucket", "DockerComposeFileS3Key": "k.yml", '
                  b'"DockerComposeFileDestinationPath": "/srv/app"}')
    config = resolve(RuntimeOptions(parameters="s3://b/p.json", version="v7", state_dir=str(tmp_path)),
                     lambda: cloud).read_config()
    assert config.profile.version == 7 and config.params["DockerComposeFileS3Key"] == "k.yml"
    with pytest.raises(InvalidParameter, match="--parameters needs --version"):
        resolve(RuntimeOptions(parameters="s3://b/p.json", state_dir=str(tmp_path)), lambda: cloud).read_config()


class Body:
    """A response body that ends early: S3 announced more than the connection carried."""

    def __init__(self, data: bytes) -> None:
        self.data = data

    def read(self, amt: int) -> bytes:
        chunk, self.data = self.data[:amt], self.data[amt:]
        return chunk

    def close(self) -> None:
        pass


def test_a_body_shorter_or_longer_than_its_content_length_is_refused() -> None:
    from dadc.errors import SourceError
    from dadc.runtime.seams.s3 import MAX_BYTES, read_whole
    whole = b"services:\n  web:\n    image: a\n  worker:\n    image: b\n"
    cut = whole[:whole.index(b"  worker")]  # a line boundary: still valid YAML, one service short
    assert read_whole(Body(whole), len(whole), "s3://b/k") == whole
    with pytest.raises(SourceError, match=f"sent {len(cut)} of its {len(whole)} bytes"):
        read_whole(Body(cut), len(whole), "s3://b/k")
    with pytest.raises(SourceError, match="sent"):
        read_whole(Body(whole + b"more"), len(whole), "s3://b/k")
    with pytest.raises(InvalidParameter, match="larger than"):
        read_whole(Body(b""), MAX_BYTES + 1, "s3://b/k")
