"""Start and stop from a definition, as `dadc deploy` / `dadc stop` do (and the conformance harness)."""
from __future__ import annotations

import logging
from dataclasses import dataclass

from connector.errors import DadcError
from connector.runtime import context, settings
from connector.runtime.localstate import Lock
from connector.runtime.status import Sink, failure

log = logging.getLogger("dadc")


@dataclass(frozen=True)
class Source:
    definition: str | None = None
    parameters: str | None = None
    version: str | None = None
    connector_id: str | None = None
    compose_command: str | None = None
    stop_timeout: float | None = None


def build(source: Source) -> context.Context:
    config = settings.load(source.definition, source.parameters, source.version, source.connector_id)
    return context.build(config, source.compose_command, source.stop_timeout)


def lock_for(ctx: context.Context) -> Lock:
    ctx.dest.work.mkdir(mode=0o700, exist_ok=True)
    return Lock(ctx.dest.work / "lock")


def start(source: Source, sink: Sink, *, take_lock: bool = True) -> bool:
    """The whole start sequence; any failure ends in one fail status message."""
    try:
        ctx = build(source)
        from connector.runtime import deploy
        if not take_lock:
            return deploy.start(ctx, sink)
        with lock_for(ctx):
            return deploy.start(ctx, sink)
    except DadcError as exc:
        log.error("%s: %s", exc.error, exc)
        sink.publish(failure(str(exc), exc.error))
        return False


def stop(source: Source) -> bool:
    ctx = build(source)
    from connector.runtime import stopping
    with lock_for(ctx):
        return stopping.stop(ctx)
