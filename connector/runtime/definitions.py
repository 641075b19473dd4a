"""Where a definition comes from, and whether it changed, decided once for every command by
resolve(): a local file, standard input ('-'), or an S3 object read with a conditional request
(If-None-Match on its ETag), so a fleet costs S3 one small request per device per poll and nothing
more when nothing changed. The last good S3 definition is kept locally: a device that boots
offline runs it. `--definition` and `--parameters` (a bare Parameters object, with `--version`)
take the same forms."""
from __future__ import annotations

import base64
import hashlib
import json
import logging
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Protocol
from urllib.parse import urlsplit

from dadc.errors import DefinitionUnreadable, InvalidParameter, SourceError, Unreachable
from dadc.options import RuntimeOptions
from dadc.runtime.seams.aws import Cloud
from dadc.runtime.seams.s3 import Fetched
from dadc.runtime.seams.local import atomic_write

if TYPE_CHECKING:
    from dadc.runtime.settings import Config

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
            raise DefinitionUnreadable(f"cannot read {self.path}: {exc.strerror}") from None
        digest = hashlib.sha256(raw).hexdigest()
        if digest == self._seen and not force:
            return None
        self._seen = digest
        return raw

    def keep(self, raw: bytes) -> None:
        pass  # the file is its own copy


class Stdin:
    """'-': read once; it never changes afterwards."""

    name = "<stdin>"

    def __init__(self) -> None:
        self._raw: bytes | None = None

    def read(self, *, force: bool = False) -> bytes | None:
        if self._raw is None:
            self._raw = sys.stdin.buffer.read()
            return self._raw
        return self._raw if force else None

    def keep(self, raw: bytes) -> None:
        pass


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
        self.in_child = False  # `dadc run`: each GET in a short-lived child (fetchdef.py), boto3 never loaded here

    def read(self, *, force: bool = False) -> bytes | None:
        first, self._first = self._first, False
        try:
            fetched = self._fetch(None if force or first else self.etag)
        except (Unreachable, SourceError) as exc:
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

    def _fetch(self, etag: str | None) -> Fetched | None:
        if not self.in_child:
            return self.make_cloud().fetch(self.bucket, self.key, None, if_none_match=etag)
        from dadc.runtime import fetchdef
        from dadc.runtime.seams import process
        import os
        root = str(Path(__file__).resolve().parents[2])  # the same dadc as this process, wherever it runs from
        env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, (root, os.environ.get("PYTHONPATH")))))
        done = process.run([sys.executable, "-m", "dadc.runtime.fetchdef", self.name, etag or ""],
                           timeout=120, check=False, env=env)
        try:
            answer = json.loads(done.stdout.strip().splitlines()[-1])
        except (ValueError, IndexError):
            raise SourceError(f"{self.name}: the fetch exited {done.returncode}: "
                              f"{done.stderr.strip()[-300:] or 'no answer'}") from None
        if "error" in answer:
            raise fetchdef.KINDS.get(answer["error"], SourceError)(answer["message"])
        if not answer["changed"]:
            return None
        return Fetched(base64.b64decode(answer["raw"]), None, answer["etag"])

    def keep(self, raw: bytes) -> None:
        self.cache.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        atomic_write(self.cache, json.dumps({"url": self.name, "etag": self.etag,
                                             "definition": raw.decode("utf-8", "replace")}).encode())


@dataclass(frozen=True)
class Definition:
    """The definition a command works on: where it comes from, and how to read its connector."""

    source: Source
    bare: bool  # a Parameters object: --version says whose
    version: str | None
    connector_id: str | None

    def config(self, raw: bytes, api_shape: bool = True) -> "Config":
        """Validated, our connector picked: InvalidParameter names the first error and its place."""
        from dadc.runtime import settings
        return settings.from_bytes(self.source.name, raw, version=self.version, connector_id=self.connector_id,
                                   bare=self.bare, api_shape=api_shape)

    def read_config(self) -> "Config":
        raw = self.source.read(force=True)
        assert raw is not None  # a forced read always has bytes, or raises
        return self.config(raw)


def resolve(options: RuntimeOptions, make_cloud: Callable[[], Cloud]) -> Definition:
    """--definition or --parameters, as a file, '-' or s3://BUCKET/KEY: the one place that decides."""
    where = options.definition or options.parameters
    if not where:
        raise InvalidParameter("give --definition or --parameters")
    source: Source
    if where.startswith("s3://"):
        from dadc.runtime.seams.state import default_state_dir
        source = S3Object(where, make_cloud, Path(options.state_dir or default_state_dir()))
    elif where == "-":
        source = Stdin()
    else:
        source = LocalFile(where)
    return Definition(source, bool(options.parameters), options.version, options.connector_id)
