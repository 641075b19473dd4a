"""dadc's own state for one destination, kept where no container of the project can write it.

The destination is the compose project's directory: a service that bind-mounts it (`.:/code`)
can write anything there. So what dadc must be able to trust lives in the state directory
(`--state-dir`, default /var/lib/dadc as root), one folder per destination:

    STATE/projects/<sha256 of the destination's path, 16 hex>/
        destination         the destination's path (for a person looking)
        state.json          what is installed: its source and sha256 (and one pending install)
        records.json        the release history's index (records.json.1: the generation before)
        bodies/<sha256>     each file a release read, once
        incoming-docker-compose.yml, definition.json   the fetched file, the deploy child's definition

Each write is atomic (a temporary file, fsync, rename, fsync of the folder); an OSError (a full
disk, a read-only file system) becomes StateError naming the file; a read never truncates: a file
past its limit is an error. The folder is root's (dadc's); its group is the DockerUserId user's,
which may read the incoming file (compose runs as that user) and nothing else."""
from __future__ import annotations

import errno
import hashlib
import json
import os
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dadc.errors import InvalidParameter, StateError

MAX_READ = 16 * 1024 * 1024  # dadc's own index and state files
MAX_BODY = 8 * 1024 * 1024  # one body (a compose file is at most 4 MiB)
DEFAULT_ROOT = "/var/lib/dadc"


def default_state_dir() -> str:
    """$DADC_STATE_DIR; else /var/lib/dadc for root (or whoever may write it); else the user's
    own (~/.local/state/dadc): an unprivileged dadc needs no option."""
    chosen = os.environ.get("DADC_STATE_DIR")
    if chosen:
        return chosen
    if os.geteuid() == 0 or os.access(DEFAULT_ROOT, os.W_OK) or os.access(os.path.dirname(DEFAULT_ROOT), os.W_OK):
        return DEFAULT_ROOT
    base = os.environ.get("XDG_STATE_HOME") or os.path.join(os.path.expanduser("~"), ".local", "state")
    return os.path.join(base, "dadc")


def project_key(destination: Path) -> str:
    return hashlib.sha256(str(destination.resolve()).encode()).hexdigest()[:16]


def atomic_write(path: Path, data: bytes, mode: int = 0o600, group: int | None = None) -> None:
    """Write, fsync and rename: a crash leaves the old file or the new one, never half of one."""
    tmp = path.parent / f".{path.name}.{secrets.token_hex(6)}.tmp"
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, mode)
        try:
            os.fchmod(fd, mode)
            if group is not None and os.geteuid() == 0:
                os.fchown(fd, -1, group)
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view):]
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
        dirfd = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(dirfd)
        finally:
            os.close(dirfd)
    except OSError as exc:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise StateError(f"writing {path} failed: {exc.strerror or exc}") from None


@dataclass
class StateDir:
    base: Path  # --state-dir
    destination: Path
    reader_gid: int | None = None  # the DockerUserId user's group: may read the incoming file

    @property
    def root(self) -> Path:
        return self.base / "projects" / project_key(self.destination)

    @property
    def incoming(self) -> Path:
        return self.root / "incoming-docker-compose.yml"

    @property
    def bodies(self) -> Path:
        return self.root / "bodies"

    def ensure(self) -> None:
        """Make the folders: the base and projects/ searchable (the DockerUserId user reaches the
        incoming file through them), this destination's folder root's with that user's group."""
        try:
            if not self.base.is_dir():
                self.base.mkdir(mode=0o711, parents=True, exist_ok=True)
            projects = self.base / "projects"
            if not projects.is_dir():
                projects.mkdir(mode=0o711, exist_ok=True)
            self.root.mkdir(mode=0o750, exist_ok=True)
            self.bodies.mkdir(mode=0o700, exist_ok=True)
            fd = os.open(self.root, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
            try:
                os.fchmod(fd, 0o750 if self.reader_gid is not None else 0o700)
                if self.reader_gid is not None and os.geteuid() == 0:
                    os.fchown(fd, -1, self.reader_gid)
            finally:
                os.close(fd)
            marker = self.root / "destination"
            if not marker.exists():
                atomic_write(marker, (str(self.destination.resolve()) + "\n").encode(), 0o600)
        except OSError as exc:
            raise StateError(f"--state-dir {self.base}: cannot make {self.root}: {exc.strerror or exc}") from None
        if self.reader_gid is not None:
            for folder in (self.base, self.base / "projects"):
                if not folder.stat().st_mode & 0o001:
                    raise InvalidParameter(f"--state-dir: {folder} must be searchable by the DockerUserId user, who "
                                           f"reads the fetched compose file under it: chmod o+x {folder}")

    # --- reading and writing -----------------------------------------------------------------
    def read(self, name: str, limit: int = MAX_READ) -> bytes | None:
        """None when missing; StateError when unreadable or larger than its limit (never cut)."""
        path = self.root / name
        try:
            with open(path, "rb") as handle:
                data = handle.read(limit + 1)
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise StateError(f"reading {path} failed: {exc.strerror or exc}") from None
        if len(data) > limit:
            raise StateError(f"{path} is larger than {limit} bytes: not one of dadc's files as written; refused")
        return data

    def write(self, name: str, data: bytes, mode: int = 0o600) -> Path:
        self.ensure()
        path = self.root / name
        atomic_write(path, data, mode, self.reader_gid if mode & 0o040 else None)
        return path

    def remove(self, name: str) -> None:
        try:
            os.unlink(self.root / name)
        except FileNotFoundError:
            pass
        except OSError as exc:
            raise StateError(f"removing {self.root / name} failed: {exc.strerror or exc}") from None

    def rename(self, name: str, new: str) -> None:
        try:
            os.replace(self.root / name, self.root / new)
        except OSError as exc:
            raise StateError(f"moving {self.root / name} aside failed: {exc.strerror or exc}") from None

    def write_incoming(self, raw: bytes) -> Path:
        """The fetched compose file: compose (as the DockerUserId user) reads it; nobody else writes it."""
        return self.write(self.incoming.name, raw, 0o640)

    def write_json(self, name: str, value: Any) -> None:
        self.write(name, json.dumps(value, indent=1).encode())

    # --- bodies: each file of a release, once ---------------------------------------------------
    def put_body(self, raw: bytes) -> str:
        sha = hashlib.sha256(raw).hexdigest()
        path = self.bodies / sha
        if not path.exists():
            self.ensure()
            atomic_write(path, raw, 0o600)
        return sha

    def body(self, sha: str) -> bytes | None:
        """A body, checked against its name: a body that is not what its name says is not one."""
        if not all(c in "0123456789abcdef" for c in sha) or len(sha) != 64:
            return None
        raw = self.read(f"bodies/{sha}", MAX_BODY)
        return raw if raw is not None and hashlib.sha256(raw).hexdigest() == sha else None

    def bodies_size(self) -> dict[str, int]:
        try:
            return {p.name: p.stat().st_size for p in self.bodies.iterdir() if not p.name.startswith(".")}
        except FileNotFoundError:
            return {}

    def drop_bodies(self, keep: set[str]) -> None:
        for name in self.bodies_size():
            if name not in keep:
                try:
                    os.unlink(self.bodies / name)
                except OSError as exc:
                    if exc.errno != errno.ENOENT:
                        raise StateError(f"removing {self.bodies / name} failed: {exc.strerror or exc}") from None
