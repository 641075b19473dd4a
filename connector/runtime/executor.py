"""Executes planned steps: a dispatch table over step kinds. It makes no decision of its own:
which file, which limit and what to do on failure all come with the step (connector/plan.py).
describe() renders a step exactly as it will run, for `dadc plan`."""
from __future__ import annotations

import logging
import shlex
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

from connector.errors import (CommandFailed, CredentialError, DadcError, InternalError, InvalidParameter,
                              Unreachable, UnsafeFile)
from connector.plan import Step, limit
from connector.runtime.context import Context
from connector.runtime.seams import history, process
from connector.runtime.seams.docker import unreachable
from connector.runtime.seams.secrets import ecr_registries

if TYPE_CHECKING:  # YAML is imported only by a start, never by the long-lived `dadc run`
    from connector.runtime.composefile import ComposeProject

log = logging.getLogger("dadc.step")


class StopIncomplete(InternalError):
    """The stop sequence left containers behind (reported, with how to remove them)."""


class HealthGateFailed(InternalError):
    """A release failed its health gate (and was rolled back or taken down): retrying the same
    release would not help, so `dadc run --retry` does not."""

    retriable = False


@dataclass
class Session:
    """What the steps of one start hand on to each other."""

    file: Path | None = None  # the compose file the steps call "incoming": fetched, or the local copy
    raw: bytes = b""
    version_id: str | None = None
    offline: bool = False  # the local copy stands in (an offline fallback)
    project: "ComposeProject | None" = None
    ran: dict[str, Any] | None = None  # where the file that runs came from (the local copy's, offline)

    def source(self) -> tuple[str, str, str | None]:
        """(bucket, key, version) of what runs, for the status message."""
        assert self.ran is not None
        return self.ran.get("bucket") or "", self.ran.get("key") or "", \
            self.ran.get("requested_version") or self.ran.get("version_id")


def _source(ctx: Context) -> tuple[str, str, str | None]:
    p = ctx.config
    return p.params["DockerComposeFileS3Bucket"], p.params["DockerComposeFileS3Key"], p.value("DockerComposeFileS3Version")


def _file(ctx: Context, s: Session, step: Step) -> Path:
    return s.file if step.file == "incoming" and s.file is not None else ctx.file(step.file)


def _check(raw: bytes, where: str) -> None:
    """dadc's safe check of the bytes: hostile input never reaches a file or a CLI."""
    from connector.runtime import composefile
    try:
        composefile.check(raw)
    except InvalidParameter as exc:
        raise type(exc)(f"{where}: {exc}") from None


def _offline(ctx: Context, s: Session, reason: str) -> None:
    """An offline fallback: the local copy (and the local images) stand in for what could not be
    reached. Idempotent: a start already on the local copy stays on it."""
    if s.offline:
        log.warning("%s; offline fallback: staying on the local copy", reason)
        return
    local = ctx.dest.compose_file
    raw = ctx.dest.local_copy()
    if raw is None:
        raise InternalError(f"{reason}; offline fallback: no local compose file in {ctx.dest.root}")
    wrong = ctx.dest.installed_unchanged()  # the DockerUserId user may write the folder
    if wrong:
        raise UnsafeFile(f"{reason}; offline fallback: {wrong}: refused to run it; nothing was changed")
    state = ctx.dest.read_state()
    came = f"s3://{state.get('bucket')}/{state.get('key')} version {state.get('version_id') or '-'}"
    log.warning("%s; offline fallback: deploying the local copy %s (from %s), not the definition's file",
                reason, local, came)
    s.raw = raw
    s.file, s.offline, s.version_id = local, True, state.get("version_id")
    s.ran = {k: state.get(k) for k in ("bucket", "key", "requested_version", "version_id")}
    _check(s.raw, str(local))
    s.project = ctx.read_project(local, str(local), timeout=limit("config"))
    _warn_risky(s.project, s.raw, str(local))


def _warn_risky(project: "ComposeProject", raw: bytes, where: str) -> None:
    """Settings that hand a container the host, in every start's log (docs/rules.md W7xxx)."""
    from connector.validation import rules_compose
    for f in rules_compose.locate(list(project.risky), raw, where):
        log.warning("%s:%d:%d: warning %s %s", f.file, f.line, f.column, f.rule, f.message)


def _fetch(ctx: Context, s: Session, step: Step) -> None:
    bucket, key, version = _source(ctx)
    try:
        fetched = ctx.cloud.fetch(bucket, key, version)
    except Unreachable as exc:  # a denial or a body cut short is not offline: it fails
        if step.fallback != "offline":
            raise
        return _offline(ctx, s, str(exc))
    assert fetched is not None
    where = f"s3://{bucket}/{key}"
    if step.guard == "last-good":
        _refuse_failed_release(ctx, fetched.raw, step)
    _check(fetched.raw, where)
    ctx.dest.write_incoming(fetched.raw)
    s.project = ctx.read_project(ctx.dest.incoming, where, timeout=step.timeout)
    _warn_risky(s.project, fetched.raw, where)
    s.file, s.raw, s.version_id = ctx.dest.incoming, fetched.raw, fetched.version_id
    s.ran = {"bucket": bucket, "key": key, "requested_version": version, "version_id": fetched.version_id}


def _unreached(ctx: Context, s: Session, step: Step, exc: DadcError) -> None:
    """A login that could not reach Secrets Manager, ECR or the registry: offline, when allowed."""
    if step.fallback != "offline" or not isinstance(exc, Unreachable):
        raise exc
    _offline(ctx, s, str(exc))


def _login(ctx: Context, s: Session, step: Step) -> None:
    """The secrets' registries, then the ECR registries of the file that will run (the local copy's,
    once offline). A refusal (401, AccessDenied) fails whatever the fallback: it is not offline."""
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
    for login in logins:
        for attempt in range(1, step.attempts + 1):
            try:
                ctx.docker.login(ctx.dest.docker_config, login, timeout=step.timeout)
                ctx.dest.private_docker_config()
                break
            except CredentialError as exc:  # docker's own answer, never the password
                if attempt == step.attempts:
                    _unreached(ctx, s, step, exc)
                    break
                delay = step.retry_delay * 2 ** (attempt - 1)
                log.warning("%s; attempt %d of %d, next in %gs", exc, attempt, step.attempts, delay)
                ctx.pause(delay)


def _pull(ctx: Context, s: Session, step: Step) -> None:
    assert s.project is not None
    try:
        pulled = ctx.run_compose("pull", _file(ctx, s, step), *s.project.pull_services, timeout=step.timeout)
        missing = ctx.docker.missing_images(s.project.images)  # compose v2 exits 0 on a missing manifest
        if missing:
            raise CommandFailed(f"pull did not fetch {', '.join(missing)}", stderr=pulled.stderr)
    except CommandFailed as exc:
        # local images stand in for a registry that could not be reached; once the start runs on the
        # local copy (nothing could be logged in to), for any failed pull
        gone = exc.details.get("timeout") or unreachable(str(exc.details.get("stderr") or ""))
        if step.fallback != "local-images" or not (gone or s.offline):
            raise
        missing = ctx.docker.missing_images(s.project.images)
        if missing:
            raise InternalError(f"{exc}; offline fallback: not present locally: {', '.join(missing)}") from None
        log.warning("pull failed (%s); offline fallback: every image is present locally", exc)


def _down(ctx: Context, s: Session, step: Step) -> None:
    try:
        ctx.run_compose("down", _file(ctx, s, step), timeout=step.timeout)
        left = ctx.docker.containers(ctx.project)  # compose v2 exits 0 on a file it cannot parse
        if left:
            raise CommandFailed(f"down left {len(left)} container(s): {', '.join(c.name for c in left)}")
    except DadcError as exc:
        if step.fallback == "force-remove":
            log.warning("cleanup failed (%s); %s: removing the project's containers", exc, step.origin)
            _remove(ctx, s, step)
        elif step.fallback == "report":
            left = ctx.docker.containers(ctx.project)
            names = ", ".join(c.name for c in left)
            log.error("stop: %s; %d container(s) left: %s", exc, len(left), names)
            if left:
                log.error("remove them with: %s", shlex.join([ctx.docker.binary, "rm", "-f", *(c.name for c in left)]))
            raise StopIncomplete(f"stop left {len(left)} container(s): {names}") from None
        else:
            raise InternalError(f"cleaning up the previous deployment failed: {exc}{step.reason}") from None


def _remove(ctx: Context, s: Session, step: Step) -> None:
    ids = [c.id for c in ctx.docker.containers(ctx.project)]
    ctx.docker.remove(ids)
    log.warning("%s: removed %d container(s) of project %s", step.origin, len(ids), ctx.project)


def _abort(ctx: Context, s: Session, step: Step) -> None:
    raise InternalError(step.reason)


def _install(ctx: Context, s: Session, step: Step) -> None:
    if s.offline:
        return  # the local copy is already the current file
    bucket, key, version = _source(ctx)
    ctx.dest.install(s.raw, {"bucket": bucket, "key": key, "requested_version": version, "version_id": s.version_id})


def _up(ctx: Context, s: Session, step: Step) -> None:
    assert s.project is not None
    ctx.run_compose("up", _file(ctx, s, step), timeout=step.timeout)
    have = {c.service for c in ctx.docker.containers(ctx.project)}  # compose v2 exits 0 when it creates nothing
    missing = [name for name in s.project.names if name not in have]
    if missing:
        raise CommandFailed(f"up created no container for {', '.join(missing)}")


def _refuse_failed_release(ctx: Context, raw: bytes, step: Step) -> None:
    """The definition still names a release that failed (its gate, or `dadc rollback`): a good
    deployment keeps running until a new release (another file) arrives."""
    from connector.runtime import rollback
    from connector.runtime.seams.local import digest
    failed = ctx.dest.failed_release(digest(raw))
    if failed is None or any(failed.get(k) != v for k, v in rollback.source(ctx, None).items() if k != "version_id"):
        return
    what = rollback.restore(ctx, step.gate, step.stable, exclude=digest(raw))
    raise HealthGateFailed(f"{rollback.describe(failed)} is the release that failed ({failed.get('reason')}); "
                           f"the last good deployment runs instead: {what}", rolled_back=True)


def _gate(ctx: Context, s: Session, step: Step) -> None:
    from connector.runtime import health, rollback
    from connector.runtime.seams.local import digest
    assert s.project is not None and step.timeout is not None
    for slow in s.project.slow_starts(step.timeout):
        log.warning("%s: the gate may fail while it starts", slow)
    verdict = health.gate(ctx.docker, ctx.project, rollback.expected_replicas(s.project), step.timeout, step.stable,
                          ctx.clock, ctx.pause, s.project.one_shots)
    if verdict.ok:
        log.info("health gate passed: every service up and stable for %gs", step.stable)
        return
    reason = f"health gate failed: {verdict.reason}"
    last = ctx.dest.last_good()
    if last is not None and last[1].get("sha256") == digest(s.raw):
        # the same release again (a reboot while a dependency is down, a slow start): not a new
        # release, so not recorded as failed and not rolled back to itself; the next start tries it
        raise HealthGateFailed(f"{reason}; it is the last good release: it stays, and stays the last good "
                               "(not recorded as failed); the next start tries it again")
    kept = ctx.dest.record_failed(s.raw, {**(s.ran or rollback.source(ctx, s.version_id)), "reason": reason,
                                          "at": __import__("time").time()})
    log.error("%s; the release is kept in %s and will not run again by itself", reason, kept)
    if step.fallback != "rollback":
        rollback.take_down(ctx)
        raise HealthGateFailed(f"{reason}; no previous good deployment: the release was taken down")
    try:
        what = rollback.restore(ctx, step.timeout, step.stable, exclude=digest(s.raw))
    except InternalError as exc:
        raise HealthGateFailed(f"{reason}; {exc}") from None
    raise HealthGateFailed(f"{reason}; rolled back to {what}, running again", rolled_back=True)


def _record(ctx: Context, s: Session, step: Step) -> None:
    from connector.runtime import rollback
    rollback.record_good(ctx, s.raw, s.ran or rollback.source(ctx, s.version_id))


HANDLERS: dict[str, Callable[[Context, Session, Step], None]] = {
    "fetch": _fetch, "login": _login, "pull": _pull, "down": _down, "remove": _remove,
    "abort": _abort, "install": _install, "up": _up, "gate": _gate, "record": _record,
}


def execute(ctx: Context, steps: list[Step], session: Session | None = None) -> Session:
    session = session or Session()
    for step in steps:
        process.check_interrupt()  # SIGTERM: the rest is skipped for the stop sequence
        log.info("step: %s", describe(ctx, step))
        HANDLERS[step.kind](ctx, session, step)
    return session


FALLBACKS = {"force-remove": "on failure: remove the project's containers by label",
             "offline": "if it cannot be reached (not if refused): the local copy",
             "local-images": "if the registry cannot be reached, or the local copy runs: images already present locally",
             "rollback": "on failure: roll back to the last good deployment",
             "take-down": "on failure: take the release down"}
LIMITS = {"fetch": "compose config within", "login": "each attempt within"}


def describe(ctx: Context, step: Step) -> str:
    """One line: the step as it will run, its limit, its fallback and what put it there."""
    bucket, key, version = _source(ctx)
    what: dict[str, Any] = {
        "fetch": lambda: f"s3://{bucket}/{key}" + (f" version {version}" if version else "") + f" -> {ctx.dest.incoming}",
        "login": lambda: "secrets " + (", ".join(ctx.config.secret_arns()) or "none")
                         + "; ECR registries of the file's images" + (f"; up to {step.attempts} attempts" if step.attempts > 1 else ""),
        "install": lambda: f"{ctx.dest.incoming} -> {ctx.dest.compose_file}",
        "gate": lambda: f"every service running (healthy where it has a healthcheck) and stable for "
                        f"{step.stable:g} s, within {step.timeout:g} s; on failure the release is "
                        + ("rolled back to the last good deployment" if step.fallback == "rollback" else "taken down"),
        "record": lambda: f"the deployment and its exact images -> {ctx.dest.work / history.FILE} (its history)",
        "remove": lambda: f"docker rm -f (containers labelled {ctx.project}): {step.reason}",
        "abort": lambda: step.reason,
    }
    text = what[step.kind]() if step.kind in what else shlex.join(ctx.compose_argv(step.kind, ctx.file(step.file)))
    if step.guard == "last-good":
        text += "; if it is the release that failed its health gate, the last good deployment runs instead"
    extra = []
    if step.timeout is not None and step.kind != "gate":
        extra.append(f"{LIMITS.get(step.kind, 'limit')} {step.timeout:g} s")
    if step.fallback == "report":
        extra.append("on failure: the containers left are reported")
    elif step.fallback:
        extra.append(f"{FALLBACKS.get(step.fallback, step.fallback)} ({step.origin})")
    elif step.origin and step.origin.startswith("--"):
        extra.append(step.origin)
    return f"{step.kind}: {text}" + (f"  [{'; '.join(extra)}]" if extra else "")
