"""The last good deployment: recorded at every success, brought back as a whole when a release
fails its health gate (or by `dadc rollback`). It comes back on its recorded images (image id,
else repo digest), so a tag pushed again since cannot change what a rollback runs. A rollback
that fails is reported with what is left running, and never loops."""
from __future__ import annotations

import logging
import time
from typing import Any

from connector.errors import DadcError, InternalError
from connector.runtime import health
from connector.runtime.context import Context
from connector.plan import stop_timeout

log = logging.getLogger("dadc.rollback")


def source(ctx: Context, version_id: str | None) -> dict[str, Any]:
    p = ctx.config
    return {"bucket": p.params["DockerComposeFileS3Bucket"], "key": p.params["DockerComposeFileS3Key"],
            "requested_version": p.value("DockerComposeFileS3Version"), "version_id": version_id}


def describe(record: dict[str, Any]) -> str:
    return (f"s3://{record.get('bucket')}/{record.get('key')} version {record.get('version_id') or '-'}"
            f" ({str(record.get('sha256', ''))[:12]})")


SOURCE_KEYS = ("bucket", "key", "requested_version", "version_id")


def record_good(ctx: Context, raw: bytes, origin: dict[str, Any]) -> None:
    """What runs now, exactly: the file, where it came from, each service's image id and digests."""
    running = {c.service: c for c in ctx.docker.states(ctx.project) if c.service and c.image_id}
    digests = ctx.docker.repo_digests(sorted({c.image_id for c in running.values()}))
    images = {service: {"image": c.image, "id": c.image_id, "digests": digests.get(c.image_id, [])}
              for service, c in running.items()}
    ctx.dest.record_good(raw, {**origin, "images": images, "at": time.time()})


def _down(ctx: Context) -> None:
    """The failed release goes: down, and whatever down leaves is removed by label."""
    try:
        ctx.run_compose("down", ctx.dest.compose_file, timeout=stop_timeout(ctx.config.profile, ctx.options))
    except DadcError as exc:
        log.warning("down of the failed release: %s", exc)
    ctx.docker.remove([c.id for c in ctx.docker.containers(ctx.project)])


def _pin_images(ctx: Context, images: dict[str, dict[str, Any]]) -> None:
    """Point each recorded tag at the recorded image again (pulling it by digest if it is gone)."""
    for service, image in images.items():
        ref, image_id = image.get("image"), image.get("id")
        if not ref or not image_id:
            continue
        if ctx.docker.missing_images((image_id,)):
            for digest in image.get("digests") or []:
                try:
                    ctx.docker.pull(digest)
                    break
                except DadcError as exc:
                    log.warning("service %s: pull of %s: %s", service, digest, exc)
            else:
                raise InternalError(f"service {service}: its recorded image {image_id[:19]} is gone and cannot "
                                    "be pulled by digest")
        ctx.docker.tag(image_id, ref)


def restore(ctx: Context, timeout: float | None, stable: float,
            target: tuple[bytes, dict[str, Any]] | None = None) -> str:
    """Bring the last good deployment (or target) back, and gate it when a gate is given; return
    what runs. Raise InternalError, with what is left running, when that fails: never retried."""
    last = target or ctx.dest.last_good()
    if last is None:
        raise InternalError("no last good deployment is recorded")
    raw, record = last
    try:
        _pin_images(ctx, record.get("images") or {})
        ctx.dest.install(raw, {k: record.get(k) for k in SOURCE_KEYS})
        started = time.monotonic()
        ctx.run_compose("up", ctx.dest.compose_file)
        log.info("%s is running again (its up took %.2fs)", describe(record), time.monotonic() - started)
        if timeout is not None:
            expected = expected_replicas(ctx.read_project(ctx.dest.compose_file, describe(record)))
            verdict = health.gate(ctx.docker, ctx.project, expected, timeout, stable, ctx.clock, ctx.pause)
            if not verdict.ok:
                raise InternalError(f"the last good deployment failed the gate too: {verdict.reason}")
    except DadcError as exc:
        left = ", ".join(f"{c.name} ({c.state})" for c in ctx.docker.containers(ctx.project)) or "nothing"
        raise InternalError(f"rollback to {describe(record)} failed: {exc}; left running: {left}") from None
    return describe(record)


def fail_release(ctx: Context, raw: bytes, origin: dict[str, Any], reason: str) -> None:
    """Keep the failed release for inspection (with where it came from) and take it down."""
    kept = ctx.dest.record_failed(raw, {**origin, "reason": reason, "at": time.time()})
    log.error("%s; the release is kept in %s and will not run again by itself", reason, kept)
    _down(ctx)


def expected_replicas(project: Any) -> dict[str, int]:
    return {s.name: s.replicas for s in project.services if s.replicas > 0}


def by_hand(ctx: Context, timeout: float | None, stable: float) -> str:
    """`dadc rollback`: the current deployment is marked failed (the next start will not bring it
    back by itself) and the good one before it returns, on its recorded images: the last good
    deployment, or, when the current one is that, the previous good one."""
    current = ctx.dest.local_copy() or b""
    last = ctx.dest.last_good()
    target = ctx.dest.previous_good() if last is not None and last[0] == current else last
    if target is None:
        raise InternalError("no earlier good deployment is recorded: nothing to roll back to")
    if current:
        state = ctx.dest.read_state()
        fail_release(ctx, current, {k: state.get(k) for k in SOURCE_KEYS}, "rolled back by hand (dadc rollback)")
    what = restore(ctx, timeout, stable, target)
    record_good(ctx, target[0], {k: target[1].get(k) for k in SOURCE_KEYS})
    return what
