"""A start, from the runtime options to its one status message: read the definition, take the
destination's lock, observe, plan, execute, report. `dadc deploy` (also as the `--under-run` child
of `dadc run`) and the conformance harness start through start(); nothing else does."""
from __future__ import annotations

import logging
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Callable

from connector.errors import DadcError
from connector.options import RuntimeOptions
from connector.plan import Observed, plan_start
from connector.runtime import context, executor
from connector.runtime.context import Context
from connector.runtime.seams.aws import Cloud
from connector.runtime.settings import Config
from connector.runtime.status import Sink, failure, locate, success

log = logging.getLogger("dadc.deploy")
# `dadc deploy --under-run` exit codes beyond 0 and 1, for the `dadc run` that started it:
FINAL = 4  # failed, and a retry would not help (an invalid definition, a release that failed its gate)
ROLLED_BACK = 5  # failed its health gate, and the previous deployment runs again


@dataclass(frozen=True)
class Outcome:
    """How a start ended; truthy on success. retriable: `dadc run --retry` may try it again."""

    ok: bool
    retriable: bool = False
    rolled_back: bool = False  # a release that failed its gate: the previous deployment runs again

    def __bool__(self) -> bool:
        return self.ok


def exit_code(outcome: Outcome) -> int:
    """What `dadc deploy --under-run` tells the `dadc run` that started it."""
    return 0 if outcome else ROLLED_BACK if outcome.rolled_back else 1 if outcome.retriable else FINAL


def observe(ctx: Context) -> Observed:
    ctx.dest.read_state()  # every record is read before anything runs: a planted link is refused now
    running = bool(ctx.docker.containers(ctx.project))
    return Observed(previous_file=ctx.dest.has_local_copy(), project_running=running,
                    last_good=ctx.dest.last_good() is not None, failed_release=bool(ctx.dest.failed()))


def start(options: RuntimeOptions, sink: Sink, *, cloud: Cloud | None = None, take_lock: bool = True,
          pause: Callable[[float], None] | None = None, clock: Callable[[], float] | None = None,
          config: Config | None = None) -> Outcome:
    """The whole start; any failure, reading the definition included, ends in one fail status
    message. take_lock=False: the caller (`dadc run`, whose child this is) holds it."""
    try:
        ctx = context.for_options(options, cloud, pause, clock, config)
        locate(sink, str(ctx.dest.root))
        if not take_lock:
            return _sequence(ctx, sink)
        with ctx.dest.lock():
            return _sequence(ctx, sink)
    except DadcError as exc:
        log.error("%s: %s", exc.error, exc)
        sink.publish(failure(str(exc), exc.error))
        return Outcome(False, exc.retriable)


def _sequence(ctx: Context, sink: Sink) -> Outcome:
    p = ctx.config.params
    try:
        if ctx.config.value("DockerUserId") is None:
            log.info("no DockerUserId: docker and compose run as dadc's own user (uid %d), where the original "
                     "connector ran them as ggc_user", os.geteuid())
        for warning in ctx.dest.check():
            log.warning("%s", warning)
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="dadc-observe") as pool:
            observed = pool.submit(observe, ctx)  # the engine answers while boto3 loads
            ctx.cloud  # noqa: B018
            steps = plan_start(ctx.config.profile, p, observed.result(), ctx.options)
        # the record of what runs (image ids, digests) is bookkeeping for a later rollback: it is
        # made after the status message is out, which says only what happened
        after = steps[-1:] if steps and steps[-1].kind == "record" else []
        session = executor.execute(ctx, steps[:len(steps) - len(after)])
    except DadcError as exc:
        log.error("deployment failed (%s): %s", exc.error, exc)
        sink.publish(failure(str(exc), exc.error))
        return Outcome(False, exc.retriable, bool(exc.details.get("rolled_back")))
    except Exception as exc:  # an unexpected fault still ends in a status message
        log.exception("deployment failed")
        sink.publish(failure(f"{type(exc).__name__}: {exc}", "InternalError"))
        return Outcome(False, True)
    # what ran: the definition's file, or, offline, the local copy and where it came from
    sink.publish(success(*session.source()))
    log.info("deployment succeeded")
    try:
        executor.execute(ctx, after, session)
    except DadcError as exc:  # it runs and said so; only a later rollback to it is lost
        log.error("recording the deployment for a rollback failed: %s", exc)
    return Outcome(True)
