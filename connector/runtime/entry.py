"""From the runtime options to a start or a stop, as `dadc deploy` / `dadc stop` (and the
conformance harness) run them."""
from __future__ import annotations

import logging
from typing import Callable

from connector.errors import DadcError
from connector.options import RuntimeOptions
from connector.runtime import context, settings
from connector.runtime.seams.aws import Cloud
from connector.runtime.seams.local import Lock
from connector.runtime.status import Sink, failure

log = logging.getLogger("dadc")


def build(options: RuntimeOptions, cloud: Cloud | None = None,
          pause: Callable[[float], None] | None = None) -> context.Context:
    config = settings.load(options.definition, options.parameters, options.version, options.connector_id)
    return context.build(config, options, cloud, pause)


def lock_for(ctx: context.Context) -> Lock:
    ctx.dest.work.mkdir(mode=0o700, exist_ok=True)
    return Lock(ctx.dest.work / "lock")


def start(options: RuntimeOptions, sink: Sink, *, cloud: Cloud | None = None, take_lock: bool = True,
          pause: Callable[[float], None] | None = None) -> bool:
    """The whole start sequence; any failure ends in one fail status message."""
    try:
        ctx = build(options, cloud, pause)
        from connector.runtime import deploy
        if not take_lock:
            return deploy.start(ctx, sink)
        with lock_for(ctx):
            return deploy.start(ctx, sink)
    except DadcError as exc:
        log.error("%s: %s", exc.error, exc)
        sink.publish(failure(str(exc), exc.error))
        return False


def stop(options: RuntimeOptions) -> bool:
    ctx = build(options)
    from connector.runtime import stopping
    with lock_for(ctx):
        return stopping.stop(ctx)
