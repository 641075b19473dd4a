"""The handlers of the recovery steps the planner plans (connector/plan.py: a gate's on_fail, a
release that failed coming back, `dadc rollback`), and the records they keep. No decision is made
here that the plan does not show: which release comes back is the `choose` step's target, what
happens after each step is the next step.

A good release comes back on its recorded images (image id, else repo digest), so a tag pushed
again since cannot change what a rollback runs. A recovery that fails is final (never retried)."""
from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING, Any

from connector.errors import DadcError, HealthGateFailed, InternalError
from connector.plan import Step
from connector.runtime.context import Context
from connector.runtime.seams.local import digest

if TYPE_CHECKING:
    from connector.runtime.executor import Session

log = logging.getLogger("dadc.rollback")
SOURCE_KEYS = ("bucket", "key", "requested_version", "version_id")


def source(ctx: Context, version_id: str | None) -> dict[str, Any]:
    p = ctx.config
    return {"bucket": p.params["DockerComposeFileS3Bucket"], "key": p.params["DockerComposeFileS3Key"],
            "requested_version": p.value("DockerComposeFileS3Version"), "version_id": version_id}


def describe(record: dict[str, Any]) -> str:
    return (f"s3://{record.get('bucket')}/{record.get('key')} version {record.get('version_id') or '-'}"
            f" ({str(record.get('sha256', ''))[:12]})")


def record_good(ctx: Context, raw: bytes, origin: dict[str, Any], ids: tuple[str, ...] = ()) -> None:
    """What runs now, exactly: the file, where it came from, each service's image id and digests.
    ids: the containers the up just listed (else the engine is asked)."""
    running = {c.service: c for c in ctx.docker.states(ctx.project, ids) if c.service and c.image_id}
    digests = ctx.docker.repo_digests(sorted({c.image_id for c in running.values()}))
    images = {service: {"image": c.image, "id": c.image_id, "digests": digests.get(c.image_id, [])}
              for service, c in running.items()}
    for service, image in images.items():
        if not image["digests"]:
            log.warning("service %s: image %s has no registry digest (built locally): a rollback can restore it "
                        "only while the engine keeps it", service, image["image"])
    ctx.dest.record_good(raw, {**origin, "images": images, "at": time.time()})  # a date, for dadc status


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


def expected_replicas(project: Any) -> dict[str, int]:
    return {s.name: s.replicas for s in project.services if s.replicas > 0}


def target_runs(ctx: Context, s: "Session") -> bool:
    """The guard of a recovery's down and remove: what runs is already the release that comes back."""
    return s.target is not None and ctx.dest.local_copy() == s.target[0]


# --- the handlers ------------------------------------------------------------------------------

def keep_failed(ctx: Context, s: "Session", step: Step) -> None:
    """Keep the failing release as failed (it never runs again by itself). After a gate, the last
    good release failing again (a reboot while a dependency is down) is not a new release: it
    stays the last good, and the recovery ends here."""
    raw = s.raw if step.file == "incoming" else (ctx.dest.local_copy() or b"")
    if not raw:
        return
    sha = digest(raw)
    s.exclude = sha
    last = ctx.dest.last_good()
    if step.guard == "same-release" and last is not None and last[1].get("sha256") == sha:
        raise HealthGateFailed(f"{s.failure}; it is the last good release: it stays, and stays the last good "
                               "(not recorded as failed); the next start tries it again", final=True)
    ran = s.ran if step.file == "incoming" and s.ran else {k: ctx.dest.read_state().get(k) for k in SOURCE_KEYS}
    kept = ctx.dest.record_failed(raw, {**ran, "reason": step.reason or s.failure, "at": time.time()})
    log.error("%s; the release is kept in %s and will not run again by itself", step.reason or s.failure, kept)


def refuse_failed(ctx: Context, s: "Session", step: Step) -> None:
    """The definition still names a release that failed (its gate, or `dadc rollback`): it fails,
    and the planned recovery brings the last good deployment back instead."""
    if s.offline:
        return
    sha = digest(s.raw)
    failed = ctx.dest.failed_release(sha)
    if failed is None or any(failed.get(k) != v for k, v in source(ctx, None).items() if k != "version_id"):
        return
    s.exclude = sha
    raise HealthGateFailed(f"{describe(failed)} is the release that failed ({failed.get('reason')})")


def _candidates(ctx: Context, s: "Session", target: str) -> list[tuple[bytes, dict[str, Any]]]:
    if target.startswith("ref:"):
        entry = ctx.dest.entry(target[4:])
        if entry["outcome"] != "good" or ctx.dest.failed_release(entry["sha256"]) is not None:  # failed since
            raise InternalError(f"release {entry['n']} ({entry['sha256'][:12]}) failed: only a good release can be "
                                "rolled back to; nothing was changed")
        if entry["compose"].encode() == ctx.dest.local_copy():
            raise InternalError(f"release {entry['n']} is what runs now: nothing to roll back to")
        return [(entry["compose"].encode(), {**entry["record"], "sha256": entry["sha256"]})]
    if target == "before-current":
        current, last = ctx.dest.local_copy() or b"", ctx.dest.last_good()
        chosen = ctx.dest.previous_good() if last is not None and last[0] == current else last
        return [chosen] if chosen else []
    return [c for c in (ctx.dest.last_good(), ctx.dest.previous_good()) if c is not None and c[1]["sha256"] != s.exclude]


def choose(ctx: Context, s: "Session", step: Step) -> None:
    """The first candidate whose images can all come back; none: nothing is touched."""
    candidates = _candidates(ctx, s, step.target)
    if not candidates:
        raise InternalError("no good deployment is recorded to go back to" +
                            ("; nothing was changed" if step.target != "last-good" else "; the failed release keeps running"))
    s.skipped = []
    for raw, record in candidates:
        why = restorable(ctx, record.get("images") or {})
        if why is None:
            s.target = (raw, record)
            for reason in s.skipped:
                log.warning("not restorable: %s; trying the one before it", reason)
            return
        s.skipped.append(f"{describe(record)}: {why}")
    keeps = "the failed release keeps running" if step.target == "last-good" else "nothing was changed"
    raise InternalError("no good deployment can be restored (" + "; ".join(s.skipped) + f"): {keeps}")


def pin(ctx: Context, s: "Session", step: Step) -> None:
    """Point each recorded tag at the recorded image again. A reference by digest (repo@sha256:...,
    repo:tag@sha256:...) names its image itself: docker refuses to tag one, and needs not."""
    assert s.target is not None
    for image in (s.target[1].get("images") or {}).values():
        ref, image_id = image.get("image"), image.get("id")
        if ref and image_id and "@" not in ref:
            ctx.docker.tag(image_id, ref)


def restore(ctx: Context, s: "Session", step: Step) -> None:
    """The chosen release's file becomes the local copy; the steps after it work on it."""
    assert s.target is not None
    raw, record = s.target
    ran = {k: record.get(k) for k in SOURCE_KEYS}
    ctx.dest.install(raw, ran)
    s.raw, s.ran, s.file, s.offline = raw, ran, ctx.dest.compose_file, False
    s.project = ctx.read_project(ctx.dest.compose_file, describe(record))


def restored(s: "Session") -> str:
    assert s.target is not None
    skipped = "; ".join(s.skipped)
    return describe(s.target[1]) + (f" (the good deployment before the last one, which cannot come back: {skipped})"
                                    if s.skipped else "")


def fail(ctx: Context, s: "Session", step: Step) -> None:
    """The end of a recovery: the start fails, saying what runs now."""
    if step.reason != "taken-down":
        log.info("%s is running again", restored(s))
    texts = {"rolled-back": lambda: f"{s.failure}; rolled back to {restored(s)}, running again",
             "instead": lambda: f"{s.failure}; the last good deployment runs instead: {restored(s)}",
             "taken-down": lambda: f"{s.failure}; no previous good deployment: the release was taken down"}
    raise HealthGateFailed(texts[step.reason](), rolled_back=step.reason != "taken-down", final=True)


def left_running(ctx: Context) -> str:
    return ", ".join(f"{c.name} ({c.state})" for c in ctx.docker.containers(ctx.project)) or "nothing"
