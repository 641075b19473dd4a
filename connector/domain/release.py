"""A release and the history's entries, as types: everything compose read to make a deployment
(each file by its sha256) and the images it ran, where it came from, and how it ended.

A release is its files and its images: the same compose file started again with other images (a
tag pushed again) is another release, and "the same release" compares both. Bodies are kept once
each, by sha256, beside the history (runtime/seams/state.py); an entry only names them."""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any, Literal

COMPOSE_NAME = "docker-compose.yml"  # the local copy: the connector's name for it in the destination
Outcome = Literal["good", "failed"]


def sha256(raw: bytes) -> str:
    return hashlib.sha256(raw).hexdigest()


@dataclass(frozen=True)
class Source:
    """Where a compose file came from: the definition's bucket and key, the version it asked for,
    and the version S3 served."""

    bucket: str = ""
    key: str = ""
    requested_version: str | None = None
    version_id: str | None = None

    def describe(self) -> str:
        return f"s3://{self.bucket}/{self.key} version {self.version_id or '-'}"

    def names_the_same(self, other: "Source") -> bool:
        """The same object asked for (the version S3 served aside)."""
        return (self.bucket, self.key, self.requested_version) == (other.bucket, other.key, other.requested_version)

    def to_json(self) -> dict[str, Any]:
        return {"bucket": self.bucket, "key": self.key, "requested_version": self.requested_version,
                "version_id": self.version_id}

    @classmethod
    def from_json(cls, raw: Any) -> "Source":
        raw = raw if isinstance(raw, dict) else {}
        text = lambda k: str(raw[k]) if isinstance(raw.get(k), (str, int)) else None  # noqa: E731
        return cls(text("bucket") or "", text("key") or "", text("requested_version"), text("version_id"))


@dataclass(frozen=True)
class Image:
    """A service's image as it ran: the reference it was created from, the image id, and the repo
    digests it can be pulled again by (none: built locally)."""

    ref: str
    id: str
    digests: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {"image": self.ref, "id": self.id, "digests": list(self.digests)}

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> "Image":
        return cls(str(raw.get("image") or ""), str(raw.get("id") or ""),
                   tuple(str(d) for d in raw.get("digests") or [] if isinstance(d, str)))


@dataclass(frozen=True)
class Release:
    """Every file compose read (name in the project directory -> sha256; the compose file first)
    and each service's image (empty when nothing ran: an up that failed before any container)."""

    files: tuple[tuple[str, str], ...]
    images: tuple[tuple[str, Image], ...] = ()
    complete: bool = True  # every file compose read is named (not so for dadc 0.2's records: the compose file only)

    @property
    def compose_sha(self) -> str:
        return dict(self.files).get(COMPOSE_NAME, "")

    @property
    def id(self) -> str:
        """The identity: its files and the image ids it ran."""
        key = [list(self.files), [[service, image.id] for service, image in self.images]]
        return sha256(json.dumps(key, sort_keys=True).encode())

    def same_files(self, other: "Release") -> bool:
        return self.files == other.files

    def image_map(self) -> dict[str, Image]:
        return dict(self.images)

    def describe(self) -> str:
        """The compose file's sha256, short, and the other files it read, by name."""
        others = [name for name, _ in self.files if name != COMPOSE_NAME]
        return self.compose_sha[:12] + (f" with {', '.join(others)}" if others else "")

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"files": dict(self.files), "images": {s: i.to_json() for s, i in self.images}}
        if not self.complete:
            out["complete"] = False
        return out

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> "Release":
        files = raw.get("files")
        images = raw.get("images")
        if not isinstance(files, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in files.items()):
            raise ValueError("files")
        if not isinstance(images, dict) or not all(isinstance(v, dict) for v in images.values()):
            raise ValueError("images")
        order = sorted(files, key=lambda name: (name != COMPOSE_NAME, name))
        return cls(tuple((name, files[name]) for name in order),
                   tuple(sorted((str(s), Image.from_json(v)) for s, v in images.items())), raw.get("complete") is not False)


def release(files: dict[str, bytes], images: dict[str, Image]) -> Release:
    """A release from the bytes of its files and its images (the bodies are kept by the caller)."""
    order = sorted(files, key=lambda name: (name != COMPOSE_NAME, name))
    return Release(tuple((name, sha256(files[name])) for name in order), tuple(sorted(images.items())))


@dataclass(frozen=True)
class Entry:
    """One line of the history: a release, how it ended, where it came from, when, and why."""

    n: int
    outcome: Outcome
    release: Release
    source: Source
    at: float = 0.0
    reason: str = ""
    extra: dict[str, Any] = field(default_factory=dict, compare=False)

    def describe(self) -> str:
        return f"{self.source.describe()} ({self.release.describe()})"

    def to_json(self) -> dict[str, Any]:
        out = {"n": self.n, "outcome": self.outcome, "release": self.release.to_json(),
               "source": self.source.to_json(), "at": self.at}
        if self.reason:
            out["reason"] = self.reason
        return out

    @classmethod
    def from_json(cls, raw: Any) -> "Entry":
        if not isinstance(raw, dict) or raw.get("outcome") not in ("good", "failed") or \
                not isinstance(raw.get("n"), int) or isinstance(raw.get("n"), bool):
            raise ValueError("entry")
        release_ = Release.from_json(raw.get("release") if isinstance(raw.get("release"), dict) else {})
        at = raw.get("at")
        return cls(raw["n"], raw["outcome"], release_, Source.from_json(raw.get("source")),
                   float(at) if isinstance(at, (int, float)) and not isinstance(at, bool) else 0.0,
                   str(raw.get("reason") or ""))
