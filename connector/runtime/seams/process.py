"""The process seam: every subprocess goes through run() (or spawn(), for the deploy child).

It logs ``shlex.join(argv)`` (never stdin, which is where secrets travel), never uses a shell,
can run the command as another user, and turns failures into typed exceptions whose text
is scrubbed of any secret the caller names.

Each command runs in a process group of its own, so a limit or an interrupt ends all of it (the
docker CLI's compose plugin, compose's own children), not only the process dadc started.
interrupt() (SIGTERM or SIGINT, from the signal handler) ends the running command at once and
makes every later run() or sleep() raise Interrupted until resume(): the stop sequence then runs.
"""
from __future__ import annotations

import logging
import os
import shlex
import signal
import subprocess
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Callable, Iterator, Mapping, Sequence

from dadc.errors import CommandFailed, CommandNotFound, Interrupted

log = logging.getLogger("dadc.process")
# A stand-in for the tools behind the seam: (argv, stdin, env, cwd) -> (exit code, stdout, stderr),
# or None for a command it does not stand in for. Only the conformance harness's recorded engine
# sets one (substituted()): its fake docker and compose then answer in-process.
Substitute = Callable[[Sequence[str], "str | None", Mapping[str, str], "str | None"], "tuple[int, str, str] | None"]
_substitute: Substitute | None = None
SLICE = 0.25  # how often a waiting run() looks for an interrupt
GRACE = 3.0  # SIGTERM to the group, then SIGKILL after this long


class Flag:
    """An event a signal handler may set. threading.Event may not be: its set() takes a lock, and a
    second signal arriving while the first handler (or the main thread) holds it deadlocks the
    process. This is a plain flag and a self-pipe: set() takes no lock, wait() selects on the pipe."""

    def __init__(self) -> None:
        self._set = False
        self._r, self._w = os.pipe()
        os.set_blocking(self._r, False)
        os.set_blocking(self._w, False)

    def set(self) -> None:
        self._set = True
        try:
            os.write(self._w, b"x")
        except (BlockingIOError, OSError):
            pass  # the pipe is full: a wake-up is already pending

    def clear(self) -> None:
        self._set = False
        try:
            while os.read(self._r, 4096):
                pass
        except (BlockingIOError, OSError):
            pass

    def is_set(self) -> bool:
        return self._set

    def wait(self, timeout: float | None = None) -> bool:
        if not self._set:
            import select
            try:
                select.select([self._r], [], [], timeout)
            except InterruptedError:
                pass
        return self._set


_interrupt = Flag()


def interrupt() -> None:
    """From a signal handler: the running command's group is ended; what follows raises Interrupted."""
    _interrupt.set()


def resume() -> None:
    """After an interrupt: commands run again (the stop sequence)."""
    _interrupt.clear()


def check_interrupt() -> None:
    if _interrupt.is_set():
        raise Interrupted("interrupted by a signal: the rest of the start is skipped")


def die_with_parent(parent: int, every: float = 0.5) -> None:
    """A child of dadc's own ends when its parent does: a watcher interrupts its step (as SIGTERM
    would) once its parent process is gone (Linux's PR_SET_PDEATHSIG would follow the parent's
    thread, not the process, so it is not used)."""
    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(every)
        log.warning("the dadc run that started this deploy is gone: interrupting")
        interrupt()
    threading.Thread(target=watch, name="dadc-parent-watch", daemon=True).start()


def sleep(seconds: float) -> None:
    """A pause an interrupt cuts short."""
    if _interrupt.wait(max(0.0, seconds)):
        check_interrupt()


@dataclass(frozen=True)
class RunAs:
    """The user docker and compose run as (DockerUserId, when dadc runs as root)."""

    uid: int
    gid: int
    groups: tuple[int, ...] = field(default_factory=tuple)

    def popen_args(self) -> dict[str, object]:
        if os.geteuid() != 0 or self.uid == 0:
            return {}
        return {"user": self.uid, "group": self.gid, "extra_groups": list(self.groups)}


def scrub(text: str, secrets: Sequence[str]) -> str:
    for secret in secrets:
        if secret:
            text = text.replace(secret, "********")
    return text


@dataclass(frozen=True)
class Result:
    argv: tuple[str, ...]
    returncode: int
    stdout: str
    stderr: str


@contextmanager
def substituted(stand_in: Substitute) -> Iterator[None]:
    """Within: run() asks stand_in first; everything else (logging, checks, scrubbing) is unchanged."""
    global _substitute
    saved, _substitute = _substitute, stand_in
    try:
        yield
    finally:
        _substitute = saved


def _end_group(proc: subprocess.Popen[str]) -> None:
    """SIGTERM to the command's whole group, SIGKILL after the grace; reaped either way."""
    for sig, wait in ((signal.SIGTERM, GRACE), (signal.SIGKILL, 30.0)):
        try:
            os.killpg(proc.pid, sig)
        except (ProcessLookupError, PermissionError):
            pass
        try:
            proc.wait(timeout=wait)
            return
        except subprocess.TimeoutExpired:
            continue


def run(argv: Sequence[str], *, input: str | None = None, env: dict[str, str] | None = None,
        timeout: float | None = None, run_as: RunAs | None = None, check: bool = True,
        secrets: Sequence[str] = (), cwd: str | None = None) -> Result:
    """Run argv; raise CommandNotFound, Interrupted, or CommandFailed (non-zero exit or past its
    limit) when check."""
    argv = tuple(argv)
    check_interrupt()
    log.info("run: %s%s", shlex.join(argv), " (stdin: <redacted>)" if input is not None else "")
    reply = _substitute(argv, input, os.environ if env is None else env, cwd) if _substitute else None
    if reply is None:
        reply = _launch(argv, input, env, timeout, run_as, secrets, cwd)
    returncode, out, err = reply
    result = Result(argv, returncode, scrub(out, secrets), scrub(err, secrets))
    if check and returncode != 0:
        tail = result.stderr.strip().splitlines()[-3:]
        raise CommandFailed(f"{shlex.join(argv)} exited {returncode}: {' / '.join(tail)}",
                            argv=argv, returncode=returncode, stderr=result.stderr)
    return result


def _launch(argv: tuple[str, ...], input: str | None, env: dict[str, str] | None, timeout: float | None,
            run_as: RunAs | None, secrets: Sequence[str], cwd: str | None) -> tuple[int, str, str]:
    """The command in a process group of its own, bounded by timeout and cut short by an interrupt."""
    try:
        proc = subprocess.Popen(argv, stdin=subprocess.PIPE if input is not None else subprocess.DEVNULL,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=cwd,
                                errors="replace", start_new_session=True,
                                **(run_as.popen_args() if run_as else {}))  # type: ignore[arg-type]
    except FileNotFoundError:
        raise CommandNotFound(f"command not found: {argv[0]}") from None
    except PermissionError:  # not executable, or not by the DockerUserId user (a folder it cannot reach)
        who = f" as uid {run_as.uid}" if run_as and run_as.popen_args() else ""
        raise CommandNotFound(f"cannot execute {argv[0]}{who}: permission denied") from None
    deadline = time.monotonic() + timeout if timeout is not None else None
    pending = input
    while True:
        wait = SLICE if deadline is None else max(0.0, min(SLICE, deadline - time.monotonic()))
        try:
            out, err = proc.communicate(pending, timeout=wait)
            break
        except subprocess.TimeoutExpired:
            pending = None  # communicate keeps sending what it began to send
            if _interrupt.is_set():
                _end_group(proc)
                proc.communicate()
                log.warning("interrupted: %s", shlex.join(argv[:6]))
                raise Interrupted(f"interrupted by a signal while running {shlex.join(argv[:6])}...") from None
            if deadline is not None and time.monotonic() >= deadline:
                _end_group(proc)
                _, err = proc.communicate()
                raise CommandFailed(f"{shlex.join(argv[:6])}... did not finish within {timeout:g}s",
                                    argv=argv, timed_out=True, stderr=scrub(err or "", secrets)) from None
    return proc.returncode, out, err


def spawn(argv: Sequence[str], on_line: Callable[[str], None], *, grace: float = 30.0,
          pass_fds: Sequence[int] = (), env: dict[str, str] | None = None) -> int:
    """Run a child of dadc's own (`dadc deploy --under-run`), each line of its stdout to on_line;
    its exit code. It stays in dadc's process group, so whatever ends dadc's group ends it too. On
    an interrupt it gets SIGTERM (it interrupts its own step and exits), SIGKILL after the grace.
    pass_fds: descriptors it inherits (the project's lock)."""
    argv = tuple(argv)
    log.info("run: %s", shlex.join(argv))
    proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, text=True,
                            pass_fds=tuple(pass_fds), env=env)
    assert proc.stdout is not None

    def watch() -> None:
        while proc.poll() is None and not _interrupt.wait(SLICE):
            pass
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=grace)
            except subprocess.TimeoutExpired:
                proc.kill()
    threading.Thread(target=watch, name="dadc-child-watch", daemon=True).start()
    for line in proc.stdout:
        on_line(line)
    return proc.wait()
