"""Executes planned steps: a dispatch table over step kinds, built from the handler families
(runtime/handlers/). It makes no decision of its own: which file, which limit, what is checked
first and what follows a failure all come with the step (connector/plan.py)."""
from __future__ import annotations

import logging
from typing import Callable

from dadc.errors import DadcError, HealthGateFailed, Interrupted, RecoveryEnded
from dadc.plan import Step
from dadc.runtime.context import Context
from dadc.runtime.handlers import compose, images, records, recovery, registry, source
from dadc.runtime.seams import process
from dadc.runtime.session import Session
from dadc.steps import Fallback, Kind

log = logging.getLogger("dadc.step")

Handler = Callable[[Context, Session, Step], None]
HANDLERS: dict[Kind, Handler] = {**source.HANDLERS, **registry.HANDLERS, **compose.HANDLERS, **records.HANDLERS,
                                 **recovery.HANDLERS, **images.HANDLERS}


def execute(ctx: Context, steps: list[Step] | tuple[Step, ...], session: Session | None = None) -> Session:
    """Run the steps in order. A step that fails with a planned recovery (its on_fail) hands over
    to it; the recovery ends the start: its `fail` step says what runs, and any failure inside it
    is final (not retried), saying what is left running. A step whose fallback is LOG only logs
    its failure (the start has succeeded already)."""
    from dadc.planview import describe
    session = session or Session()
    for step in steps:
        process.check_interrupt()  # SIGTERM: the rest is skipped (for the stop sequence)
        log.info("step: %s", describe(ctx, step))
        try:
            HANDLERS[step.kind](ctx, session, step)
        except Interrupted:
            raise
        except DadcError as exc:
            if step.fallback == Fallback.LOG:
                log.error("%s failed: %s", step.kind, exc)
                continue
            if not step.on_fail:
                raise
            _recover(ctx, session, step, exc)
        session.done.append(str(step.kind))
    return session


def _recover(ctx: Context, s: Session, step: Step, exc: DadcError) -> None:
    s.failure = str(exc)
    log.error("%s; recovery: %s", exc, ", ".join(str(r.kind) for r in step.on_fail))
    try:
        execute(ctx, step.on_fail, s)
    except (Interrupted, RecoveryEnded):
        raise  # the recovery's own end (its fail step, the same release again): it says what runs
    except DadcError as inner:
        if s.target is not None:
            raise HealthGateFailed(f"{s.failure}; rollback to {s.target.describe()} failed: {inner}; "
                                   f"left running: {recovery.left_running(ctx)}") from None
        raise HealthGateFailed(f"{s.failure}; {inner}") from None
    raise HealthGateFailed(s.failure)  # a recovery without a fail step (not planned so): still a failure
