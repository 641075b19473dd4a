"""Where a start's compose file comes from: S3 (fetch), or, offline, the local copy; making it the
local copy (install); and checking that the local copy is what dadc installed (verify)."""
from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from dadc.errors import InternalError, InvalidParameter, Unreachable, UnsafeFile
from dadc.plan import Step, limit
from dadc.runtime.context import Context
from dadc.runtime.session import Session
from dadc.steps import Fallback, Kind

if TYPE_CHECKING:
    from dadc.domain.composefile import ComposeProject

log = logging.getLogger("dadc.step")


def check_bytes(raw: bytes, where: str) -> tuple[str, ...]:
    """dadc's safe check of the bytes: hostile input never reaches a file or a CLI. Returns what
    a compose release must know to read the file (compose's own tags, several documents)."""
    from dadc.domain import composefile
    try:
        return tuple(composefile.check(raw).needs())
    except InvalidParameter as exc:
        raise type(exc)(f"{where}: {exc}") from None


def warn_risky(ctx: Context, project: "ComposeProject", raw: bytes, where: str) -> None:
    """Settings that hand a container the host, in every start's log (docs/rules.md W7xxx)."""
    from dadc.validation import rules_compose
    for f in rules_compose.locate(rules_compose.check(project.config, str(ctx.dest.root)), raw, where):
        log.warning("%s:%d:%d: warning %s %s", f.file, f.line, f.column, f.rule, f.message)


def offline(ctx: Context, s: Session, reason: str) -> None:
    """An offline fallback: the local copy (and the local images) stand in for what could not be
    reached, if it is the file dadc installed. Idempotent: a start already on it stays on it."""
    if s.offline:
        log.warning("%s; offline fallback: staying on the local copy", reason)
        return
    local = ctx.dest.compose_file
    raw = ctx.dest.local_copy()
    if raw is None:
        raise InternalError(f"{reason}; offline fallback: no local compose file in {ctx.dest.root}")
    wrong = ctx.ws.unchanged()  # the DockerUserId user, or a container mounting the folder, may write it
    if wrong:
        raise UnsafeFile(f"{reason}; offline fallback: {wrong}: refused to run it; nothing was changed")
    installed = ctx.ws.installed()
    came = installed.source.describe() if installed else "an unknown source"
    log.warning("%s; offline fallback: deploying the local copy %s (from %s), not the definition's file",
                reason, local, came)
    s.raw, s.file, s.offline = raw, local, True
    s.source = installed.source if installed else ctx.source()
    needs = check_bytes(raw, str(local))
    s.project = ctx.read_project(local, str(local), timeout=limit("config"), needs=needs)
    s.files = ctx.ws.project_files(raw)
    warn_risky(ctx, s.project, raw, str(local))


def fetch(ctx: Context, s: Session, step: Step) -> None:
    source = ctx.source()
    try:
        fetched = ctx.cloud.fetch(source.bucket, source.key, source.requested_version)
    except Unreachable as exc:  # a denial or a body cut short is not offline: it fails
        if step.fallback != Fallback.OFFLINE:
            raise
        return offline(ctx, s, str(exc))
    assert fetched is not None
    where = f"s3://{source.bucket}/{source.key}"
    needs = check_bytes(fetched.raw, where)
    incoming = ctx.ws.state.write_incoming(fetched.raw)
    ctx.ws.stage(fetched.raw)
    s.project = ctx.read_project(incoming, where, timeout=step.timeout, needs=needs)
    warn_risky(ctx, s.project, fetched.raw, where)
    s.file, s.raw = incoming, fetched.raw
    s.source = ctx.source(fetched.version_id)
    s.files = ctx.ws.project_files(fetched.raw)


def install(ctx: Context, s: Session, step: Step) -> None:
    if s.offline:
        return  # the local copy is already the current file
    assert s.source is not None
    ctx.ws.install(s.raw, s.source)


def verify(ctx: Context, s: Session, step: Step) -> None:
    """Compose must run what dadc installed: the destination is the DockerUserId user's to write
    (and any container that mounts it)."""
    wrong = ctx.ws.unchanged()
    if wrong:
        raise UnsafeFile(f"{wrong}: refused to run it; nothing was changed")


HANDLERS = {Kind.FETCH: fetch, Kind.INSTALL: install, Kind.VERIFY: verify}
