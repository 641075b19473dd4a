"""The start sequence: observe, plan, execute, report. One status message per start."""
from __future__ import annotations

import logging
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from connector.errors import DadcError
from connector.plan import Observed, plan_start
from connector.runtime import executor
from connector.runtime.context import Context
from connector.runtime.status import Sink, failure, success

log = logging.getLogger("dadc.deploy")


@dataclass(frozen=True)
class Outcome:
    """How a start ended; truthy on success. retriable: `dadc run --retry` may try it again."""

    ok: bool
    retriable: bool = False
    rolled_back: bool = False  # a release that failed its gate: the previous deployment runs again

    def __bool__(self) -> bool:
        return self.ok


def observe(ctx: Context) -> Observed:
    ctx.dest.read_state()  # every record is read before anything runs: a planted link is refused now
    running = bool(ctx.docker.containers(ctx.project))
    return Observed(previous_file=ctx.dest.has_local_copy(), project_running=running,
                    last_good=ctx.dest.last_good() is not None, failed_release=bool(ctx.dest.failed()))


def start(ctx: Context, sink: Sink) -> Outcome:
    """The start sequence; publishes one status message."""
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
