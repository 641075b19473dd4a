"""The local-files seam: the destination folder (the local copy of the compose file, what it came
from, dadc's own state, the lock, the Docker config), written atomically.

The destination belongs to the DockerUserId user, and dadc may run as root: nothing under it is
ever followed. Each path is opened one component at a time relative to its parent's descriptor
with O_NOFOLLOW (so a link planted anywhere, or a folder swapped for one midway, is refused), each
entry must belong to root or that user, and modes and owners change through the open descriptor
(fchmod, fchown), never by path. The destination folder itself is the operator's setting and is
taken as given: its parents must not be writable by the user.
"""
from __future__ import annotations

import errno
import fcntl
import hashlib
import json
import os
import secrets
import stat
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

from connector.errors import InvalidParameter, LockHeld, UnsafeFile
from connector.runtime.seams.history import History

COMPOSE_NAME = "docker-compose.yml"
WORK, DOCKER_CONFIG = ".dadc", ".docker"
MAX_READ = 16 * 1024 * 1024  # dadc's own files; a larger one is not one of them


def digest(raw: bytes) -> str:
    return hashlib.sha256(raw).hexdigest()


def _write_at(dirfd: int, name: str, data: bytes, mode: int, owner: int | None) -> None:
    """Write, fsync and rename inside one open folder: a crash leaves the old file or the new one,
    never half of one; the rename replaces a link planted at name instead of following it."""
    tmp = f".{name}.{secrets.token_hex(6)}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, mode, dir_fd=dirfd)
    try:
        try:
            os.fchmod(fd, mode)
            if owner is not None and os.geteuid() == 0:
                os.fchown(fd, owner, -1)
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view):]
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, name, src_dir_fd=dirfd, dst_dir_fd=dirfd)
        os.fsync(dirfd)
    except BaseException:
        try:
            os.unlink(tmp, dir_fd=dirfd)
        except OSError:
            pass
        raise


def atomic_write(path: Path, data: bytes, mode: int = 0o600, owner: int | None = None) -> None:
    """An atomic write in a folder of dadc's or the operator's (the state folder)."""
    dirfd = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY)
    try:
        _write_at(dirfd, path.name, data, mode, owner)
    finally:
        os.close(dirfd)


@dataclass
class Destination(History):
    root: Path
    owner: int | None = None  # DockerUserId, when dadc runs as root

    @property
    def compose_file(self) -> Path:
        return self.root / COMPOSE_NAME

    @property
    def work(self) -> Path:
        return self.root / WORK

    @property
    def incoming(self) -> Path:
        return self.work / f"incoming-{COMPOSE_NAME}"

    @property
    def docker_config(self) -> Path:
        return self.root / DOCKER_CONFIG

    # --- opening without following ---------------------------------------------------------------
    def _trusted(self, st: os.stat_result, where: Path) -> None:
        allowed = {0, os.geteuid()} | ({self.owner} if self.owner is not None else set())
        if st.st_uid not in allowed:
            raise UnsafeFile(f"{where} belongs to uid {st.st_uid}, not to root or the DockerUserId user: refused; "
                             "nothing was changed", path=str(where))

    @contextmanager
    def _folder(self, *parts: str, create: bool = True) -> Iterator[int]:
        """A descriptor of ROOT/parts..., each folder opened without following a link, checked,
        and (when create) made if missing, mode 0700, owned by the DockerUserId user."""
        fd = os.open(self.root, os.O_RDONLY | os.O_DIRECTORY)
        where = self.root
        try:
            for part in parts:
                where = where / part
                if create:
                    try:
                        os.mkdir(part, 0o700, dir_fd=fd)
                    except FileExistsError:
                        pass
                try:
                    child = os.open(part, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=fd)
                except OSError as exc:
                    if exc.errno in (errno.ELOOP, errno.ENOTDIR):
                        raise UnsafeFile(f"{where} is a link or not a folder: refused; nothing was changed",
                                         path=str(where)) from None
                    raise
                os.close(fd)
                fd = child
                self._trusted(os.fstat(fd), where)
                if create:
                    os.fchmod(fd, 0o700)
                    if self.owner is not None and os.geteuid() == 0:
                        os.fchown(fd, self.owner, -1)
            yield fd
        finally:
            os.close(fd)

    def _open_file(self, dirfd: int, name: str, where: Path, flags: int = os.O_RDONLY) -> int:
        try:
            fd = os.open(name, flags | os.O_NOFOLLOW, 0o600, dir_fd=dirfd)
        except OSError as exc:
            if exc.errno == errno.ELOOP:
                raise UnsafeFile(f"{where} is a link: refused; nothing was changed", path=str(where)) from None
            raise
        st = os.fstat(fd)
        try:
            if not stat.S_ISREG(st.st_mode):
                raise UnsafeFile(f"{where} is not a regular file: refused", path=str(where))
            self._trusted(st, where)
        except UnsafeFile:
            os.close(fd)
            raise
        return fd

    def read(self, *parts: str) -> bytes | None:
        """ROOT/parts... without following links; None when it (or a folder on the way) is missing."""
        try:
            with self._folder(*parts[:-1], create=False) as dirfd:
                fd = self._open_file(dirfd, parts[-1], self.root.joinpath(*parts))
        except FileNotFoundError:
            return None
        try:
            with os.fdopen(fd, "rb") as handle:
                return handle.read(MAX_READ)
        except OSError:
            return None

    def write(self, data: bytes, *parts: str, mode: int = 0o600) -> None:
        with self._folder(*parts[:-1]) as dirfd:
            _write_at(dirfd, parts[-1], data, mode, self.owner)

    def _read_json(self, *parts: str) -> dict[str, Any]:
        raw = self.read(*parts)
        try:
            value = json.loads(raw) if raw is not None else {}
        except ValueError:
            return {}
        return value if isinstance(value, dict) else {}

    def _write_json(self, value: dict[str, Any], *parts: str) -> None:
        self.write(json.dumps(value, indent=2).encode(), *parts)

    # --- the destination -------------------------------------------------------------------------
    def check(self) -> list[str]:
        """Raise InvalidParameter when unusable, UnsafeFile for a link or a stranger's entry; make
        dadc's folders; return warnings (loose permissions)."""
        if not self.root.is_dir():
            raise InvalidParameter(f"DockerComposeFileDestinationPath {self.root} is not an existing directory")
        if not os.access(self.root, os.W_OK | os.X_OK):
            raise InvalidParameter(f"DockerComposeFileDestinationPath {self.root} is not writable")
        for folder in (WORK, DOCKER_CONFIG):
            with self._folder(folder):
                pass
        mode = self.root.stat().st_mode
        if mode & 0o022:
            return [f"{self.root} is writable by group or others (mode {mode & 0o777:o}): another user "
                    "could swap the compose file or read registry credentials; chmod 700 it"]
        return []

    def local_copy(self) -> bytes | None:
        """The local copy of the compose file, as it is now."""
        return self.read(COMPOSE_NAME)

    def has_local_copy(self) -> bool:
        return self.local_copy() is not None

    def read_state(self) -> dict[str, Any]:
        return self._read_json(WORK, "state.json")

    def write_incoming(self, raw: bytes) -> None:
        self.write(raw, WORK, self.incoming.name)

    def write_work(self, name: str, raw: bytes) -> Path:
        self.write(raw, WORK, name)
        return self.work / name

    def install(self, raw: bytes, state: dict[str, Any]) -> None:
        """Make raw the current compose file (the local copy), and remember where it came from."""
        self.write(raw, COMPOSE_NAME)
        self._write_json({**state, "sha256": digest(raw)}, WORK, "state.json")

    def installed_unchanged(self) -> str | None:
        """None when the local copy is the file dadc installed; else what is wrong with it (the
        DockerUserId user may write the folder: compose must run what dadc installed)."""
        raw, state = self.local_copy(), self.read_state()
        if raw is None:
            return f"{self.compose_file} is gone"
        if state.get("sha256") and digest(raw) != state["sha256"]:
            return f"{self.compose_file} changed since dadc installed it (sha256 {digest(raw)[:12]}, not {state['sha256'][:12]})"
        return None

    def private_docker_config(self) -> None:
        """config.json (registry credentials) mode 0600, changed through its descriptor."""
        try:
            with self._folder(DOCKER_CONFIG, create=False) as dirfd:
                fd = self._open_file(dirfd, "config.json", self.docker_config / "config.json")
        except FileNotFoundError:
            return
        try:
            os.fchmod(fd, 0o600)
        finally:
            os.close(fd)

    def lock(self) -> "Lock":
        return Lock(self)


class Lock:
    """One dadc per destination folder; the holder's pid is written in the lock file, which is
    opened without following a link and only truncated once held."""

    def __init__(self, dest: Destination) -> None:
        self.dest = dest
        self.path = dest.work / "lock"
        self.fd: int | None = None

    def acquire(self) -> None:
        with self.dest._folder(WORK) as dirfd:
            fd = self.dest._open_file(dirfd, "lock", self.path, os.O_RDWR | os.O_CREAT)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(fd, 64).decode(errors="replace").strip() or "unknown"
            os.close(fd)
            raise LockHeld(f"another dadc (pid {holder}) is using {self.dest.root}; "
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
