"""One owner per compose project on an engine: a host-wide lock.

Every version names its compose project the same (versions/parameters.json), so two dadc on one
engine, whatever their destinations, would take down, count and gate each other's containers.
The lock is a flock on LOCK_DIR/PROJECT.lock (LOCK_DIR: $DADC_LOCK_DIR, else /run/lock/dadc,
world-writable and sticky like /tmp, so dadc run by any docker-group user meets the others). The
holder writes "pid destination" into it, which a refusal names.

A flock belongs to the open file, not the process: the deploy child of `dadc run` inherits the
descriptor (`inheritable()`), so the lock is held as long as either lives; the kernel drops it
when the last one ends, even on SIGKILL."""
from __future__ import annotations

import errno
import fcntl
import os
from pathlib import Path

from dadc.errors import LockHeld, StateError

ENV_FD = "DADC_LOCK_FD"  # the inherited descriptor, in a deploy child of `dadc run`


def lock_dir() -> Path:
    return Path(os.environ.get("DADC_LOCK_DIR") or "/run/lock/dadc")


class ProjectLock:
    def __init__(self, project: str, destination: Path) -> None:
        self.project, self.destination = project, destination
        self.path = lock_dir() / f"{project}.lock"
        self.fd: int | None = None

    def _open(self) -> int:
        folder = self.path.parent
        try:
            if not folder.is_dir():
                folder.mkdir(mode=0o755, parents=True, exist_ok=True)
                try:
                    os.chmod(folder, 0o1777)  # any docker-group user's dadc may lock here
                except OSError:
                    pass
            try:
                return os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o644)
            except PermissionError:  # another user's lock file: a read-only descriptor locks as well
                return os.open(self.path, os.O_RDONLY | os.O_NOFOLLOW)
        except OSError as exc:
            if exc.errno == errno.ELOOP:
                raise StateError(f"{self.path} is a link: refused") from None
            raise StateError(f"the project lock {self.path}: {exc.strerror or exc}") from None

    def acquire(self) -> None:
        inherited = os.environ.get(ENV_FD)
        if inherited:  # a deploy child: its parent's lock, if the descriptor really holds it
            fd = int(inherited)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # the same open file: succeeds at once
            except OSError:
                raise LockHeld(f"the lock descriptor {fd} handed down by dadc run does not hold {self.path}",
                               holder="unknown") from None
            self.fd = fd
            return
        fd = self._open()
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 4096, 0).decode(errors="replace").strip() or "unknown"
            os.close(fd)
            pid, _, where = holder.partition(" ")
            raise LockHeld(f"another dadc (pid {pid}, destination {where or 'unknown'}) owns compose project "
                           f"{self.project} on this engine; one dadc per compose project", holder=holder) from None
        try:
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"{os.getpid()} {self.destination}\n".encode(), 0)
        except OSError:
            pass  # another user's file, read-only: held all the same, its text is stale
        self.fd = fd

    def inheritable(self) -> int:
        """The descriptor, for a child to hold the lock with this process (and after it)."""
        assert self.fd is not None
        os.set_inheritable(self.fd, True)
        return self.fd

    def release(self) -> None:
        if self.fd is not None:
            if not os.environ.get(ENV_FD):
                os.close(self.fd)  # closing drops the flock, once no child holds it too
            self.fd = None

    def __enter__(self) -> "ProjectLock":
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()
