"""dadc run, deploy, stop, plan, status."""
from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import sys
from dataclasses import replace

from connector.errors import DadcError, UsageError
from connector.options import RuntimeOptions
from connector.runtime import logsetup
from connector.runtime.status import LazySink, Sink, StdoutSink, failure, topic

log = logging.getLogger("dadc")


def _mqtt(opts: RuntimeOptions):  # type: ignore[no-untyped-def]
    """The MQTT settings, checked now: a bad URL, CA or key is bad usage (exit 2) before any deploy."""
    from connector.runtime.seams.mqtt import MqttSettings
    password = None
    if opts.mqtt_password_file:
        try:
            with open(opts.mqtt_password_file, encoding="utf-8") as handle:
                password = handle.read().rstrip("\n")
        except OSError as exc:
            raise UsageError(f"--mqtt-password-file {opts.mqtt_password_file}: {exc.strerror}") from None
    elif os.environ.get("DADC_MQTT_PASSWORD") is not None and opts.mqtt_username:
        password = os.environ["DADC_MQTT_PASSWORD"]
    alpn = tuple(a for a in (opts.mqtt_alpn or "").split(",") if a)
    prefix = (opts.status_topic_prefix or "").replace("{device}", device_name(opts))
    if any(c in prefix for c in "+#\0"):
        raise UsageError(f"--status-topic-prefix {opts.status_topic_prefix!r}: no MQTT wildcards (+, #) in a topic")
    return MqttSettings.from_url(opts.mqtt, client_id=opts.mqtt_client_id or "", topic=topic(prefix), ca=opts.mqtt_ca,
                                 cert=opts.mqtt_cert, key=opts.mqtt_key, alpn=alpn, username=opts.mqtt_username,
                                 password=password)


def device_name(opts: RuntimeOptions) -> str:
    import socket
    return opts.device_id or socket.gethostname()


def _sink(opts: RuntimeOptions, settings, role: str) -> Sink:  # type: ignore[no-untyped-def]
    """stdout, or MQTT. Without --mqtt-client-id the client id comes from the device and the
    destination folder, so the sink is made once the definition says where that is."""
    if settings is None:
        return StdoutSink()
    from connector.runtime.seams.mqtt import MqttSink, default_client_id
    if settings.client_id:
        return MqttSink(settings)

    def make(destination: str) -> Sink:
        return MqttSink(replace(settings, client_id=default_client_id(device_name(opts), destination, role)))
    return LazySink(make, opts.destination or opts.definition or opts.parameters or ".")


def options(args: argparse.Namespace) -> RuntimeOptions:
    """The runtime options, with --compose-env-file's names added and every name checked: dadc's
    own secrets (AWS credentials, the MQTT password) never go to docker, so naming one is bad usage."""
    import re

    from connector.runtime.context import NEVER
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


def _options(args: argparse.Namespace, log: bool = True) -> RuntimeOptions | int:
    try:
        opts = options(args)
    except UsageError as exc:
        print(f"dadc: {exc}", file=sys.stderr)
        return 2
    if log:  # plan and status print what they find; the steps' own logs would be noise there
        logsetup.setup(opts.log_file)
    return opts


def _prepare(args: argparse.Namespace) -> tuple[RuntimeOptions, object | None] | int:
    opts = _options(args)
    if isinstance(opts, int):
        return opts
    try:
        return opts, (_mqtt(opts) if opts.mqtt else None)
    except UsageError as exc:
        print(f"dadc: {exc}", file=sys.stderr)
        return 2


def interrupt_on_signals() -> None:
    """SIGTERM and SIGINT end the running docker or compose command (its whole process group) and
    skip the rest of the start (runtime/seams/process.py)."""
    from connector.runtime.seams import process

    def handler(signum: int, frame: object) -> None:
        log.warning("received %s: interrupting", signal.Signals(signum).name)
        process.interrupt()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, handler)


def deploy(args: argparse.Namespace) -> int:
    from connector.runtime import starting
    from connector.runtime.seams import process
    prepared = _prepare(args)
    if isinstance(prepared, int):
        return prepared
    opts, mqtt = prepared
    sink = _sink(opts, mqtt, "deploy")
    interrupt_on_signals()
    try:
        outcome = starting.start(opts, sink, take_lock=not opts.under_run)
    finally:
        sink.close()
    try:
        process.check_interrupt()
    except DadcError:
        log.warning("deploy interrupted")
        return 143
    # under `dadc run`, 4 and 5 tell it that a retry would not help (and 5 that the previous
    # deployment runs again); for everyone else a failure is 1
    if outcome or not opts.under_run:
        return 0 if outcome else 1
    return starting.exit_code(outcome)


def run(args: argparse.Namespace) -> int:
    from connector.runtime import context, definitions
    from connector.runtime.lifecycle import Runner
    from connector.runtime.seams import aws
    prepared = _prepare(args)
    if isinstance(prepared, int):
        return prepared
    opts, mqtt = prepared
    sink = _sink(opts, mqtt, "")
    try:
        definition = definitions.resolve(opts, aws.factory(None))
    except DadcError as exc:
        log.error("%s: %s", exc.error, exc)
        sink.publish(failure(str(exc), exc.error))
        sink.close()
        return 1
    return Runner(opts, definition, sink, lambda config: context.build(config, opts)).run()


def stop(args: argparse.Namespace) -> int:
    from connector.runtime import stopping
    opts = _options(args)
    if isinstance(opts, int):
        return opts
    try:
        return 0 if stopping.stop_definition(opts) else 1
    except DadcError as exc:
        print(f"dadc: {exc.error}: {exc}", file=sys.stderr)
        return 1


def plan(args: argparse.Namespace) -> int:
    from connector.plan import Observed, plan_rollback, plan_start, plan_stop
    from connector.runtime import context, executor
    opts = _options(args, log=False)
    if isinstance(opts, int):
        return opts
    if opts.format not in ("text", "json"):
        print(f"dadc: --format {opts.format!r}: text or json", file=sys.stderr)
        return 2
    try:
        ctx = context.for_options(opts)
    except DadcError as exc:
        print(f"dadc: {exc.error}: {exc}", file=sys.stderr)
        return 1
    try:
        from connector.runtime.starting import observe
        observed = observe(ctx)
    except DadcError as exc:
        observed = Observed(ctx.dest.has_local_copy(), False)
        print(f"# docker not reachable ({exc}); assuming no containers are running", file=sys.stderr)
    profile = ctx.config.profile
    try:
        cli = ctx.compose
    except DadcError as exc:
        print(f"dadc: {exc.error}: {exc}", file=sys.stderr)
        return 1
    print(f"# version {profile.version}, compose {cli.name} {cli.version}")
    print(f"# observed: local copy {'yes' if observed.previous_file else 'no'}, "
          f"project running {'yes' if observed.project_running else 'no'}")
    print("# dadc extensions: " + (", ".join(opts.extensions()) or "none (the version's documented behaviour)"))
    print(f"# docker and compose run as {_who(ctx)}")
    for line in _risky(ctx, opts.health_gate, opts.health_stable):
        print(f"# {line}")
    sequences = {"start": plan_start(profile, ctx.config.params, observed, opts),
                 "stop": plan_stop(profile, ctx.config.params, Observed(True, observed.project_running), opts),
                 "rollback": plan_rollback(profile, opts)}
    if opts.format == "json":
        print(json.dumps({name: [executor.to_json(ctx, step) for step in steps] for name, steps in sequences.items()},
                         indent=2))
        return 0
    for title, steps in sequences.items():
        print(f"{title}:" if title != "rollback" else "rollback (dadc rollback" + (f" --to {opts.to}" if opts.to else "")
              + "):")
        for number, step in enumerate(steps, 1):
            print(f"  {number}. {executor.describe(ctx, step)}")
            for letter, recovery in zip("abcdefghijklmnop", step.on_fail):
                print(f"       {letter}. {executor.describe(ctx, recovery)}")
        if not steps:
            print("  (nothing)")
    if opts.retry:
        print(f"# after a failed start: --retry starts again, {opts.retry_base:g} s doubling to {opts.retry_cap:g} s "
              "with jitter (not after an invalid definition, an interrupt or a release that failed its health gate)")
    else:
        print("# after a failed start: nothing runs again until the definition changes (a poll or SIGHUP of dadc "
              "run) or dadc starts again; --retry retries it")
    return 0


def _who(ctx) -> str:  # type: ignore[no-untyped-def]
    """The DockerUserId check, as the start makes it (context.run_as_for refused a non-member)."""
    import grp
    import pwd
    if ctx.run_as is None:
        return f"dadc's own user (uid {os.geteuid()})" + (" (no DockerUserId)" if ctx.config.value("DockerUserId") is None else "")
    if ctx.run_as.uid == 0:
        return "DockerUserId 0 (root)"
    try:
        name = pwd.getpwuid(ctx.run_as.uid).pw_name
    except KeyError:
        name = "no such user"
    try:
        docker_gid = grp.getgrnam("docker").gr_gid
        member = docker_gid in os.getgrouplist(name, ctx.run_as.gid) if name != "no such user" else False
    except KeyError:
        member = False
    how = "a member of the docker group" if member else "the docker group granted (--grant-docker-group)"
    return f"DockerUserId {ctx.run_as.uid} ({name}), {how}"


def _risky(ctx, gate: float | None = None, stable: float = 0.0) -> list[str]:  # type: ignore[no-untyped-def]
    """The local copy's settings that hand a container the host (the file S3 serves next is judged
    at the start, in its log)."""
    from connector.validation import rules_compose
    raw = ctx.dest.local_copy()
    if raw is None:
        return []
    try:
        project = ctx.read_project(ctx.dest.compose_file, str(ctx.dest.compose_file))
    except DadcError as exc:
        return [f"the local copy: {exc}"]
    found = sorted(rules_compose.locate(list(project.risky), raw, str(ctx.dest.compose_file)),
                   key=lambda f: (f.line, f.column, f.rule))
    slow = [f"the local copy: {text}" for text in project.slow_starts(gate, stable)] if gate is not None else []
    return [f"{f.file}:{f.line}:{f.column}: warning {f.rule} {f.message}" for f in found] + slow


def status(args: argparse.Namespace) -> int:
    """The current deployment, the last good one, a release that failed, and the containers."""
    import time

    from connector.runtime import context
    from connector.runtime.rollback import describe
    opts = _options(args, log=False)
    if isinstance(opts, int):
        return opts
    try:
        ctx = context.for_options(opts)
        found = ctx.docker.containers(ctx.project)
    except DadcError as exc:
        print(f"dadc: {exc.error}: {exc}", file=sys.stderr)
        return 1

    def when(record: dict) -> str:  # type: ignore[type-arg]
        return time.strftime(" at %Y-%m-%d %H:%M:%S", time.localtime(record["at"])) if record.get("at") else ""
    state = ctx.dest.read_state()
    print(f"# current:   {describe(state) if state else 'nothing deployed'}")

    def images(record: dict) -> str:  # type: ignore[type-arg]
        return ", ".join(f"{service}={image.get('id', '')[:19]}" + ("" if image.get("digests") else
                                                                    " (built locally: restorable while present)")
                         for service, image in (record.get("images") or {}).items()) or "-"
    for title, good in (("last good:", ctx.dest.last_good()), ("before it:", ctx.dest.previous_good())):
        if good:
            print(f"# {title} {describe(good[1])}{when(good[1])}; images {images(good[1])}")
        elif title == "last good:":
            print("# last good: none recorded")
    for failed in ctx.dest.failed_releases():  # newest first; each refused until the file changes
        print(f"# failed:    {describe(failed)}{when(failed)}: {failed.get('reason')}")
    entries = ctx.dest.history()
    if entries:
        print("# history (newest first; go back to one with `dadc rollback --to N`):")
    for e in entries:
        record = {**e["record"], "sha256": e["sha256"]}
        what = f"images {images(record)}" if e["outcome"] == "good" else str(record.get("reason", ""))
        print(f"#   {e['n']:>3} {e['outcome']:<6} {describe(record)}{when(record)}; {what}")
    for c in found:
        print(f"{c.name}\t{c.image}\t{c.state}\t{c.health}")
    if not found:
        print("no containers")
    return 0


def rollback(args: argparse.Namespace) -> int:
    """Back to the last good deployment (or --to REF), by hand: the planned sequence (gated when
    --health-gate is given), the same steps a failed gate's recovery runs."""
    from connector.plan import plan_rollback
    from connector.runtime import context, executor
    from connector.runtime import rollback as back
    opts = _options(args)
    if isinstance(opts, int):
        return opts
    try:
        ctx = context.for_options(opts)
        with ctx.dest.lock():
            session = executor.execute(ctx, plan_rollback(ctx.config.profile, opts))
            what = back.restored(session)
    except DadcError as exc:
        print(f"dadc: {exc.error}: {exc}", file=sys.stderr)
        return 1
    print(f"rolled back to {what}")
    return 0
