"""dadc plan and dadc status: what would run, and what runs and ran. They change nothing; they run
on any host (a fact the host cannot give is shown as unknown), and a signal just ends them."""
from __future__ import annotations

import argparse
import json
import sys
import time
from typing import Any

from dadc.commands.runtime import exit_for, interrupt_on_signals, read_options
from dadc.domain.release import Entry
from dadc.errors import DadcError

PLAN_FORMATS = ("text", "json")
STATUS_FORMATS = ("text", "json")


def _facts(ctx: Any, opts: Any) -> tuple[dict[str, Any], Any]:
    """The plan's header facts, each one 'unknown' where this host cannot give it."""
    from dadc.plan import Observed
    from dadc.runtime.starting import observe
    facts: dict[str, Any] = {"version": ctx.config.profile.version}
    try:
        cli = ctx.compose
        facts["compose"] = f"{cli.name} {cli.version}"
    except DadcError as exc:
        facts["compose"] = f"unknown ({exc})"
    try:
        observed = observe(ctx)
    except DadcError as exc:
        observed = Observed(ctx.dest.has_local_copy() if ctx.dest.root.is_dir() else False, False,
                            unknown=(f"the engine ({exc})",))
    facts["local_copy"] = observed.previous_file
    facts["project_running"] = "unknown" if observed.unknown else observed.project_running
    if observed.history:
        facts["history"] = observed.history
    facts["extensions"] = opts.extensions()
    facts["docker_user"] = ctx.user.text if ctx.user else "unknown"
    if ctx.user and ctx.user.problem:
        facts["docker_user_problem"] = ctx.user.problem
    facts["warnings"] = _risky(ctx, opts.health_gate, opts.health_stable)
    return facts, observed


def plan(args: argparse.Namespace) -> int:
    from dadc.plan import Observed, plan_rollback, plan_start, plan_stop, retry_policy
    from dadc.planview import describe, to_json
    from dadc.runtime import context
    opts = read_options(args, log=False)
    if isinstance(opts, int):
        return opts
    if opts.format not in PLAN_FORMATS:
        print(f"dadc: --format {opts.format!r}: one of {', '.join(PLAN_FORMATS)}", file=sys.stderr)
        return 2
    interrupt_on_signals()
    refused = _validate_first(opts)
    if refused is not None:
        return refused
    try:
        ctx = context.for_options(opts, lenient=True)
    except DadcError as exc:
        print(f"dadc: {exc.error}: {exc}", file=sys.stderr)
        return 1
    facts, observed = _facts(ctx, opts)
    profile, options = ctx.config.profile, ctx.plan_options
    sequences = {"start": plan_start(profile, ctx.config.params, observed, options),
                 "stop": plan_stop(profile, ctx.config.params, Observed(True, observed.project_running), options),
                 "rollback": plan_rollback(profile, options)}
    policy = retry_policy(options)
    if opts.format == "json":
        facts["retry"] = {"base_seconds": policy.base, "cap_seconds": policy.cap, "jitter": list(policy.jitter)} \
            if policy else None
        print(json.dumps({**facts, **{name: [to_json(ctx, s) for s in steps] for name, steps in sequences.items()}},
                         indent=2))
        return 0
    print(f"# version {facts['version']}, compose {facts['compose']}")
    print(f"# observed: local copy {'yes' if observed.previous_file else 'no'}, project running "
          f"{'unknown: ' + '; '.join(observed.unknown) if observed.unknown else 'yes' if observed.project_running else 'no'}")
    if observed.history:
        print(f"# history: {observed.history}")
    print("# dadc extensions: " + (", ".join(facts["extensions"]) or "none (the version's documented behaviour)"))
    print(f"# docker and compose run as {facts['docker_user']}"
          + (f" (a start on this host refuses it: {facts['docker_user_problem']})" if ctx.user.problem else ""))
    for line in facts["warnings"]:
        print(f"# {line}")
    for title, steps in sequences.items():
        print(f"{title}:" if title != "rollback" else "rollback (dadc rollback" + (f" --to {opts.to}" if opts.to else "")
              + "):")
        for number, step in enumerate(steps, 1):
            print(f"  {number}. {describe(ctx, step)}")
            for letter, recovery in zip("abcdefghijklmnop", step.on_fail):
                print(f"       {letter}. {describe(ctx, recovery)}")
        if not steps:
            print("  (nothing)")
    if policy:
        print(f"# after a failed start: --retry starts again, {policy.base:g} s doubling to {policy.cap:g} s, times "
              f"{policy.jitter[0]:g}-{policy.jitter[1]:g} (jitter) (not after an invalid definition, an interrupt or "
              "a release that failed its health gate)")
    else:
        print("# after a failed start: nothing runs again until the definition changes (a poll or SIGHUP of dadc "
              "run) or dadc starts again; --retry retries it")
    return 0


def _validate_first(opts: Any) -> int | None:
    """`dadc plan` is `dadc validate` plus the steps: a definition validate refuses is refused here,
    with the same findings and exit code; None when it validates."""
    from dadc import arn
    from dadc.runtime import definitions
    from dadc.runtime.seams import aws
    from dadc.validation.engine import exit_code, validate_bytes
    from dadc.validation.reporters import TextReporter
    try:
        source = definitions.resolve(opts, aws.factory(None)).source
        raw = source.read(force=True)
        version = arn.resolve(opts.version).version if opts.parameters and opts.version else None
    except DadcError as exc:
        print(f"dadc: {exc.error}: {exc}", file=sys.stderr)
        return exit_for(exc)
    assert raw is not None
    result = validate_bytes(source.name, raw, version=version)
    if result.fatal or result.errors:
        print(TextReporter().render([result]))
        return exit_code([result], strict=False)
    return None


def _risky(ctx: Any, gate: float | None = None, stable: float = 0.0) -> list[str]:
    """The local copy's settings that hand a container the host (the file S3 serves next is judged
    at the start, in its log), and what the gate cannot see in time."""
    from dadc.validation import rules_compose
    try:
        raw = ctx.dest.local_copy() if ctx.dest.root.is_dir() else None
    except DadcError as exc:
        return [f"the local copy: {exc}"]
    if raw is None:
        return []
    try:
        project = ctx.read_project(ctx.dest.compose_file, str(ctx.dest.compose_file))
    except DadcError as exc:
        return [f"the local copy: {exc}"]
    found = sorted(rules_compose.locate(rules_compose.check(project.config, str(ctx.dest.root)), raw,
                                        str(ctx.dest.compose_file)), key=lambda f: (f.line, f.column, f.rule))
    slow = [f"the local copy: {text}" for text in project.slow_starts(gate, stable)] if gate is not None else []
    return [f"{f.file}:{f.line}:{f.column}: warning {f.rule} {f.message}" for f in found] + slow


def _when(at: float) -> str:
    return time.strftime(" at %Y-%m-%d %H:%M:%S", time.localtime(at)) if at else ""


def _images(e: Entry) -> str:
    return ", ".join(f"{service}={image.id[:19]}" + ("" if image.digests else " (built locally: restorable while "
                                                                              "present)")
                     for service, image in e.release.images) or "-"


def status(args: argparse.Namespace) -> int:
    """The current deployment, the last good one, the releases that failed, the history, and the
    containers; exit 1 when the history cannot be read (said first)."""
    from dadc.runtime import context
    opts = read_options(args, log=False)
    if isinstance(opts, int):
        return opts
    if opts.format not in STATUS_FORMATS:
        print(f"dadc: --format {opts.format!r}: one of {', '.join(STATUS_FORMATS)}", file=sys.stderr)
        return 2
    interrupt_on_signals()
    try:
        ctx = context.for_options(opts, lenient=True)
        found = ctx.docker.containers(ctx.project)
        installed = ctx.ws.installed()
    except DadcError as exc:
        print(f"dadc: {exc.error}: {exc}", file=sys.stderr)
        return exit_for(exc)
    history = ctx.ws.history
    damaged = history.damaged()
    entries = [] if damaged else history.entries()
    goods = [] if damaged else history.goods(entries)
    failed = [] if damaged else history.failed_releases()
    if opts.format == "json":
        print(json.dumps({
            "current": {"sha256": installed.sha256, "source": installed.source.to_json()} if installed else None,
            "history_error": damaged or None, "history_note": history.recovered or None,
            "last_good": goods[0].n if goods else None, "before_it": goods[1].n if len(goods) > 1 else None,
            "failed": [e.n for e in failed], "history": [e.to_json() for e in entries],
            "containers": [{"name": c.name, "image": c.image, "state": c.state, "health": c.health} for c in found],
        }, indent=2))
        return 1 if damaged else 0
    if damaged:
        print(f"# history:   CANNOT BE READ: {damaged}")
    if history.recovered:
        print(f"# history:   {history.recovered}")
    print(f"# current:   {installed.source.describe() + ' (' + installed.sha256[:12] + ')' if installed else 'nothing deployed'}")
    for title, good in (("last good:", goods[0] if goods else None), ("before it:", goods[1] if len(goods) > 1 else None)):
        if good:
            print(f"# {title} {good.describe()}{_when(good.at)}; images {_images(good)}")
        elif title == "last good:" and not damaged:
            print("# last good: none recorded")
    for e in failed:  # newest first; each refused until the file changes
        print(f"# failed:    {e.describe()}{_when(e.at)}: {e.reason}")
    if entries:
        print("# history (newest first; go back to one with `dadc rollback --to N`):")
    for e in entries:
        what = f"images {_images(e)}" if e.outcome == "good" else e.reason
        print(f"#   {e.n:>3} {e.outcome:<6} {e.describe()}{_when(e.at)}; {what}")
    for c in found:
        print(f"{c.name}\t{c.image}\t{c.state}\t{c.health}")
    if not found:
        print("no containers")
    return 1 if damaged else 0
