"""Views of a plan: a step as one line of text (the log, `dadc plan`), and as JSON (`dadc plan
--format json`, the golden plans). Read from the step's own fields; nothing is decided here."""
from __future__ import annotations

import shlex
from typing import TYPE_CHECKING, Any, Callable

from dadc.plan import Step
from dadc.steps import BeforeCurrent, Ending, Fallback, File, Guard, Kind, LastGood, PreviousGood, Ref, Target

if TYPE_CHECKING:
    from dadc.runtime.context import Context

FALLBACKS = {Fallback.FORCE_REMOVE: "on failure: remove the project's containers by label",
             Fallback.OFFLINE: "if it cannot be reached (not if refused): the local copy",
             Fallback.REPORT: "on failure: the containers left are reported",
             Fallback.LOG: "on failure: logged (the start has succeeded)"}
STAND_IN = {"unreachable": "the registry cannot be reached", "on-local-copy": "the local copy runs"}
LIMITS = {Kind.FETCH: "compose config within", Kind.LOGIN: "each attempt within", Kind.PREFETCH: "pull within"}
ENDINGS = {Ending.ROLLED_BACK: "the start fails: rolled back, the good deployment runs",
           Ending.INSTEAD: "the start fails: the last good deployment runs instead",
           Ending.TAKEN_DOWN: "the start fails: the release was taken down",
           Ending.LEFT_RUNNING: "the start fails: the history cannot be read, so nothing is brought back from it "
                                "and nothing more is taken down; it says what runs"}


def target(t: Target) -> str:
    if isinstance(t, LastGood):
        return "the last good deployment"
    if isinstance(t, PreviousGood):
        return "the good one before it"
    if isinstance(t, BeforeCurrent):
        return "the good deployment before the current one"
    assert isinstance(t, Ref)
    return f"release {t.ref} of the history"


def _what(ctx: "Context", step: Step) -> str:
    src = ctx.source()
    texts: dict[Kind, Callable[[], str]] = {
        Kind.FETCH: lambda: f"s3://{src.bucket}/{src.key}" + (f" version {src.requested_version}"
                                                              if src.requested_version else "")
                            + f" -> {ctx.ws.state.incoming}",
        Kind.LOGIN: lambda: "secrets " + (", ".join(ctx.config.secret_arns()) or "none")
                            + "; ECR registries of the file's images"
                            + (f"; up to {step.attempts} attempts, pausing {', '.join(f'{d:g}' for d in step.delays)} s"
                               if step.delays else ""),
        Kind.INSTALL: lambda: f"{ctx.ws.state.incoming} -> {ctx.dest.compose_file} (and its sha256 -> "
                              f"{ctx.ws.state.root / 'state.json'})",
        Kind.VERIFY: lambda: f"{ctx.dest.compose_file} is the file dadc installed (its sha256), else it is refused",
        Kind.GATE: lambda: f"every service running (healthy where it has a healthcheck) and stable for "
                           f"{step.stable:g} s, within {step.timeout:g} s",
        Kind.KEEP_FAILED: lambda: ("the release that failed is kept in the history as failed (it never runs again "
                                   "by itself)" if step.file == File.INCOMING else
                                   f"the current release is kept as failed: {step.why}")
                                  + ("; unless it is the last good release: then, if it runs as recorded, it stays "
                                     "and the recovery ends here" if step.guard == Guard.SAME_RELEASE else ""),
        Kind.REFUSE_FAILED: lambda: "the fetched file is refused when it is a release that failed",
        Kind.CHOOSE: lambda: ", else ".join(target(t) for t in step.candidates)
                             + ": the first whose files are kept and whose recorded images are all present or can be "
                               "pulled by digest now; none: nothing is touched, and it ends here",
        Kind.PIN: lambda: "docker tag each recorded image id to its recorded tag (not for references by digest)",
        Kind.RESTORE: lambda: f"the chosen release's files -> {ctx.dest.root} (its compose file, .env and the files "
                              "it names)",
        Kind.CHECK_IMAGES: lambda: "each service runs its recorded image, else the recovery fails saying so",
        Kind.FAIL: lambda: ENDINGS[step.ending],
        Kind.PUBLISH: lambda: "the success status message",
        Kind.RECORD: lambda: f"the release (its files, each service's image) -> "
                             f"{ctx.ws.state.root / 'records.json'} (its history)",
        Kind.PREFETCH: lambda: ("the images the engine lacks (what up would pull)" if step.guard == Guard.ONLY_MISSING
                                else "every registry image (the version pulls them after the stop)")
                               + f", with {shlex.join(ctx.compose_argv('pull', ctx.file(step.file)))}; a failure "
                                 "fails the start before anything is stopped" + (f"; {step.note}" if step.note else ""),
        Kind.PRUNE: lambda: "remove the images of the project's repositories that no recorded release ran and no "
                            "container uses; log the space freed",
        Kind.REMOVE: lambda: f"docker rm -f (containers labelled {ctx.project})" + (f": {step.note}" if step.note else ""),
        Kind.ABORT: lambda: step.refusal,
    }
    if step.kind in texts:
        return texts[step.kind]()
    return shlex.join(ctx.compose_argv(str(step.kind), ctx.file(step.file)))


def describe(ctx: "Context", step: Step) -> str:
    """One line: the step as it will run, its limit, its fallback and what put it there."""
    text = _what(ctx, step)
    if step.guard == Guard.UNLESS_TARGET_RUNS:
        text += " (unless what runs is the chosen release)"
    extra = []
    if step.timeout is not None and step.kind != Kind.GATE:
        extra.append(f"{LIMITS.get(step.kind, 'limit')} {step.timeout:g} s")
    if step.fallback == Fallback.LOCAL_IMAGES:
        when = " or ".join(STAND_IN[str(w)] for w in sorted(step.stand_in))
        extra.append(f"if {when}: images already present locally ({step.origin})")
    elif step.fallback in (Fallback.REPORT, Fallback.LOG):
        extra.append(FALLBACKS[step.fallback])
    elif step.fallback:
        extra.append(f"{FALLBACKS[step.fallback]} ({step.origin})")
    elif step.origin.startswith("--"):
        extra.append(step.origin)
    if step.on_fail:
        extra.append(f"on failure: the {len(step.on_fail)} steps below")
    return f"{step.kind}: {text}" + (f"  [{'; '.join(extra)}]" if extra else "")


def to_json(ctx: "Context", step: Step) -> dict[str, Any]:
    """A step for `dadc plan --format json`: its kind, its fields, how it runs, its recovery in full."""
    out: dict[str, Any] = {"kind": str(step.kind), "text": describe(ctx, step)}
    if step.file:
        out["file"] = str(step.file)
    if step.timeout is not None:
        out["limit_seconds"] = step.timeout
    if step.delays:
        out["attempts"], out["delays_seconds"] = step.attempts, list(step.delays)
    if step.fallback:
        out["fallback"] = str(step.fallback)
    if step.stand_in:
        out["local_images_when"] = sorted(str(w) for w in step.stand_in)
    if step.guard:
        out["guard"] = str(step.guard)
    if step.candidates:
        out["candidates"] = [str(t) for t in step.candidates]
    if step.ending:
        out["ending"] = str(step.ending)
    if step.origin:
        out["origin"] = step.origin
    if step.on_fail:
        out["on_fail"] = [to_json(ctx, r) for r in step.on_fail]
    return out
