"""dadc run, deploy, stop, rollback: the commands that change what runs."""
from __future__ import annotations

import argparse
import logging
import signal
import sys
from dataclasses import replace

from dadc.errors import DadcError, DefinitionUnreadable, UsageError
from dadc.options import RuntimeOptions
from dadc.runtime import logsetup, sinks
from dadc.runtime.status import failure

log = logging.getLogger("dadc")
INTERRUPTED = 143  # 128 + SIGTERM: a command a signal stopped between (or in) its steps


def options(args: argparse.Namespace) -> RuntimeOptions:
    """The runtime options, with --compose-env-file's names added and every name checked: dadc's
    own secrets (AWS credentials, the MQTT password) never go to docker, so naming one is bad usage."""
    import re

    from dadc.runtime.context import NEVER
    opts = RuntimeOptions.from_namespace(args)
    names = list(opts.compose_env)
    if opts.compose_env_file:
        try:
            with open(opts.compose_env_file, encoding="utf-8") as handle:
                names += [line.strip() for line in handle if line.strip() and not line.lstrip().startswith("#")]
        except OSError as exc:
            raise UsageError(f"--compose-env-file {opts.compose_env_file}: {exc.strerror}") from None
    for name in names:
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
            raise UsageError(f"--compose-env {name!r}: not a variable name")
        if name in NEVER:
            raise UsageError(f"--compose-env {name}: dadc never passes its own secrets to docker or compose")
    return replace(opts, compose_env=tuple(dict.fromkeys(names)), compose_env_file=None)


def read_options(args: argparse.Namespace, log: bool = True) -> RuntimeOptions | int:
    try:
        opts = options(args)
    except UsageError as exc:
        print(f"dadc: {exc}", file=sys.stderr)
        return 2
    if log:  # plan and status print what they find; the steps' own logs would be noise there
        logsetup.setup(opts.log_file)
    return opts


def _prepare(args: argparse.Namespace) -> tuple[RuntimeOptions, object | None] | int:
    opts = read_options(args)
    if isinstance(opts, int):
        return opts
    try:
        return opts, (sinks.mqtt_settings(opts) if opts.mqtt else None)
    except UsageError as exc:
        print(f"dadc: {exc}", file=sys.stderr)
        return 2


def exit_for(exc: DadcError) -> int:
    """A definition that cannot be read or parsed is bad usage (2: nothing was tried); any other
    failure is 1 (the README's table)."""
    return 2 if isinstance(exc, DefinitionUnreadable) else 1


def interrupt_on_signals() -> None:
    """SIGTERM and SIGINT end the running docker or compose command (its whole process group) and
    skip the rest of the steps (runtime/seams/process.py); every command that changes or reads the
    engine handles them so, and none leaves a compose group running."""
    from dadc.runtime.seams import process

    def handler(signum: int, frame: object) -> None:
        log.warning("received %s: interrupting", signal.Signals(signum).name)
        process.interrupt()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, handler)


def interrupted() -> bool:
    from dadc.runtime.seams import process
    try:
        process.check_interrupt()
    except DadcError:
        return True
    return False


def deploy(args: argparse.Namespace) -> int:
    import os

    from dadc.runtime import starting
    from dadc.runtime.seams import process
    prepared = _prepare(args)
    if isinstance(prepared, int):
        return prepared
    opts, mqtt = prepared
    interrupt_on_signals()
    if opts.under_run and os.environ.get("DADC_PARENT_PID"):
        process.die_with_parent(int(os.environ["DADC_PARENT_PID"]))
    sink = sinks.make(opts, mqtt, "deploy")
    try:
        outcome = starting.start(opts, sink)
    finally:
        sink.close()
    if interrupted():
        log.warning("deploy interrupted")
        return INTERRUPTED
    # under `dadc run`, 4 and 5 tell it that a retry would not help (and 5 that the previous
    # deployment runs again); for everyone else a failure is 1
    if outcome or not opts.under_run:
        return 0 if outcome else 2 if outcome.unreadable else 1
    return starting.exit_code(outcome)


def run(args: argparse.Namespace) -> int:
    from dadc.runtime import context, definitions
    from dadc.runtime.lifecycle import Runner
    from dadc.runtime.seams import aws
    prepared = _prepare(args)
    if isinstance(prepared, int):
        return prepared
    opts, mqtt = prepared
    if opts.jobs or opts.thing_name:
        return _run_jobs(opts, mqtt)
    if not (opts.definition or opts.parameters):
        print("dadc run: one of the arguments --definition --parameters is required (or --jobs)", file=sys.stderr)
        return 2
    sink = sinks.make(opts, mqtt, "")
    try:
        definition = definitions.resolve(opts, aws.factory(None))
    except DadcError as exc:
        log.error("%s: %s", exc.error, exc)
        sink.publish(failure(str(exc), exc.error))
        sink.close()
        return exit_for(exc)
    return Runner(opts, definition, sink, lambda config: context.build(config, opts)).run()


def _run_jobs(opts: RuntimeOptions, mqtt: object | None) -> int:
    """`dadc run --jobs --thing-name NAME`: releases from AWS IoT Jobs (fleet/device.py)."""
    from pathlib import Path

    from dadc import __version__
    from dadc.fleet.device import JobAgent, JobsSource, ReleaseBook
    from dadc.runtime import context, definitions
    from dadc.runtime.lifecycle import Runner
    from dadc.runtime.seams import aws
    from dadc.runtime.seams.state import default_state_dir
    if not (opts.jobs and opts.thing_name and mqtt is not None):
        print("dadc run: --jobs needs --thing-name and --mqtt (the broker of the jobs topics)", file=sys.stderr)
        return 2
    if opts.parameters:
        print("dadc run --jobs: jobs carry whole definitions; give --definition (or nothing)", file=sys.stderr)
        return 2
    initial = None
    if opts.definition:
        try:
            initial = definitions.resolve(opts, aws.factory(None)).source.read(force=True)
        except DadcError as exc:
            print(f"dadc: {exc}", file=sys.stderr)
            return exit_for(exc)
    book = ReleaseBook(Path(opts.state_dir or default_state_dir()))
    definition = definitions.Definition(JobsSource(book, initial), False, None, opts.connector_id)
    sink = sinks.make(opts, mqtt, "")
    runner = Runner(opts, definition, sink, lambda config: context.build(config, opts))
    from dataclasses import replace as _replace
    jobs_settings = _replace(mqtt, client_id=opts.thing_name)  # type: ignore[type-var]
    agent = JobAgent(runner, book, jobs_settings, opts.thing_name, __version__)
    try:
        return runner.run()
    finally:
        agent.close()


def stop(args: argparse.Namespace) -> int:
    from dadc.runtime import stopping
    opts = read_options(args)
    if isinstance(opts, int):
        return opts
    interrupt_on_signals()
    try:
        ok = stopping.stop_definition(opts)
    except DadcError as exc:
        print(f"dadc: {exc.error}: {exc}", file=sys.stderr)
        return INTERRUPTED if interrupted() else exit_for(exc)
    if interrupted():
        log.warning("stop interrupted: its down was ended; the project's containers may be left (dadc status)")
        return INTERRUPTED
    return 0 if ok else 1


def rollback(args: argparse.Namespace) -> int:
    """Back to the last good deployment (or --to REF), by hand: the planned sequence (gated when
    --health-gate is given), the same steps a failed gate's recovery runs. A signal stops it
    between steps (the running one's command ended), saying which steps ran."""
    from dadc.plan import plan_rollback
    from dadc.runtime import context, executor
    from dadc.runtime.handlers.recovery import restored
    from dadc.runtime.session import Session
    opts = read_options(args)
    if isinstance(opts, int):
        return opts
    interrupt_on_signals()
    session = Session()
    try:
        ctx = context.for_options(opts)
        with ctx.lock():
            ctx.ws.prepare()
            executor.execute(ctx, plan_rollback(ctx.config.profile, ctx.plan_options), session)
            what = restored(session)
    except DadcError as exc:
        if interrupted():
            print(f"dadc: rollback interrupted after: {', '.join(session.done) or 'nothing'} ({exc}); "
                  "dadc status shows what runs", file=sys.stderr)
            return INTERRUPTED
        print(f"dadc: {exc.error}: {exc}", file=sys.stderr)
        return exit_for(exc)
    print(f"rolled back to {what}")
    return 0
