"""From the runtime options to a context, a start or a stop, as `dadc deploy` / `dadc stop` (and the
conformance harness) run them. The definition is resolved once (runtime/definitions.py), whatever
form it takes, and read with the same cloud the start uses."""
from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Callable

from connector.errors import DadcError
from connector.options import RuntimeOptions
from connector.runtime import context, definitions, settings
from connector.runtime.seams import aws
from connector.runtime.seams.aws import Cloud
from connector.runtime.seams.local import Lock
from connector.runtime.status import Sink, failure, locate

if TYPE_CHECKING:
    from connector.runtime.deploy import Outcome

log = logging.getLogger("dadc")
# `dadc deploy --under-run` exit codes beyond 0 and 1, for the `dadc run` that started it:
FINAL = 4  # failed, and a retry would not help (an invalid definition, a release that failed its gate)
ROLLED_BACK = 5  # failed its health gate, and the previous deployment runs again


def load(options: RuntimeOptions, cloud: Cloud | None = None) -> settings.Config:
    """The definition, read and validated: InvalidParameter names the first error and its place."""
    return definitions.resolve(options, aws.factory(None, cloud)).read_config()


def build(options: RuntimeOptions, cloud: Cloud | None = None, pause: Callable[[float], None] | None = None,
          clock: Callable[[], float] | None = None, config: settings.Config | None = None) -> context.Context:
    return context.build(config or load(options, cloud), options, cloud, pause, clock)


def lock_for(ctx: context.Context) -> Lock:
    return ctx.dest.lock()


def start(options: RuntimeOptions, sink: Sink, *, cloud: Cloud | None = None, take_lock: bool = True,
          pause: Callable[[float], None] | None = None, clock: Callable[[], float] | None = None,
          config: settings.Config | None = None) -> "Outcome":
    """The whole start sequence; any failure ends in one fail status message."""
    from connector.runtime.deploy import Outcome, start as deploy_start
    try:
        ctx = build(options, cloud, pause, clock, config)
        locate(sink, str(ctx.dest.root))
        if not take_lock:
            return deploy_start(ctx, sink)
        with lock_for(ctx):
            return deploy_start(ctx, sink)
    except DadcError as exc:
        log.error("%s: %s", exc.error, exc)
        sink.publish(failure(str(exc), exc.error))
        return Outcome(False, exc.retriable)


def stop(options: RuntimeOptions, cloud: Cloud | None = None) -> bool:
    ctx = build(options, cloud)
    from connector.runtime import stopping
    with lock_for(ctx):
        return stopping.stop(ctx)
