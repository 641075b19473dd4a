"""The compose CLI and the engine: down (with ForceDeploy's removal by label, or a stop's report),
remove, abort, up (judged by what runs), and the health gate."""
from __future__ import annotations

import logging
import shlex
from pathlib import Path
from typing import Any

from dadc.errors import CommandFailed, DadcError, HealthGateFailed, InternalError
from dadc.plan import Step
from dadc.runtime import health
from dadc.runtime.context import Context
from dadc.runtime.session import Session
from dadc.steps import Fallback, File, Guard, Kind

log = logging.getLogger("dadc.step")


class StopIncomplete(InternalError):
    """The stop sequence left containers behind (reported, with how to remove them)."""


def step_file(ctx: Context, s: Session, step: Step) -> Path:
    """The file a step works on: the session's incoming one (fetched, or offline the local copy)."""
    return s.file if step.file == File.INCOMING and s.file is not None else ctx.file(step.file)


def expected_replicas(project: Any) -> dict[str, int]:
    return {s.name: s.replicas for s in project.services if s.replicas > 0}


def target_runs(ctx: Context, s: Session) -> bool:
    """The guard of a recovery's down and remove: what runs is already the release that comes
    back: its compose file is the local copy and each service runs its recorded image."""
    if s.target is None:
        return False
    from dadc.domain.release import sha256
    local = ctx.dest.local_copy()
    if local is None or sha256(local) != s.target.release.compose_sha:
        return False
    running = {c.service: c.image_id for c in ctx.docker.states(ctx.project)}
    return all(running.get(service) == image.id for service, image in s.target.release.images)


def down(ctx: Context, s: Session, step: Step) -> None:
    if step.guard == Guard.UNLESS_TARGET_RUNS and target_runs(ctx, s):
        return  # what runs is the release that comes back: up reconciles it
    try:
        ctx.run_compose("down", step_file(ctx, s, step), timeout=step.timeout)
        left = ctx.docker.containers(ctx.project)  # judged by the engine too, not by the exit code alone
        if left:
            raise CommandFailed(f"down left {len(left)} container(s): {', '.join(c.name for c in left)}")
    except DadcError as exc:
        if step.fallback == Fallback.FORCE_REMOVE:
            log.warning("cleanup failed (%s); %s: removing the project's containers", exc, step.origin)
            remove(ctx, s, step)
        elif step.fallback == Fallback.REPORT:
            left = ctx.docker.containers(ctx.project)
            names = ", ".join(c.name for c in left)
            log.error("stop: %s; %d container(s) left: %s", exc, len(left), names)
            if left:
                log.error("remove them with: %s", shlex.join([ctx.docker.binary, "rm", "-f", *(c.name for c in left)]))
            raise StopIncomplete(f"stop left {len(left)} container(s): {names}") from None
        else:
            raise InternalError(f"cleaning up the previous deployment failed: {exc}{step.hint}") from None


def remove(ctx: Context, s: Session, step: Step) -> None:
    if step.guard == Guard.UNLESS_TARGET_RUNS and target_runs(ctx, s):
        return
    ids = [c.id for c in ctx.docker.containers(ctx.project)]
    ctx.docker.remove(ids)
    log.warning("%s: removed %d container(s) of project %s", step.origin, len(ids), ctx.project)


def abort(ctx: Context, s: Session, step: Step) -> None:
    raise InternalError(step.refusal)


def up(ctx: Context, s: Session, step: Step) -> None:
    """up, then what it left, judged by the engine whatever compose's exit status (health.after_up),
    compose's own words in the failure."""
    assert s.project is not None
    began = ctx.clock()
    done = ctx.run_compose("up", step_file(ctx, s, step), timeout=step.timeout)
    log.info("its up took %.2fs", ctx.clock() - began)
    states = ctx.docker.states(ctx.project)
    s.up = tuple(c.id for c in states)
    wrong = health.after_up(states, expected_replicas(s.project))
    if wrong:
        said = done.stderr.strip()
        log.error("up exited %d but %s; compose said: %s", done.returncode, wrong, said or "nothing")
        tail = " / ".join(said.splitlines()[-3:])
        raise CommandFailed(f"up: {wrong}" + (f"; compose said: {tail}" if tail else ""), stderr=said)


def gate(ctx: Context, s: Session, step: Step) -> None:
    """Judge the release; a failure is the step's failure (its planned recovery follows)."""
    assert s.project is not None and step.timeout is not None
    for slow in s.project.slow_starts(step.timeout, step.stable):
        log.warning("%s", slow)
    verdict = health.gate(ctx.docker, ctx.project, expected_replicas(s.project), step.timeout, step.stable,
                          ctx.clock, ctx.pause, s.project.one_shots)
    if not verdict.ok:
        raise HealthGateFailed(f"{step.label}: {verdict.reason}")
    log.info("health gate passed: every service up and stable for %gs", step.stable)


HANDLERS = {Kind.DOWN: down, Kind.REMOVE: remove, Kind.ABORT: abort, Kind.UP: up, Kind.GATE: gate}
