"""Images fetched before, cleaned after (both opt-in): --prefetch pulls the new release's images
while the previous release still runs; --prune-images removes, after a success, the images of the
project's repositories that no recorded release ran."""
from __future__ import annotations

import logging

from dadc.domain.images import prunable, repository
from dadc.errors import CommandFailed, InternalError
from dadc.plan import Step
from dadc.runtime.context import Context
from dadc.runtime.handlers.registry import may_stand_in, pull_images
from dadc.runtime.session import Session
from dadc.steps import Guard, Kind

log = logging.getLogger("dadc.step")
BEFORE = "nothing was stopped: the previous release still runs"


def prefetch(ctx: Context, s: Session, step: Step) -> None:
    """Pull what the start will need, judged by the engine afterwards (not the exit code alone). A
    failure fails the start here, before the stop, unless local images may stand in (the same rule
    as the version's own pull after the stop) and every image is present."""
    assert s.project is not None
    images = s.project.images
    if not images:
        return
    if step.guard == Guard.ONLY_MISSING:
        wanted = set(ctx.docker.missing_images(images))
        if not wanted:
            log.info("prefetch: every image is present locally; up pulls nothing")
            return
        services = tuple(svc.name for svc in s.project.services
                         if svc.image in wanted and not svc.built and svc.replicas > 0)
    else:
        services = s.project.pull_services
    try:
        pull_images(ctx, s, step, services)
    except CommandFailed as exc:
        if may_stand_in(s, step, exc) and not ctx.docker.missing_images(images):
            log.warning("prefetch failed (%s); every image is present locally, as the pull after the stop allows", exc)
            return
        raise InternalError(f"prefetch failed: {exc}; {BEFORE}") from None
    log.info("prefetch: %s present before the stop", ", ".join(images))


def prune(ctx: Context, s: Session, step: Step) -> None:
    """Remove each reference of every prunable image (the last one removes the image), never forced:
    the engine refuses what a container started since uses, and that image stays. The space freed
    is the engine's own figure for its images, before and after."""
    entries = ctx.ws.history.entries()
    recorded = [image for entry in entries for _, image in entry.release.images]
    current = s.project.images if s.project else ()
    ours = {repository(ref) for ref in [*current, *(i.ref for i in recorded),
                                        *(d for i in recorded for d in i.digests)] if ref}
    keep = {image.id for image in recorded}
    victims = prunable(ctx.docker.local_images(), ours, keep, ctx.docker.images_in_use())
    if not victims:
        log.info("prune-images: nothing to remove (%d releases recorded, %d of their images kept)",
                 len(entries), len(keep))
        return
    before = ctx.docker.images_size()
    removed, refused = [], []
    for image in victims:
        try:
            for reference in image.tags or image.digests[:1] or (image.id,):
                ctx.docker.remove_image(reference)
            removed.append(image)
        except CommandFailed as exc:
            refused.append(f"{image.id[:19]} ({exc.stderr.strip() or exc})")
    after = ctx.docker.images_size()
    freed = f"{(before - after) / 1e6:.1f} MB" if before is not None and after is not None else "unknown"
    log.info("prune-images: removed %d images no recorded release runs (%s); freed %s (the engine's images: "
             "%s -> %s)", len(removed), ", ".join(i.tags[0] if i.tags else i.id[:19] for i in removed) or "-",
             freed, _mb(before), _mb(after))
    if refused:
        log.warning("prune-images: the engine kept %s", "; ".join(refused))


def _mb(size: int | None) -> str:
    return "?" if size is None else f"{size / 1e6:.1f} MB"


HANDLERS = {Kind.PREFETCH: prefetch, Kind.PRUNE: prune}
