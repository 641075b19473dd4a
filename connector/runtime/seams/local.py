"""The local-files seam: the destination folder, the compose project's directory (the local copy
of the compose file, the project's other files compose reads, the Docker config), written
atomically. dadc's own state (what is installed, the history, the lock) is not kept here: a
container that mounts the project directory could rewrite it (runtime/seams/state.py).

The destination belongs to the DockerUserId user, and dadc may run as root: nothing under it is
ever followed. Each path is opened one component at a time relative to its parent's descriptor
with O_NOFOLLOW (so a link planted anywhere, or a folder swapped for one midway, is refused), each
entry must belong to root or that user, and modes and owners change through the open descriptor
(fchmod, fchown), never by path. The destination folder itself is the operator's setting and is
taken as given: its parents must not be writable by the user.
"""
from __future__ import annotations

import errno
import hashlib
import os
import secrets
import stat
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from dadc.domain.release import COMPOSE_NAME
from dadc.errors import InvalidParameter, StateError, UnsafeFile

DOCKER_CONFIG = ".docker"
STAGED = ".dadc-staged-" + COMPOSE_NAME  # a fetched compose file, written before anything goes down
LEGACY_WORK = ".dadc"  # dadc 0.2 kept its state here (read once, to import its history)
MAX_READ = 16 * 1024 * 1024  # a larger file is refused, never cut


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
class Destination:
    root: Path
    owner: int | None = None  # DockerUserId, when dadc runs as root

    @property
    def compose_file(self) -> Path:
        return self.root / COMPOSE_NAME

    @property
    def docker_config(self) -> Path:
        return self.root / DOCKER_CONFIG

    # --- opening without following ---------------------------------------------------------------
    def _trusted(self, st: os.stat_result, where: Path) -> None:
        allowed = {0, os.geteuid()} | ({self.owner} if self.owner is not None else set())
        if st.st_uid not in allowed:
            raise UnsafeFile(f"{where} belongs to uid {st.st_uid}, not to root or the DockerUserId user: refused; "
                             "nothing was changed")

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
                        raise UnsafeFile(f"{where} is a link or not a folder: refused; nothing was changed") from None
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
                raise UnsafeFile(f"{where} is a link: refused; nothing was changed") from None
            raise
        st = os.fstat(fd)
        try:
            if not stat.S_ISREG(st.st_mode):
                raise UnsafeFile(f"{where} is not a regular file: refused")
            self._trusted(st, where)
        except UnsafeFile:
            os.close(fd)
            raise
        return fd

    def read(self, *parts: str, limit: int = MAX_READ) -> bytes | None:
        """ROOT/parts... without following links; None when it (or a folder on the way) is missing;
        StateError when it is larger than the limit (never cut short) or cannot be read."""
        where = self.root.joinpath(*parts)
        try:
            with self._folder(*parts[:-1], create=False) as dirfd:
                fd = self._open_file(dirfd, parts[-1], where)
        except FileNotFoundError:
            return None
        except NotADirectoryError:
            return None
        try:
            with os.fdopen(fd, "rb") as handle:
                data = handle.read(limit + 1)
        except OSError as exc:
            raise StateError(f"reading {where} failed: {exc.strerror or exc}") from None
        if len(data) > limit:
            raise StateError(f"{where} is larger than {limit} bytes: refused")
        return data

    def write(self, data: bytes, *parts: str, mode: int = 0o600) -> None:
        where = self.root.joinpath(*parts)
        try:
            with self._folder(*parts[:-1]) as dirfd:
                _write_at(dirfd, parts[-1], data, mode, self.owner)
        except UnsafeFile:
            raise
        except OSError as exc:  # a full disk, a read-only file system: named, never a traceback
            raise StateError(f"writing {where} failed: {exc.strerror or exc}") from None

    def stage(self, data: bytes, name: str) -> None:
        """data written (and synced) beside `name` under the name STAGED: what install renames into
        place later. A full disk fails here, before anything was taken down; the rename needs no room."""
        self.write(data, STAGED)

    def commit(self, name: str) -> bool:
        """The staged file becomes `name` (one rename); False when none is staged."""
        try:
            with self._folder() as dirfd:
                os.replace(STAGED, name, src_dir_fd=dirfd, dst_dir_fd=dirfd)
                os.fsync(dirfd)
        except FileNotFoundError:
            return False
        except OSError as exc:
            raise StateError(f"installing {self.root / name} failed: {exc.strerror or exc}") from None
        return True

    def remove(self, *parts: str) -> None:
        where = self.root.joinpath(*parts)
        try:
            with self._folder(*parts[:-1], create=False) as dirfd:
                os.unlink(parts[-1], dir_fd=dirfd)
        except FileNotFoundError:
            return
        except OSError as exc:
            raise StateError(f"removing {where} failed: {exc.strerror or exc}") from None

    # --- the destination -------------------------------------------------------------------------
    def check(self) -> list[str]:
        """Raise InvalidParameter when unusable, UnsafeFile for a link or a stranger's entry; make
        the Docker config's folder; return warnings (loose permissions)."""
        if not self.root.is_dir():
            raise InvalidParameter(f"DockerComposeFileDestinationPath {self.root} is not an existing directory")
        if not os.access(self.root, os.W_OK | os.X_OK):
            raise InvalidParameter(f"DockerComposeFileDestinationPath {self.root} is not writable")
        with self._folder(DOCKER_CONFIG):
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

    def legacy_history(self) -> bytes | None:
        """dadc 0.2's history in the destination, if any (imported once into the state directory)."""
        try:
            return self.read(LEGACY_WORK, "records.json")
        except (StateError, UnsafeFile):
            return None
