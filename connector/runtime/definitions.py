"""Where a definition comes from, and whether it changed: a local file, or an S3 object read with
a conditional request (If-None-Match on its ETag), so a fleet costs S3 one small request per
device per poll and nothing more when nothing changed. The last good S3 definition is kept
locally: a device that boots offline runs it."""
from __future__ import annotations

import hashlib
import json
import logging
from pathlib import Path
from typing import Callable, Protocol
from urllib.parse import urlsplit

from connector.errors import InvalidParameter, SourceError
from connector.runtime.seams.aws import Cloud
from connector.runtime.seams.local import atomic_write
from connector.runtime.seams.s3 import SourceUnreachable

log = logging.getLogger("dadc.definition")


class Source(Protocol):
    name: str

    def read(self, *, force: bool = False) -> bytes | None:
        """The definition's bytes when they changed since the last read (or force), else None."""

    def keep(self, raw: bytes) -> None:
        """Remember raw as the last good definition (for an offline boot)."""


class LocalFile:
    def __init__(self, path: str) -> None:
        self.name, self.path, self._seen = path, Path(path), ""

    def read(self, *, force: bool = False) -> bytes | None:
        try:
            raw = self.path.read_bytes()
        except OSError as exc:
            raise InvalidParameter(f"cannot read {self.path}: {exc.strerror}") from None
        digest = hashlib.sha256(raw).hexdigest()
        if digest == self._seen and not force:
            return None
        self._seen = digest
        return raw

    def keep(self, raw: bytes) -> None:
        pass  # the file is its own copy


class S3Object:
    def __init__(self, url: str, make_cloud: Callable[[], Cloud], state_dir: Path) -> None:
        parts = urlsplit(url)
        if parts.scheme != "s3" or not parts.netloc or not parts.path.strip("/"):
            raise InvalidParameter(f"{url!r}: give s3://BUCKET/KEY")
        self.name, self.bucket, self.key = url, parts.netloc, parts.path.lstrip("/")
        self.make_cloud: Callable[[], Cloud] = make_cloud
        self.etag: str | None = None
        self.cache = state_dir / "definitions" / (hashlib.sha256(url.encode()).hexdigest()[:16] + ".json")
        self._first = True

    def read(self, *, force: bool = False) -> bytes | None:
        first, self._first = self._first, False
        try:
            fetched = self.make_cloud().fetch(self.bucket, self.key, None,
                                              if_none_match=None if force or first else self.etag)
        except (SourceUnreachable, SourceError) as exc:
            if first and self.cache.is_file():  # booting offline: the last good definition runs
                log.warning("%s: %s; running the last good definition kept in %s", self.name, exc, self.cache)
                return json.loads(self.cache.read_text())["definition"].encode()
            if first:
                raise
            log.warning("%s: %s; the current deployment keeps running", self.name, exc)
            return None
        if fetched is None:
            return None  # 304: unchanged
        if fetched.etag == self.etag and not force:
            return None
        self.etag = fetched.etag
        return fetched.raw

    def keep(self, raw: bytes) -> None:
        self.cache.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        atomic_write(self.cache, json.dumps({"url": self.name, "etag": self.etag,
                                             "definition": raw.decode("utf-8", "replace")}).encode())


def source_for(definition: str, make_cloud: Callable[[], Cloud], state_dir: str) -> Source:
    if definition.startswith("s3://"):
        return S3Object(definition, make_cloud, Path(state_dir))
    return LocalFile(definition)
