"""The stop sequence, for `dadc stop`, `dadc run`'s exit and a new deployment's first half."""
from __future__ import annotations

import logging

from dadc.errors import DadcError
from dadc.options import RuntimeOptions
from dadc.plan import Observed, plan_stop
from dadc.runtime import context, executor
from dadc.runtime.context import Context, Hooks

log = logging.getLogger("dadc.stop")


def stop(ctx: Context, budget: float | None = None) -> bool:
    """Run the version's stop sequence; False when it left containers behind (they are reported).
    budget: the seconds left of the stop limit (a stop that follows an interrupted start)."""
    steps = plan_stop(ctx.config.profile, ctx.config.params,
                      Observed(previous_file=ctx.dest.has_local_copy(), project_running=False), ctx.plan_options,
                      budget)
    if not steps:
        log.info("stop: containers are left running (StopContainersOnNewDeployment is false, or nothing deployed)")
        return True
    try:
        executor.execute(ctx, steps)
    except DadcError as exc:
        log.error("stop failed: %s", exc)
        return False
    return True


def stop_definition(options: RuntimeOptions, hooks: Hooks | None = None) -> bool:
    """`dadc stop`: the stop sequence of the definition the options name, under the project's lock."""
    ctx = context.for_options(options, hooks)
    with ctx.lock():
        return stop(ctx)
