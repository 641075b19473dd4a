"""The process seam: every subprocess goes through run().

It logs ``shlex.join(argv)`` (never stdin, which is where secrets travel), never uses a shell,
can run the command as another user, and turns failures into typed exceptions whose text
is scrubbed of any secret the caller names.
"""
from __future__ import annotations

import logging
import os
import shlex
import subprocess
from dataclasses import dataclass, field
from typing import Sequence

from connector.errors import CommandFailed, CommandNotFound

log = logging.getLogger("dadc.process")


@dataclass(frozen=True)
class RunAs:
    """The user docker and compose run as (DockerUserId, when dadc runs as root)."""

    uid: int
    gid: int
    groups: tuple[int, ...] = field(default_factory=tuple)


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


def run(argv: Sequence[str], *, input: str | None = None, env: dict[str, str] | None = None,
        timeout: float | None = None, run_as: RunAs | None = None, check: bool = True,
        secrets: Sequence[str] = (), cwd: str | None = None) -> Result:
    """Run argv; raise CommandNotFound, or CommandFailed (non-zero exit or timeout) when check."""
    argv = tuple(argv)
    log.info("run: %s%s", shlex.join(argv), " (stdin: <redacted>)" if input is not None else "")
    extra = {}
    if run_as is not None and os.geteuid() == 0 and run_as.uid != 0:
        extra = {"user": run_as.uid, "group": run_as.gid, "extra_groups": list(run_as.groups)}
    try:
        proc = subprocess.run(argv, input=input, capture_output=True, text=True, env=env, timeout=timeout,
                              cwd=cwd, errors="replace", start_new_session=True, **extra)
    except FileNotFoundError:
        raise CommandNotFound(f"command not found: {argv[0]}", argv=list(argv)) from None
    except subprocess.TimeoutExpired as exc:
        raise CommandFailed(f"{shlex.join(argv[:6])}... did not finish within {timeout:.0f}s",
                            argv=list(argv), timeout=True,
                            stderr=scrub(_text(exc.stderr), secrets)) from None
    result = Result(argv, proc.returncode, scrub(proc.stdout, secrets), scrub(proc.stderr, secrets))
    if check and proc.returncode != 0:
        tail = result.stderr.strip().splitlines()[-3:]
        raise CommandFailed(f"{shlex.join(argv)} exited {proc.returncode}: {' / '.join(tail)}",
                            argv=list(argv), returncode=proc.returncode, stderr=result.stderr, timeout=False)
    return result


def _text(value: bytes | str | None) -> str:
    if isinstance(value, bytes):
        return value.decode(errors="replace")
    return value or ""
