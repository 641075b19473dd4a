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
from connector.plan import limit, stop_timeout

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
    for service, image in images.items():
        if not image["digests"]:
            log.warning("service %s: image %s has no registry digest (built locally): a rollback can restore it "
                        "only while the engine keeps it", service, image["image"])
    ctx.dest.record_good(raw, {**origin, "images": images, "at": time.time()})


def take_down(ctx: Context) -> None:
    """The failed release goes: down, and whatever down leaves is removed by label."""
    try:
        ctx.run_compose("down", ctx.dest.compose_file, timeout=stop_timeout(ctx.config.profile, ctx.options))
    except DadcError as exc:
        log.warning("down of the failed release: %s", exc)
    ctx.docker.remove([c.id for c in ctx.docker.containers(ctx.project)])


def restorable(ctx: Context, images: dict[str, dict[str, Any]]) -> str | None:
    """None when every recorded image is present, or was pulled by digest just now; else why not.
    Asked before anything is taken down."""
    for service, image in images.items():
        image_id = image.get("id")
        if not image_id or not ctx.docker.missing_images((image_id,)):
            continue
        digests = image.get("digests") or []
        for reference in digests:
            try:
                ctx.docker.pull(reference)
                break
            except DadcError as exc:
                log.warning("service %s: pull of %s: %s", service, reference, exc)
        else:
            how = "cannot be pulled by its digest" if digests else "was built locally (no digest to pull it by)"
            return f"service {service}: its recorded image {image_id[:19]} is gone and {how}"
    return None


def _pin_images(ctx: Context, images: dict[str, dict[str, Any]]) -> None:
    """Point each recorded tag at the recorded image again. A reference by digest (repo@sha256:...,
    repo:tag@sha256:...) names its image itself: docker refuses to tag one, and needs not."""
    for image in images.values():
        ref, image_id = image.get("image"), image.get("id")
        if ref and image_id and "@" not in ref:
            ctx.docker.tag(image_id, ref)


def restore(ctx: Context, timeout: float | None, stable: float,
            target: tuple[bytes, dict[str, Any]] | None = None, exclude: str = "") -> str:
    """Bring a good deployment back (target; else the last good one, else the one before it, the
    first that can be restored), gated when a gate is given; return what runs. Whether it can be
    restored is known before the running release is taken down: when none can, it keeps running
    and InternalError says so. Any failure is InternalError, with what is left: never retried."""
    candidates = [target] if target else [c for c in (ctx.dest.last_good(), ctx.dest.previous_good())
                                           if c is not None and c[1].get("sha256") != exclude]
    if not candidates:
        raise InternalError("no good deployment is recorded to go back to; the failed release keeps running")
    reasons = []
    for raw, record in candidates:
        why = restorable(ctx, record.get("images") or {})
        if why is None:
            break
        reasons.append(f"{describe(record)}: {why}")
    else:
        raise InternalError("no good deployment can be restored (" + "; ".join(reasons)
                            + "): the failed release keeps running")
    for reason in reasons:
        log.warning("not restorable: %s; trying the one before it", reason)
    try:
        if ctx.dest.local_copy() != raw:  # what runs is not it: it goes (up reconciles the same file)
            take_down(ctx)
        _pin_images(ctx, record.get("images") or {})
        ctx.dest.install(raw, {k: record.get(k) for k in SOURCE_KEYS})
        started = time.monotonic()
        ctx.run_compose("up", ctx.dest.compose_file, timeout=limit("up"))
        log.info("%s is running again (its up took %.2fs)", describe(record), time.monotonic() - started)
        if timeout is not None:
            project = ctx.read_project(ctx.dest.compose_file, describe(record))
            verdict = health.gate(ctx.docker, ctx.project, expected_replicas(project), timeout, stable, ctx.clock,
                                  ctx.pause, project.one_shots)
            if not verdict.ok:
                raise InternalError(f"the good deployment failed the gate too: {verdict.reason}")
    except DadcError as exc:
        left = ", ".join(f"{c.name} ({c.state})" for c in ctx.docker.containers(ctx.project)) or "nothing"
        raise InternalError(f"rollback to {describe(record)} failed: {exc}; left running: {left}") from None
    return describe(record) + (" (the good deployment before the last one)" if reasons else "")


def expected_replicas(project: Any) -> dict[str, int]:
    return {s.name: s.replicas for s in project.services if s.replicas > 0}


def by_hand(ctx: Context, timeout: float | None, stable: float, to: str | None = None) -> str:
    """`dadc rollback`: the good one before the current deployment returns, on its recorded images
    (the last good deployment, or, when the current one is that, the previous good one; or the
    history entry `to` names), and the current one is marked failed (the next start will not
    bring it back by itself). Nothing is changed when the target cannot be restored."""
    current = ctx.dest.local_copy() or b""
    if to is not None:
        entry = ctx.dest.entry(to)
        if entry["outcome"] != "good":
            raise InternalError(f"release {entry['n']} ({entry['sha256'][:12]}) failed: only a good release can be "
                                "rolled back to; nothing was changed")
        if entry["compose"].encode() == current:
            raise InternalError(f"release {entry['n']} is what runs now: nothing to roll back to")
        target: tuple[bytes, dict[str, Any]] | None = (entry["compose"].encode(),
                                                       {**entry["record"], "sha256": entry["sha256"]})
    else:
        last = ctx.dest.last_good()
        target = ctx.dest.previous_good() if last is not None and last[0] == current else last
    if target is None:
        raise InternalError("no earlier good deployment is recorded: nothing to roll back to")
    why = restorable(ctx, target[1].get("images") or {})
    if why is not None:
        raise InternalError(f"cannot roll back to {describe(target[1])}: {why}; nothing was changed")
    if current:
        state = ctx.dest.read_state()
        ctx.dest.record_failed(current, {**{k: state.get(k) for k in SOURCE_KEYS},
                                         "reason": "rolled back by hand (dadc rollback)", "at": time.time()})
    what = restore(ctx, timeout, stable, target)
    record_good(ctx, target[0], {k: target[1].get(k) for k in SOURCE_KEYS})
    return what
