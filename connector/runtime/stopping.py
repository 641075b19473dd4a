"""The stop sequence, and the compose and removal steps it shares with the start sequence.

Kept apart from deploy.py so the long-lived `dadc run` never imports YAML, boto3 or the
credentials code: it only ever stops.
"""
from __future__ import annotations

import logging
import shlex

from connector.errors import CommandFailed
from connector.plan import Observed, plan_stop
from connector.runtime import monitor, process
from connector.runtime.context import Context

log = logging.getLogger("dadc.stop")


def compose(ctx: Context, action: str, which: str, timeout: float | None = None) -> None:
    process.run(ctx.compose_argv(action, which), env=ctx.env, run_as=ctx.run_as, timeout=timeout,
                cwd=str(ctx.dest.root))


def force_remove(ctx: Context) -> list[str]:
    """Remove the project's containers by label (ForceDeploy, or the stop limit's leftovers)."""
    ids = [c.id for c in monitor.containers(ctx.docker, ctx.env, ctx.run_as)]
    if ids:
        process.run([ctx.docker, "rm", "-f", *ids], env=ctx.env, run_as=ctx.run_as, timeout=300)
    return ids



def stop(ctx: Context) -> bool:
    """The stop sequence: down within the stop limit; past it, report what is left and how to remove it."""
    steps = plan_stop(ctx.config.profile, ctx.config.params,
                      Observed(previous_file=ctx.dest.compose_file.is_file(), project_running=False))
    if not steps:
        log.info("stop: containers are left running (StopContainersOnNewDeployment is false or nothing deployed)")
        return True
    try:
        for step in steps:
            log.info("stop step: %s", step)
            compose(ctx, step.action, step.file, timeout=ctx.stop_timeout)
    except CommandFailed as exc:
        left = monitor.containers(ctx.docker, ctx.env, ctx.run_as)
        log.error("stop: %s; %d container(s) left: %s", exc, len(left), ", ".join(c.name for c in left))
        if left:
            log.error("remove them with: %s", shlex.join([ctx.docker, "rm", "-f", *(c.name for c in left)]))
        return False
    return True
