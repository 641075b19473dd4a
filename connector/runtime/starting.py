"""A start, from the runtime options to its one status message: read the definition, take the
compose project's lock, observe, plan, execute (the plan publishes the status). `dadc deploy`
(also as the `--under-run` child of `dadc run`) and the conformance harness start through
start(); nothing else does."""
from __future__ import annotations

import logging
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from dadc.errors import DadcError, DefinitionUnreadable, RecoveryEnded
from dadc.options import RuntimeOptions
from dadc.plan import Observed, plan_prefetch, plan_start
from dadc.runtime import context, executor
from dadc.runtime.context import Context, Hooks
from dadc.runtime.session import Session
from dadc.runtime.settings import Config
from dadc.runtime.status import Sink, failure, locate

log = logging.getLogger("dadc.deploy")
# `dadc deploy --under-run` exit codes beyond 0 and 1, for the `dadc run` that started it:
FINAL = 4  # failed, and a retry would not help (an invalid definition, a release that failed its gate)
ROLLED_BACK = 5  # failed its health gate, and the previous deployment runs again


@dataclass(frozen=True)
class Outcome:
    """How a start ended; truthy on success. retriable: `dadc run --retry` may try it again."""

    ok: bool
    retriable: bool = False
    rolled_back: bool = False  # a release that failed: a good deployment runs again
    unreadable: bool = False  # the definition could not be read or parsed: nothing was tried

    def __bool__(self) -> bool:
        return self.ok


def exit_code(outcome: Outcome) -> int:
    """What `dadc deploy --under-run` tells the `dadc run` that started it."""
    return 0 if outcome else ROLLED_BACK if outcome.rolled_back else 1 if outcome.retriable else FINAL


def observe(ctx: Context) -> Observed:
    """What the planner needs to know, the one way it is looked at: the local copy, what runs,
    and the history (a history that cannot be read is said so, never read as empty)."""
    history = ctx.ws.history
    damaged = history.damaged()
    running = bool(ctx.docker.containers(ctx.project))
    return Observed(previous_file=ctx.dest.has_local_copy(), project_running=running,
                    last_good=not damaged and history.last_good() is not None,
                    failed_release=not damaged and bool(history.failed_releases()), history=damaged)


def start(options: RuntimeOptions, sink: Sink, *, hooks: Hooks | None = None, take_lock: bool = True,
          config: Config | None = None) -> Outcome:
    """The whole start; any failure, reading the definition included, ends in one fail status
    message. take_lock=False: the caller (`dadc run` in this same process) holds the lock; a
    deploy child of `dadc run` takes it over from its parent (seams/lock.py)."""
    try:
        ctx = context.for_options(options, hooks, config)
        locate(sink, str(ctx.dest.root))
        if not take_lock:
            return _sequence(ctx, sink)
        with ctx.lock():
            return _sequence(ctx, sink)
    except DadcError as exc:
        log.error("%s: %s", exc.error, exc)
        sink.publish(failure(str(exc), exc.error))
        return Outcome(False, exc.retriable, unreadable=isinstance(exc, DefinitionUnreadable))


def _sequence(ctx: Context, sink: Sink) -> Outcome:
    session = Session(publish=sink.publish)
    try:
        if ctx.config.value("DockerUserId") is None:
            log.info("no DockerUserId: docker and compose run as dadc's own user (uid %d), where the original "
                     "connector ran them as ggc_user", os.geteuid())
        for warning in ctx.ws.prepare():
            log.warning("%s", warning)
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="dadc-observe") as pool:
            observed = pool.submit(observe, ctx)  # the engine answers while boto3 loads
            ctx.cloud  # noqa: B018
            if ctx.plan_options.prefetch_only:
                steps = plan_prefetch(ctx.config.profile, ctx.config.params, ctx.plan_options)
            else:
                steps = plan_start(ctx.config.profile, ctx.config.params, observed.result(), ctx.plan_options)
        executor.execute(ctx, steps, session)
    except DadcError as exc:
        if session.published:  # it runs and said so (an interrupt during the record, say)
            log.error("after the deployment: %s", exc)
            return Outcome(True)
        log.error("deployment failed (%s): %s", exc.error, exc)
        sink.publish(failure(str(exc), exc.error))
        return Outcome(False, exc.retriable, isinstance(exc, RecoveryEnded) and exc.rolled_back)
    except Exception as exc:  # an unexpected fault still ends in a status message
        log.exception("deployment failed")
        sink.publish(failure(f"{type(exc).__name__}: {exc}", "InternalError"))
        return Outcome(False, True)
    return Outcome(True)
