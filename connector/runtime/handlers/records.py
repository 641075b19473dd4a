"""The records: the success status message, and the release that runs (its files and images)
into the history. What a release is, observed one way: release_of()."""
from __future__ import annotations

import logging

from dadc.domain.release import Image, Release, release
from dadc.plan import Step
from dadc.runtime.context import Context
from dadc.runtime.session import Session
from dadc.runtime.status import success
from dadc.steps import Kind

log = logging.getLogger("dadc.records")


def release_of(ctx: Context, s: Session, files: dict[str, bytes] | None = None) -> Release:
    """The release as it is now: its files, and for each service the image its containers run
    (the ids the last up listed, when known), else the local image its reference names (an up
    that failed before any container: what it would have run)."""
    files = s.files if files is None else files
    states = ctx.docker.states(ctx.project, s.up)
    running = {c.service: (c.image, c.image_id) for c in states if c.service and c.image_id}
    refs = {svc.name: svc.image for svc in (s.project.services if s.project else ())
            if svc.replicas > 0 and svc.image and svc.name not in running}
    ids = ctx.docker.image_ids(list(refs.values())) if refs else {}
    images = {**running, **{service: (ref, ids[ref]) for service, ref in refs.items() if ref in ids}}
    digests = ctx.docker.repo_digests(sorted({image_id for _, image_id in images.values()}))
    return release(files, {service: Image(ref, image_id, tuple(digests.get(image_id, [])))
                           for service, (ref, image_id) in images.items()})


def publish(ctx: Context, s: Session, step: Step) -> None:
    """The documented success payload: what ran (the definition's file, or offline the local copy
    and where it came from)."""
    assert s.source is not None
    if s.publish is not None:
        s.publish(success(s.source.bucket, s.source.key, s.source.requested_version or s.source.version_id))
    s.published = True
    log.info("deployment succeeded")


def record(ctx: Context, s: Session, step: Step) -> None:
    """What runs now, exactly: every file it read, where it came from, each service's image."""
    assert s.source is not None
    now = release_of(ctx, s)
    for service, image in now.images:
        if not image.digests:
            log.warning("service %s: image %s has no registry digest (built locally): a rollback can restore it "
                        "only while the engine keeps it", service, image.ref)
    ctx.ws.history.record("good", now, s.source, s.files)


HANDLERS = {Kind.PUBLISH: publish, Kind.RECORD: record}
