"""From the runtime options to a start or a stop, as `dadc deploy` / `dadc stop` (and the
conformance harness) run them."""
from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING, Callable

from connector.errors import DadcError
from connector.options import RuntimeOptions
from connector.runtime import context, settings
from connector.runtime.seams.aws import Cloud
from connector.runtime.seams.local import Lock
from connector.runtime.status import Sink, failure

if TYPE_CHECKING:
    from connector.runtime.deploy import Outcome

log = logging.getLogger("dadc")
# `dadc deploy --under-run` exit codes beyond 0 and 1, for the `dadc run` that started it:
FINAL = 4  # failed, and a retry would not help (an invalid definition, a release that failed its gate)
ROLLED_BACK = 5  # failed its health gate, and the previous deployment runs again


def build(options: RuntimeOptions, cloud: Cloud | None = None, pause: Callable[[float], None] | None = None,
          clock: Callable[[], float] | None = None) -> context.Context:
    if options.definition and options.definition.startswith("s3://"):
        from connector.runtime import definitions
        from connector.runtime.seams.aws import AwsCloud
        source = definitions.S3Object(options.definition, lambda: AwsCloud.for_region(None), Path(options.state_dir))
        raw = source.read(force=True)
        assert raw is not None
        config = settings.from_bytes(source.name, raw, connector_id=options.connector_id)
    else:
        config = settings.load(options.definition, options.parameters, options.version, options.connector_id)
    return context.build(config, options, cloud, pause, clock)


def lock_for(ctx: context.Context) -> Lock:
    ctx.dest.work.mkdir(mode=0o700, exist_ok=True)
    return Lock(ctx.dest.work / "lock")


def start(options: RuntimeOptions, sink: Sink, *, cloud: Cloud | None = None, take_lock: bool = True,
          pause: Callable[[float], None] | None = None, clock: Callable[[], float] | None = None) -> "Outcome":
    """The whole start sequence; any failure ends in one fail status message."""
    from connector.runtime.deploy import Outcome, start as deploy_start
    try:
        ctx = build(options, cloud, pause, clock)
        if not take_lock:
            return deploy_start(ctx, sink)
        with lock_for(ctx):
            return deploy_start(ctx, sink)
    except DadcError as exc:
        log.error("%s: %s", exc.error, exc)
        sink.publish(failure(str(exc), exc.error))
        return Outcome(False, exc.retriable)


def stop(options: RuntimeOptions) -> bool:
    ctx = build(options)
    from connector.runtime import stopping
    with lock_for(ctx):
        return stopping.stop(ctx)
