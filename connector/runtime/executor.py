"""Executes planned steps: a dispatch table over step kinds. It makes no decision of its own:
which file, which limit and what to do on failure all come with the step (connector/plan.py).
describe() renders a step exactly as it will run, for `dadc plan`."""
from __future__ import annotations

import logging
import shlex
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

from connector.errors import (CommandFailed, CredentialError, DadcError, HealthGateFailed, InternalError,
                              Interrupted, InvalidParameter, Unreachable, UnsafeFile)
from connector.plan import Step, limit
from connector.runtime import rollback
from connector.runtime.context import Context
from connector.runtime.seams import history, process
from connector.runtime.seams.docker import unreachable
from connector.runtime.seams.secrets import ecr_registries

if TYPE_CHECKING:  # YAML is imported only by a start, never by the long-lived `dadc run`
    from connector.runtime.composefile import ComposeProject

log = logging.getLogger("dadc.step")


class StopIncomplete(InternalError):
    """The stop sequence left containers behind (reported, with how to remove them)."""


@dataclass
class Session:
    """What the steps of one start hand on to each other."""

    file: Path | None = None  # the compose file the steps call "incoming": fetched, or the local copy
    raw: bytes = b""
    version_id: str | None = None
    offline: bool = False  # the local copy stands in (an offline fallback)
    project: "ComposeProject | None" = None
    ran: dict[str, Any] | None = None  # where the file that runs came from (the local copy's, offline)
    # a recovery's: why it runs, the release it brings back, the ones it could not, the file that failed
    failure: str = ""
    target: tuple[bytes, dict[str, Any]] | None = None
    skipped: list[str] | None = None
    exclude: str = ""
    up: tuple[str, ...] = ()  # the containers the last up left (their ids): what a record describes

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


def _check(raw: bytes, where: str) -> tuple[str, ...]:
    """dadc's safe check of the bytes: hostile input never reaches a file or a CLI. Returns what
    a compose release must know to read the file (compose's own tags, several documents)."""
    from connector.runtime import composefile
    try:
        return tuple(composefile.check(raw).needs())
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
    needs = _check(s.raw, str(local))
    s.project = ctx.read_project(local, str(local), timeout=limit("config"), needs=needs)
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
    needs = _check(fetched.raw, where)
    ctx.dest.write_incoming(fetched.raw)
    s.project = ctx.read_project(ctx.dest.incoming, where, timeout=step.timeout, needs=needs)
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
        missing = ctx.docker.missing_images(s.project.images)  # judged by the engine too, not by the exit code alone
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
    if step.guard == "unless-target-runs" and rollback.target_runs(ctx, s):
        return  # what runs is the release that comes back: up reconciles it
    try:
        ctx.run_compose("down", _file(ctx, s, step), timeout=step.timeout)
        left = ctx.docker.containers(ctx.project)  # judged by the engine too, not by the exit code alone
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
    if step.guard == "unless-target-runs" and rollback.target_runs(ctx, s):
        return
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
    """up, then what it left, judged by the engine whatever compose's exit status (health.after_up),
    compose's own words in the failure."""
    from connector.runtime import health
    assert s.project is not None
    began = ctx.clock()
    done = ctx.run_compose("up", _file(ctx, s, step), timeout=step.timeout)
    log.info("its up took %.2fs", ctx.clock() - began)
    states = ctx.docker.states(ctx.project)
    s.up = tuple(c.id for c in states)
    wrong = health.after_up(states, rollback.expected_replicas(s.project))
    if wrong:
        said = done.stderr.strip()
        log.error("up exited %d but %s; compose said: %s", done.returncode, wrong, said or "nothing")
        tail = " / ".join(said.splitlines()[-3:])
        raise CommandFailed(f"up: {wrong}" + (f"; compose said: {tail}" if tail else ""), stderr=said)


def _gate(ctx: Context, s: Session, step: Step) -> None:
    """Judge the release; a failure is the step's failure (its planned recovery follows)."""
    from connector.runtime import health
    assert s.project is not None and step.timeout is not None
    for slow in s.project.slow_starts(step.timeout, step.stable):
        log.warning("%s", slow)
    verdict = health.gate(ctx.docker, ctx.project, rollback.expected_replicas(s.project), step.timeout, step.stable,
                          ctx.clock, ctx.pause, s.project.one_shots)
    if not verdict.ok:
        raise HealthGateFailed(f"{step.reason or 'health gate failed'}: {verdict.reason}")
    log.info("health gate passed: every service up and stable for %gs", step.stable)


def _record(ctx: Context, s: Session, step: Step) -> None:
    rollback.record_good(ctx, s.raw, s.ran or rollback.source(ctx, s.version_id), s.up)


HANDLERS: dict[str, Callable[[Context, Session, Step], None]] = {
    "fetch": _fetch, "login": _login, "pull": _pull, "down": _down, "remove": _remove,
    "abort": _abort, "install": _install, "up": _up, "gate": _gate, "record": _record,
    # a recovery's (connector/runtime/rollback.py)
    "keep-failed": rollback.keep_failed, "refuse-failed": rollback.refuse_failed, "choose": rollback.choose,
    "pin": rollback.pin, "restore": rollback.restore, "fail": rollback.fail,
}


def execute(ctx: Context, steps: list[Step] | tuple[Step, ...], session: Session | None = None) -> Session:
    """Run the steps in order. A step that fails with a planned recovery (its on_fail) hands over
    to it; the recovery ends the start: its `fail` step says what runs, and any failure inside it
    is final (HealthGateFailed: not retried), saying what is left running."""
    session = session or Session()
    for step in steps:
        process.check_interrupt()  # SIGTERM: the rest is skipped for the stop sequence
        log.info("step: %s", describe(ctx, step))
        try:
            HANDLERS[step.kind](ctx, session, step)
        except DadcError as exc:
            if not step.on_fail or isinstance(exc, Interrupted):
                raise
            _recover(ctx, session, step, exc)
    return session


def _recover(ctx: Context, s: Session, step: Step, exc: DadcError) -> None:
    s.failure = str(exc)
    log.error("%s; recovery: %s", exc, ", ".join(r.kind for r in step.on_fail))
    try:
        execute(ctx, step.on_fail, s)
    except Interrupted:
        raise
    except DadcError as inner:
        if inner.details.get("final"):
            raise  # the recovery's own end (its fail step, the same release again): it says what runs
        if s.target is not None:
            raise HealthGateFailed(f"{s.failure}; rollback to {rollback.describe(s.target[1])} failed: {inner}; "
                                   f"left running: {rollback.left_running(ctx)}") from None
        raise HealthGateFailed(f"{s.failure}; {inner}") from None
    raise HealthGateFailed(s.failure)  # a recovery without a fail step (not planned so): still a failure


FALLBACKS = {"force-remove": "on failure: remove the project's containers by label",
             "offline": "if it cannot be reached (not if refused): the local copy",
             "local-images": "if the registry cannot be reached, or the local copy runs: images already present locally"}
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
                        f"{step.stable:g} s, within {step.timeout:g} s",
        "keep-failed": lambda: ("the release that failed is kept in the history as failed (it never runs again "
                                "by itself)" if step.file == "incoming" else
                                f"the current release is kept as failed: {step.reason}")
                               + ("; unless it is the last good release: then it stays the last good, and the "
                                  "recovery ends here" if step.guard == "same-release" else ""),
        "refuse-failed": lambda: "the fetched file is refused when it is a release that failed",
        "choose": lambda: {"last-good": "the last good deployment, else the good one before it",
                           "before-current": "the good deployment before the current one"}.get(
                               step.target, f"release {step.target[4:]} of the history")
                          + ": the first whose recorded images are all present or can be pulled by digest now; "
                            "none: nothing is touched, and it ends here",
        "pin": lambda: "docker tag each recorded image id to its recorded tag (not for references by digest)",
        "restore": lambda: f"the chosen release's file -> {ctx.dest.compose_file}",
        "fail": lambda: {"rolled-back": "the start fails: rolled back, the good deployment runs",
                         "instead": "the start fails: the last good deployment runs instead",
                         "taken-down": "the start fails: the release was taken down"}[step.reason],
        "record": lambda: f"the deployment and its exact images -> {ctx.dest.work / history.FILE} (its history)",
        "remove": lambda: f"docker rm -f (containers labelled {ctx.project}): {step.reason}",
        "abort": lambda: step.reason,
    }
    text = what[step.kind]() if step.kind in what else shlex.join(ctx.compose_argv(step.kind, ctx.file(step.file)))
    if step.guard == "unless-target-runs":
        text += " (unless what runs is the chosen release)"
    extra = []
    if step.timeout is not None and step.kind != "gate":
        extra.append(f"{LIMITS.get(step.kind, 'limit')} {step.timeout:g} s")
    if step.fallback == "report":
        extra.append("on failure: the containers left are reported")
    elif step.fallback:
        extra.append(f"{FALLBACKS.get(step.fallback, step.fallback)} ({step.origin})")
    elif step.origin and step.origin.startswith("--"):
        extra.append(step.origin)
    if step.on_fail:
        extra.append(f"on failure: the {len(step.on_fail)} steps below")
    return f"{step.kind}: {text}" + (f"  [{'; '.join(extra)}]" if extra else "")


def to_json(ctx: Context, step: Step) -> dict[str, Any]:
    """A step for `dadc plan --format json`: its kind, how it runs, and its recovery, in full."""
    out: dict[str, Any] = {"kind": step.kind, "text": describe(ctx, step)}
    if step.timeout is not None:
        out["limit_seconds"] = step.timeout
    if step.on_fail:
        out["on_fail"] = [to_json(ctx, r) for r in step.on_fail]
    return out
