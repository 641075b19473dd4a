"""`dadc run`: the long-lived connector. Start, monitor, watch the definition, stop on a signal.

A changed definition is a new deployment with the original's semantics: validated first (an
invalid one is a fail status and changes nothing), then the old connector's stop sequence under
the *old* definition's version and parameters, then the new start sequence under *its* version.

Where a start runs: in a `dadc deploy` child, so the long-lived process never loads boto3 nor
YAML; for an S3 definition each poll's conditional GET runs in a short-lived child too
(runtime/fetchdef.py). A device runs one dadc: its steady memory is that of the loop alone, and a
poll costs one child's start-up (bench/fleet.py measures it).
"""
from __future__ import annotations

import json
import logging
import random
import signal
import sys
import time
from collections import deque
from dataclasses import dataclass, replace
from typing import Any, Callable

from dadc.errors import DadcError, InvalidParameter, LockHeld
from dadc.options import RuntimeOptions
from dadc.plan import PlanOptions, retry_policy, stop_timeout
from dadc.runtime import monitor, settings, stopping
from dadc.runtime.context import Context
from dadc.runtime.definitions import Definition, S3Object
from dadc.runtime.starting import FINAL, ROLLED_BACK
from dadc.runtime.seams import process
from dadc.runtime.seams.lock import ENV_FD, ProjectLock
from dadc.runtime.status import Sink, failure, locate

log = logging.getLogger("dadc.run")
DEFAULT_S3_POLL = 300.0


@dataclass(frozen=True)
class Applied:
    """What applying a definition came to: a job's verdict (fleet/device.py) is read from it.
    outcome: unchanged | started | invalid | refused | failed | rolled-back | kept-back."""

    outcome: str
    message: str = ""


class Runner:
    def __init__(self, options: RuntimeOptions, definition: Definition, sink: Sink,
                 make_context: Callable[[settings.Config], Context],
                 start: Callable[[Context, bytes, dict[str, Any]], int] | None = None) -> None:
        """start: how a start runs, to its `dadc deploy --under-run` exit code; by default in that
        child. The conformance harness runs it in-process, on its recorded engine."""
        self.options, self.definition, self.sink, self.make_context = options, definition, sink, make_context
        self.start_in = start
        self.source = definition.source
        s3 = isinstance(self.source, S3Object)
        if s3:
            self.source.in_child = True  # type: ignore[union-attr]
        self.poll = options.poll if options.poll is not None else DEFAULT_S3_POLL if s3 else None
        self.wake = process.Flag()  # set by the signal handler: no lock taken there
        self.stopping = self.reread = False
        self.stop_deadline: float | None = None  # set by SIGTERM/SIGINT: the stop limit counts from there
        self.ctx: Context | None = None
        self.lock: ProjectLock | None = None
        self.exit_code = 0
        self.rolled_back: str | None = None  # the definition whose release failed and was rolled back
        self.succeeded = False  # the deploy child published a success status
        self.last_status: dict[str, Any] = {}  # the deploy child's last status message
        self.tasks: deque[Callable[[], None]] = deque()  # work for the loop's thread (a job's execution)

    def submit(self, task: Callable[[], None]) -> None:
        """Run task on the loop's thread, between its other work (safe from any thread)."""
        self.tasks.append(task)
        self.wake.set()

    # --- signals -------------------------------------------------------------------------------
    def _signal(self, signum: int, frame: Any) -> None:
        if signum == signal.SIGHUP:
            log.info("received SIGHUP: reading the definition again")
            self.reread = True
        elif not self.stopping:
            log.info("received %s: stopping", signal.Signals(signum).name)
            self.stopping = True
            limit = stop_timeout(self.ctx.config.profile, PlanOptions.of(self.options)) if self.ctx else 0.0
            self.stop_deadline = time.monotonic() + limit
            process.interrupt()  # the running step (in-process or the deploy child) ends now
        self.wake.set()

    def _wait(self, seconds: float) -> None:
        self.wake.wait(None if seconds == float("inf") else max(0.0, seconds))
        self.wake.clear()

    # --- a definition, a start -----------------------------------------------------------------
    def _fail(self, exc: DadcError) -> None:
        log.error("%s: %s", exc.error, exc)
        self.sink.publish(failure(str(exc), exc.error))

    def _apply(self, raw: bytes, api_shape: bool = True) -> Applied:
        """A definition read: validate it; if it changes anything, stop the old, start the new.
        api_shape=False: a child checked the bytes against the API's shape already."""
        try:
            config = self.definition.config(raw, api_shape)
        except InvalidParameter as exc:
            self._fail(exc)  # nothing is touched: the current deployment keeps running
            return Applied("invalid", str(exc))
        if self.ctx is not None and config.digest == self.ctx.config.digest:
            log.info("%s: no change to the connector", self.source.name)
            return Applied("unchanged")
        if config.digest == self.rolled_back:  # unchanged since its release was rolled back: nothing to do
            log.info("%s: unchanged since its release failed and was rolled back; the good deployment stays",
                     self.source.name)
            return Applied("kept-back", "this release failed and was rolled back; the good deployment stays")
        try:
            new = self.make_context(config)
            new.compose  # noqa: B018 -- a missing compose CLI fails here, with a status message
            lock = self._lock(new)
        except LockHeld as exc:
            self._fail(exc)
            if self.ctx is None:  # another dadc runs this destination: this one has nothing to do
                self.stopping, self.exit_code = True, 1
            return Applied("refused", str(exc))
        except DadcError as exc:
            self._fail(exc)
            return Applied("refused", str(exc))
        locate(self.sink, str(new.dest.root))
        old = self.ctx
        if old is not None and self.options.prefetch:
            self.last_status = {}
            code = self._start(new, raw, prefetch_only=True)  # with --retry, retried as a start is
            if code != 0:  # the old deployment was not touched: it keeps running
                message = str(self.last_status.get("error_message", f"the prefetch exited {code}"))
                log.warning("a new deployment: its prefetch failed before the old connector's stop sequence; the "
                            "old deployment keeps running")
                return Applied("kept-back", message)
        if old is not None:
            log.info("a new deployment: the stop sequence of version %d, then the start sequence of version %d",
                     old.config.profile.version, config.profile.version)
            stopping.stop(old)
            if self.lock is not lock and self.lock is not None:
                self.lock.release()
        self.ctx, self.lock, self.rolled_back = new, lock, None
        self.succeeded, self.last_status = False, {}
        # after the old connector's stop sequence, the new start's every step carries the gate's recovery
        code = self._start(new, raw, after_stop=old is not None)
        if code == 0 or self.succeeded:  # a SIGTERM just after the child said success: it did succeed
            self.source.keep(raw)
            return Applied("started")
        message = str(self.last_status.get("error_message", f"the start exited {code}"))
        if code == ROLLED_BACK and old is not None:
            log.warning("the previous deployment runs again: it stays until the definition changes")
            self.ctx, self.rolled_back = replace(new, config=old.config), config.digest
            return Applied("rolled-back", message)
        return Applied("invalid" if code == FINAL and self.last_status.get("error") == "InvalidParameter"
                       else "failed", message)

    def _lock(self, ctx: Context) -> ProjectLock:
        """The compose project's lock: one for every version and destination (one project name)."""
        if self.lock is not None:
            return self.lock
        lock = ctx.lock()
        lock.acquire()
        return lock

    def _start(self, ctx: Context, raw: bytes, **overrides: Any) -> int:
        """The start sequence (with --retry, again after a retriable failure, as the plan's retry
        policy says): its exit code."""
        policy = retry_policy(PlanOptions.of(self.options))
        attempt = 0
        while True:
            code = self._start_once(ctx, raw, **overrides)
            if code in (0, FINAL, ROLLED_BACK) or policy is None or self.stopping or self.reread:
                return code
            delay = policy.delay(attempt, random.random())
            attempt += 1
            log.warning("deployment failed; --retry: attempt %d in %.1fs", attempt + 1, delay)
            self._wait(delay)
            if self.stopping or self.reread:
                return code

    def _start_once(self, ctx: Context, raw: bytes, **overrides: Any) -> int:
        """overrides: the deploy child's options for this start (after_stop, prefetch_only)."""
        if self.start_in is not None:
            return self.start_in(ctx, raw, overrides)
        snapshot = ctx.ws.state.write("definition.json", raw)  # exactly what was validated, for the child
        which = {"parameters": str(snapshot)} if self.options.parameters else {"definition": str(snapshot)}
        argv = [sys.executable, "-m", "dadc", "deploy", "--under-run",
                *self.options.child_argv(compose_command=ctx.compose.name, state_dir=str(ctx.ws.state.base), **which,
                                         **overrides)]
        assert self.lock is not None
        # the child holds the project's lock with this process (the same open file): if this one is
        # killed outright, the child keeps it until it ends, which it does at once (PDEATHSIG)
        fd = self.lock.inheritable()
        import os
        env = dict(os.environ, **{ENV_FD: str(fd), "DADC_PARENT_PID": str(os.getpid())})
        return process.spawn(argv, self._relay, pass_fds=(fd,), env=env)

    def _relay(self, line: str) -> None:
        """A status line of the deploy child, published by this process's sink."""
        try:
            payload = json.loads(line)
        except ValueError:
            return
        if isinstance(payload, dict) and payload.get("status") == "success":
            self.succeeded = True
        if isinstance(payload, dict):
            self.last_status = payload
        self.sink.publish(payload)

    def reload(self) -> None:
        """SIGHUP's work: read the definition again and apply what changed."""
        self._check(force=True)

    def _check(self, force: bool) -> None:
        try:
            raw = self.source.read(force=force)
        except DadcError as exc:
            self._fail(exc)
            return
        if raw is not None:
            self._apply(raw)

    # --- the loop --------------------------------------------------------------------------------
    def run(self) -> int:
        """0 once stopped cleanly; 1 when the stop sequence left containers behind."""
        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            signal.signal(sig, self._signal)
        self._check(force=True)
        clock = time.monotonic
        next_poll = clock() + self._jittered() if self.poll else float("inf")
        next_log = clock()
        while not self.stopping:
            if self.ctx is not None and clock() >= next_log:
                monitor.log_status(self.ctx.docker, self.ctx.project)
                next_log = clock() + int(self.ctx.config.value("DockerContainerStatusLogFrequency") or 300)
            self._wait(min(next_poll, next_log if self.ctx else float("inf")) - clock())
            if self.stopping:
                break
            while self.tasks and not self.stopping:
                self.tasks.popleft()()
            if self.reread or clock() >= next_poll:
                force, self.reread = self.reread, False
                self._check(force=force)
                next_poll = clock() + self._jittered() if self.poll else float("inf")
        ok = True
        if self.ctx is not None:
            process.resume()  # what was interrupted is over: the stop sequence runs its commands
            budget = None if self.stop_deadline is None else self.stop_deadline - time.monotonic()
            ok = stopping.stop(self.ctx, budget)
        self.sink.close()
        if self.lock is not None:
            self.lock.release()
        log.info("stopped%s", "" if ok else " (with containers left, see above)")
        return self.exit_code or (0 if ok else 1)

    def _jittered(self) -> float:
        """80-100% of the poll interval: a fleet's requests spread out instead of bunching, and a
        change is still seen within the interval the operator chose."""
        assert self.poll is not None
        return self.poll * random.uniform(0.8, 1.0)
