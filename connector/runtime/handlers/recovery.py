"""The handlers of the recovery steps the planner plans (connector/plan.py: a failed step's on_fail,
a release that failed coming back, `dadc rollback`). No decision is made here that the plan does
not show: which releases may come back, in which order, is the `choose` step's candidates; what
happens after each step is the next step.

A good release comes back on its recorded images (image id, else repo digest) and with every file
it read, so a tag pushed again since, or a changed .env, cannot change what a rollback runs; what
runs afterwards is checked against the record. A recovery that fails is final (never retried)."""
from __future__ import annotations

import logging

from dadc.domain.release import Entry, Image, release, sha256
from dadc.errors import DadcError, HealthGateFailed, InternalError, RecordsDamaged, RecoveryEnded, StateError
from dadc.plan import Step
from dadc.runtime.context import Context
from dadc.runtime.handlers.compose import target_runs
from dadc.runtime.handlers.records import release_of
from dadc.runtime.session import Session
from dadc.steps import BeforeCurrent, Ending, File, Guard, Kind, LastGood, PreviousGood, Ref, Target

log = logging.getLogger("dadc.rollback")


def restorable(ctx: Context, images: tuple[tuple[str, Image], ...]) -> str | None:
    """None when every recorded image is present, or was pulled by digest just now; else why not.
    Asked before anything is taken down."""
    for service, image in images:
        if not image.id or not ctx.docker.missing_images((image.id,)):
            continue
        for reference in image.digests:
            try:
                ctx.docker.pull(reference)
                break
            except DadcError as exc:
                log.warning("service %s: pull of %s: %s", service, reference, exc)
        else:
            how = "cannot be pulled by its digest" if image.digests else "was built locally (no digest to pull it by)"
            return f"service {service}: its recorded image {image.id[:19]} is gone and {how}"
    return None


def _runs(ctx: Context, entry: Entry) -> bool:
    local = ctx.dest.local_copy()
    if local is None or sha256(local) != entry.release.compose_sha:
        return False
    running = {c.service: c.image_id for c in ctx.docker.states(ctx.project)}
    return bool(entry.release.images) and all(running.get(s) == i.id for s, i in entry.release.images)


def keep_failed(ctx: Context, s: Session, step: Step) -> None:
    """Keep the failing release as failed (it never runs again by itself). The last good release
    failing again is not a new release: when it runs as recorded (a reboot while a dependency is
    down), it stays, and the recovery ends here; when it did not come up, it is brought back as
    recorded. A failure to record does not stop the recovery."""
    if step.file == File.INCOMING:
        raw, files, source = s.raw, s.files, s.source
    else:
        raw = ctx.dest.local_copy() or b""
        files = ctx.ws.project_files(raw) if raw else {}
        installed = ctx.ws.installed()
        source = installed.source if installed else ctx.source()
    if not raw or source is None:
        return
    failing = release_of(ctx, s, files)
    last = ctx.ws.history.last_good()
    if step.guard == Guard.SAME_RELEASE and last is not None and last.release.id == failing.id:
        if _runs(ctx, last):
            raise RecoveryEnded(f"{s.failure}; it is the last good release: it stays, and stays the last good "
                                "(not recorded as failed); the next start tries it again")
        log.warning("%s; the last good release did not come up: it is brought back as it was recorded", s.failure)
        return
    s.exclude = failing.id
    try:
        ctx.ws.history.record("failed", failing, source, files, step.why or s.failure)
        log.error("%s; the release is kept as failed and will not run again by itself", step.why or s.failure)
    except (StateError, RecordsDamaged) as exc:
        log.error("%s; recording it as failed failed (%s): the recovery goes on", step.why or s.failure, exc)


def refuse_failed(ctx: Context, s: Session, step: Step) -> None:
    """The definition still names a release that failed (its gate, or `dadc rollback`): the same
    files from the same place. It fails, and the planned recovery brings the last good back."""
    if s.offline or s.source is None:
        return
    failed = ctx.ws.history.failed_files(release(s.files, {}), s.source)
    if failed is None:
        return
    s.exclude = failed.release.id
    raise HealthGateFailed(f"{failed.describe()} is the release that failed ({failed.reason})")


def _resolve(ctx: Context, target: Target) -> list[Entry]:
    history = ctx.ws.history
    if isinstance(target, LastGood):
        found = history.last_good()
    elif isinstance(target, PreviousGood):
        found = history.previous_good()
    elif isinstance(target, BeforeCurrent):
        installed, last = ctx.ws.installed(), history.last_good()
        found = history.previous_good() if last and installed and last.release.compose_sha == installed.sha256 else last
    else:
        assert isinstance(target, Ref)
        entry = history.entry(target.ref)
        if entry.outcome != "good" or any(f.release.id == entry.release.id for f in history.failed_releases()):
            raise InternalError(f"release {entry.n} ({entry.release.describe()}) failed: only a good release can be "
                                "rolled back to; nothing was changed")
        if _runs(ctx, entry):
            raise InternalError(f"release {entry.n} is what runs now: nothing to roll back to")
        found = entry
    return [found] if found else []


def choose(ctx: Context, s: Session, step: Step) -> None:
    """The first candidate, in the planned order, whose files are kept and whose images can all
    come back; none: nothing is touched."""
    entries: list[Entry] = []
    for target in step.candidates:
        entries += [e for e in _resolve(ctx, target) if e.release.id != s.exclude and e not in entries]
    from_gate = any(isinstance(t, LastGood) for t in step.candidates)
    keeps = "the failed release keeps running" if from_gate else "nothing was changed"
    if not entries:
        raise InternalError("no good deployment is recorded to go back to; " + keeps)
    s.skipped = []
    for entry in entries:
        files = ctx.ws.history.files(entry.release)
        why = "its files are not kept in the history" if files is None else restorable(ctx, entry.release.images)
        if why is None and files is not None:
            s.target, s.target_files = entry, files
            for reason in s.skipped:
                log.warning("not restorable: %s; trying the one before it", reason)
            return
        s.skipped.append(f"{entry.describe()}: {why}")
    raise InternalError("no good deployment can be restored (" + "; ".join(s.skipped) + f"): {keeps}")


def pin(ctx: Context, s: Session, step: Step) -> None:
    """Point each recorded tag at the recorded image again. A reference by digest (repo@sha256:...,
    repo:tag@sha256:...) names its image itself: docker refuses to tag one, and needs not."""
    assert s.target is not None
    for _, image in s.target.release.images:
        if image.ref and image.id and "@" not in image.ref:
            ctx.docker.tag(image.id, image.ref)


def restore(ctx: Context, s: Session, step: Step) -> None:
    """The chosen release's files back in the project directory; the steps after it work on them."""
    assert s.target is not None
    entry, files = s.target, s.target_files
    ctx.ws.restore(files, entry.source, entry.release.complete)
    s.raw, s.files, s.source = files["docker-compose.yml"], files, entry.source
    s.file, s.offline = ctx.dest.compose_file, False
    s.project = ctx.read_project(ctx.dest.compose_file, entry.describe())


def check_images(ctx: Context, s: Session, step: Step) -> None:
    """What runs after a recovery is what was recorded: each service on its recorded image."""
    assert s.target is not None
    running: dict[str, set[str]] = {}
    for c in ctx.docker.states(ctx.project, s.up):
        running.setdefault(c.service, set()).add(c.image_id)
    wrong = [f"service {service} runs {', '.join(sorted(i[:19] for i in running.get(service, {'nothing'})))}, "
             f"not its recorded image {image.id[:19]}"
             for service, image in s.target.release.images if running.get(service) != {image.id}]
    if wrong:
        raise InternalError("what runs is not the release recorded: " + "; ".join(wrong))


def restored(s: Session) -> str:
    assert s.target is not None
    skipped = "; ".join(s.skipped)
    return s.target.describe() + (f" (the good deployment before the last one, which cannot come back: {skipped})"
                                  if s.skipped else "")


def fail(ctx: Context, s: Session, step: Step) -> None:
    """The end of a recovery: the start fails, saying what runs now."""
    if step.ending in (Ending.ROLLED_BACK, Ending.INSTEAD):
        log.info("%s is running again", restored(s))
    texts = {Ending.ROLLED_BACK: lambda: f"{s.failure}; rolled back to {restored(s)}, running again",
             Ending.INSTEAD: lambda: f"{s.failure}; the last good deployment runs instead: {restored(s)}",
             Ending.TAKEN_DOWN: lambda: f"{s.failure}; no previous good deployment: the release was taken down",
             Ending.LEFT_RUNNING: lambda: f"{s.failure}; the release history cannot be read, so no good release can "
                                          f"be brought back from it and nothing more was taken down on its strength; "
                                          f"running: {left_running(ctx)} (dadc status says what is wrong with the "
                                          f"history)"}
    raise RecoveryEnded(texts[step.ending](), rolled_back=step.ending in (Ending.ROLLED_BACK, Ending.INSTEAD))


def left_running(ctx: Context) -> str:
    return ", ".join(f"{c.name} ({c.state})" for c in ctx.docker.containers(ctx.project)) or "nothing"


HANDLERS = {Kind.KEEP_FAILED: keep_failed, Kind.REFUSE_FAILED: refuse_failed, Kind.CHOOSE: choose, Kind.PIN: pin,
            Kind.RESTORE: restore, Kind.CHECK_IMAGES: check_images, Kind.FAIL: fail}

__all__ = ["HANDLERS", "left_running", "restored", "target_runs"]
