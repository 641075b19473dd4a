"""The local-files seam: the destination folder (the local copy of the compose file, what it came
from, dadc's own state, the lock, the Docker config), written atomically."""
from __future__ import annotations

import fcntl
import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from connector.errors import InvalidParameter, LockHeld

COMPOSE_NAME = "docker-compose.yml"


def atomic_write(path: Path, data: bytes, mode: int = 0o600, owner: int | None = None) -> None:
    """Write, fsync and rename, so a crash leaves the old file or the new one, never half of one."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            os.fchmod(handle.fileno(), mode)
            if owner is not None and os.geteuid() == 0:
                os.fchown(handle.fileno(), owner, -1)
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
        dirfd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dirfd)
        finally:
            os.close(dirfd)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


@dataclass
class Destination:
    root: Path
    owner: int | None = None  # DockerUserId, when dadc runs as root

    @property
    def compose_file(self) -> Path:
        return self.root / COMPOSE_NAME

    @property
    def work(self) -> Path:
        return self.root / ".dadc"

    @property
    def incoming(self) -> Path:
        return self.work / f"incoming-{COMPOSE_NAME}"

    @property
    def docker_config(self) -> Path:
        return self.root / ".docker"

    def check(self) -> list[str]:
        """Raise InvalidParameter when unusable; return warnings (loose permissions)."""
        if not self.root.is_dir():
            raise InvalidParameter(f"DockerComposeFileDestinationPath {self.root} is not an existing directory")
        if not os.access(self.root, os.W_OK | os.X_OK):
            raise InvalidParameter(f"DockerComposeFileDestinationPath {self.root} is not writable")
        for folder in (self.work, self.docker_config):
            folder.mkdir(mode=0o700, exist_ok=True)
            os.chmod(folder, 0o700)
            if self.owner is not None and os.geteuid() == 0:
                os.chown(folder, self.owner, -1)
        mode = self.root.stat().st_mode
        if mode & 0o022:
            return [f"{self.root} is writable by group or others (mode {mode & 0o777:o}): another user "
                    "could swap the compose file or read registry credentials; chmod 700 it"]
        return []

    def read_state(self) -> dict[str, Any]:
        try:
            return json.loads((self.work / "state.json").read_text())
        except (OSError, ValueError):
            return {}

    def install(self, raw: bytes, state: dict[str, Any]) -> None:
        """Make raw the current compose file (the local copy), and remember where it came from."""
        atomic_write(self.compose_file, raw, owner=self.owner)
        self._write_json(self.work / "state.json", {**state, "sha256": digest(raw)})

    # --- the last good deployment, and the release that failed its health gate ---------------
    @property
    def last_good_dir(self) -> Path:
        return self.work / "last-good"

    @property
    def failed_dir(self) -> Path:
        return self.work / "failed"

    def _write_json(self, path: Path, value: dict[str, Any]) -> None:
        atomic_write(path, json.dumps(value, indent=2).encode(), owner=self.owner)

    def _read_json(self, path: Path) -> dict[str, Any]:
        try:
            value = json.loads(path.read_text())
        except (OSError, ValueError):
            return {}
        return value if isinstance(value, dict) else {}

    @property
    def previous_good_dir(self) -> Path:
        return self.work / "previous-good"

    def record_good(self, raw: bytes, record: dict[str, Any]) -> None:
        """The deployment that is running and succeeded: its file, source and exact images. The
        one it replaces becomes the previous good one (unless it has failed since)."""
        old = self.last_good()
        if old is not None and old[1].get("sha256") != digest(raw):
            import shutil
            shutil.rmtree(self.previous_good_dir, ignore_errors=True)
            if old[1].get("sha256") != self.failed().get("sha256"):
                os.replace(self.last_good_dir, self.previous_good_dir)
        self.last_good_dir.mkdir(mode=0o700, exist_ok=True)
        atomic_write(self.last_good_dir / COMPOSE_NAME, raw, owner=self.owner)
        self._write_json(self.last_good_dir / "record.json", {**record, "sha256": digest(raw)})

    def last_good(self) -> tuple[bytes, dict[str, Any]] | None:
        return self._good(self.last_good_dir)

    def previous_good(self) -> tuple[bytes, dict[str, Any]] | None:
        return self._good(self.previous_good_dir)

    def _good(self, folder: Path) -> tuple[bytes, dict[str, Any]] | None:
        record = self._read_json(folder / "record.json")
        try:
            raw = (folder / COMPOSE_NAME).read_bytes()
        except OSError:
            return None
        return (raw, record) if record.get("sha256") == digest(raw) else None

    def record_failed(self, raw: bytes, record: dict[str, Any]) -> Path:
        """Keep a release that failed for inspection (never run again by itself) and remember it."""
        self.failed_dir.mkdir(mode=0o700, exist_ok=True)
        kept = self.failed_dir / f"{digest(raw)[:12]}-{COMPOSE_NAME}"
        atomic_write(kept, raw, owner=self.owner)
        self._write_json(self.failed_dir / "record.json", {**record, "sha256": digest(raw), "kept": str(kept)})
        return kept

    def failed(self) -> dict[str, Any]:
        return self._read_json(self.failed_dir / "record.json")


def digest(raw: bytes) -> str:
    import hashlib
    return hashlib.sha256(raw).hexdigest()


class Lock:
    """One dadc per destination folder; the holder's pid is written in the lock file."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.fd: int | None = None

    def acquire(self) -> None:
        self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(fd, 64).decode(errors="replace").strip() or "unknown"
            os.close(fd)
            raise LockHeld(f"another dadc (pid {holder}) is using {self.path.parent.parent}; "
                           "one instance per destination folder", holder=holder) from None
        os.ftruncate(fd, 0)
        os.write(fd, str(os.getpid()).encode())
        self.fd = fd

    def release(self) -> None:
        if self.fd is not None:
            os.close(self.fd)  # closing drops the flock; the kernel does the same on SIGKILL
            self.fd = None

    def __enter__(self) -> "Lock":
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()
