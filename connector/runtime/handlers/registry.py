"""Registries: logging in (the secrets' registries, then the ECR registries of the file that will
run) and pulling. A refusal (401, AccessDenied) fails whatever the fallback: it is not offline."""
from __future__ import annotations

import logging

from dadc.domain.images import ecr_registries
from dadc.errors import CommandFailed, CredentialError, DadcError, InternalError, Unreachable
from dadc.plan import Step
from dadc.runtime.context import Context
from dadc.runtime.handlers.compose import step_file
from dadc.runtime.handlers.source import offline
from dadc.runtime.seams.docker import unreachable
from dadc.runtime.session import Session
from dadc.steps import Fallback, Kind, StandIn

log = logging.getLogger("dadc.step")


def _unreached(ctx: Context, s: Session, step: Step, exc: DadcError) -> None:
    """A login that could not reach Secrets Manager, ECR or the registry: offline, when allowed."""
    if step.fallback != Fallback.OFFLINE or not isinstance(exc, Unreachable):
        raise exc
    offline(ctx, s, str(exc))


def login(ctx: Context, s: Session, step: Step) -> None:
    """Each login tried step.attempts times, pausing step.delays between (both planned)."""
    try:
        logins = ctx.cloud.secret_logins(ctx.config.secret_arns()) if ctx.config.secret_arns() else []
    except CredentialError as exc:
        _unreached(ctx, s, step, exc)
        logins = []
    assert s.project is not None
    registries = ecr_registries(s.project.images)
    if registries:
        try:
            logins += ctx.cloud.ecr_logins(registries)
        except CredentialError as exc:
            _unreached(ctx, s, step, exc)
    for entry in logins:
        for attempt, delay in enumerate((*step.delays, None), 1):
            try:
                ctx.docker.login(ctx.dest.docker_config, entry, timeout=step.timeout)
                ctx.dest.private_docker_config()
                break
            except CredentialError as exc:  # docker's own answer, never the password
                if delay is None:
                    _unreached(ctx, s, step, exc)
                    break
                log.warning("%s; attempt %d of %d, next in %gs", exc, attempt, step.attempts, delay)
                ctx.pause(delay)


def pull_images(ctx: Context, s: Session, step: Step, services: tuple[str, ...]) -> None:
    """compose pull of these services (none named: every one), judged by the engine too, not the exit
    code alone: CommandFailed when an image is still missing. The version's pull and --prefetch."""
    assert s.project is not None
    pulled = ctx.run_compose("pull", step_file(ctx, s, step), *services, timeout=step.timeout)
    missing = ctx.docker.missing_images(s.project.images)
    if missing:
        raise CommandFailed(f"pull did not fetch {', '.join(missing)}", stderr=pulled.stderr)


def may_stand_in(s: Session, step: Step, exc: CommandFailed) -> bool:
    """Local images may stand in for this failed pull: the step's fallback allows it for the reason
    it failed (the registry out of reach, or a start that already runs on the local copy)."""
    why = StandIn.UNREACHABLE if exc.timed_out or unreachable(exc.stderr) else \
        StandIn.ON_LOCAL_COPY if s.offline else None
    return step.fallback == Fallback.LOCAL_IMAGES and why in step.stand_in


def pull(ctx: Context, s: Session, step: Step) -> None:
    assert s.project is not None
    try:
        pull_images(ctx, s, step, s.project.pull_services)
    except CommandFailed as exc:
        if not may_stand_in(s, step, exc):
            raise
        missing = ctx.docker.missing_images(s.project.images)
        if missing:
            raise InternalError(f"{exc}; offline fallback: not present locally: {', '.join(missing)}") from None
        log.warning("pull failed (%s); offline fallback: every image is present locally", exc)


HANDLERS = {Kind.LOGIN: login, Kind.PULL: pull}
