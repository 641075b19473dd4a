"""dadc run, deploy, stop, plan, status."""
from __future__ import annotations

import argparse
import logging
import signal
import sys

from connector.errors import DadcError
from connector.runtime import logsetup

log = logging.getLogger("dadc")


class Terminated(BaseException):
    """SIGTERM in a deploy: unwinds, so subprocess.run kills the compose command it waits on."""


def _sink(args: argparse.Namespace):  # type: ignore[no-untyped-def]
    """The status sink; None (after saying why) for a --mqtt URL that is bad usage."""
    from connector.runtime.status import make_sink
    try:
        return make_sink(args.mqtt, ca=args.mqtt_ca, cert=args.mqtt_cert, key=args.mqtt_key,
                         client_id=args.mqtt_client_id)
    except DadcError as exc:
        print(f"dadc: {exc}", file=sys.stderr)
        return None


def _source(args: argparse.Namespace):  # type: ignore[no-untyped-def]
    from connector.runtime.entry import Source
    return Source(args.definition, args.parameters, args.version, args.connector_id,
                  args.compose_command, args.stop_timeout)


def _context(args: argparse.Namespace):  # type: ignore[no-untyped-def]
    from connector.runtime import entry
    return entry.build(_source(args))


def _fail(sink, exc: DadcError) -> int:  # type: ignore[no-untyped-def]
    from connector.runtime.status import failure
    log.error("%s: %s", exc.error, exc)
    sink.publish(failure(str(exc), exc.error))
    sink.close()
    return 1


def deploy(args: argparse.Namespace) -> int:
    from connector.runtime import entry
    logsetup.setup(args.log_file)
    sink = _sink(args)
    if sink is None:
        return 2

    def terminate(signum: int, frame: object) -> None:
        raise Terminated()
    signal.signal(signal.SIGTERM, terminate)
    try:
        ok = entry.start(_source(args), sink, take_lock=not args.under_run)
    except Terminated:
        log.warning("deploy interrupted by SIGTERM")
        return 143
    sink.close()
    return 0 if ok else 1


def run(args: argparse.Namespace) -> int:
    from connector.runtime.lifecycle import Runner
    from connector.runtime import entry
    logsetup.setup(args.log_file)
    sink = _sink(args)
    if sink is None:
        return 2
    try:
        ctx = _context(args)
        compose_name = ctx.compose.name  # a missing compose CLI fails here, with a status message
        lock = entry.lock_for(ctx)
        lock.acquire()
    except DadcError as exc:
        return _fail(sink, exc)
    source = ["--definition", args.definition] if args.definition else ["--parameters", args.parameters]
    child = [*source, "--under-run", "--compose-command", compose_name]
    for flag, value in (("--version", args.version), ("--connector-id", args.connector_id),
                        ("--log-file", args.log_file), ("--stop-timeout", args.stop_timeout)):
        if value is not None:
            child += [flag, str(value)]
    try:
        return Runner(ctx, sink, child, args.retry_base, args.retry_cap).run()
    finally:
        lock.release()


def stop(args: argparse.Namespace) -> int:
    from connector.runtime import entry
    logsetup.setup(args.log_file)
    try:
        return 0 if entry.stop(_source(args)) else 1
    except DadcError as exc:
        print(f"dadc: {exc.error}: {exc}", file=sys.stderr)
        return 1


def plan(args: argparse.Namespace) -> int:
    import shlex

    from connector.plan import Observed, plan_start, plan_stop
    try:
        ctx = _context(args)
    except DadcError as exc:
        print(f"dadc: {exc.error}: {exc}", file=sys.stderr)
        return 1
    try:
        from connector.runtime.deploy import observe
        observed = observe(ctx)
    except DadcError as exc:
        observed = Observed(ctx.dest.compose_file.is_file(), False)
        print(f"# docker not reachable ({exc}); assuming no containers are running", file=sys.stderr)
    print(f"# version {ctx.config.profile.version}, compose {ctx.compose.name}, {observed}")
    for title, steps in (("start", plan_start(ctx.config.profile, ctx.config.params, observed)),
                         ("stop", plan_stop(ctx.config.profile, ctx.config.params,
                                            Observed(True, observed.project_running)))):
        print(f"{title}:")
        for step in steps:
            argv = ctx.compose_argv(step.action, step.file) if step.action in ("pull", "down", "up") else None
            detail = shlex.join(argv) if argv else f"{step.reason} ({ctx.dest.compose_file})" if step.action == "install" else step.reason
            print(f"  {step.action}: {detail}")
    return 0


def status(args: argparse.Namespace) -> int:
    from connector.runtime import monitor
    try:
        ctx = _context(args)
        found = monitor.containers(ctx.docker, ctx.env, ctx.run_as)
    except DadcError as exc:
        print(f"dadc: {exc.error}: {exc}", file=sys.stderr)
        return 1
    for c in found:
        print(f"{c.name}\t{c.image}\t{c.state}\t{c.health}")
    if not found:
        print("no containers")
    return 0
