"""Status payloads, exactly as documented, and where they go (stdout or MQTT)."""
from __future__ import annotations

import json
import sys
from typing import Any, Callable, Protocol

from dadc import profiles

SUCCESS_TEXT = "Successfully triggered docker-compose up"


def topic(prefix: str = "") -> str:
    """The documented topic (parameters.json), after a fleet's per-device prefix if any."""
    return prefix + str(profiles.settings()["status_topic"])


def success(bucket: str, key: str, version: str | None) -> dict[str, Any]:
    return {"status": "success", "GreengrassDockerApplicationDeploymentStatus": SUCCESS_TEXT,
            "S3Bucket": bucket, "ComposeFileName": key, "ComposeFileVersion": version or ""}


def failure(message: str, error: str) -> dict[str, Any]:
    if error not in ("InvalidParameter", "InternalError"):
        error = "InternalError"
    return {"status": "fail", "error_message": message, "error": error}


class Sink(Protocol):
    def publish(self, payload: dict[str, Any]) -> None: ...
    def close(self, timeout: float = 10.0) -> None: ...


class StdoutSink:
    """One JSON line per status message on stdout (logs go to stderr)."""

    def publish(self, payload: dict[str, Any]) -> None:
        sys.stdout.write(json.dumps(payload, separators=(",", ":")) + "\n")
        sys.stdout.flush()

    def close(self, timeout: float = 10.0) -> None:
        pass


class LazySink:
    """A sink made as soon as it is known where dadc deploys to (it connects then, before the first
    message): the MQTT client id is derived from the device and the destination folder, and a
    definition (on S3, say) must be read first. A message before that (the definition could not be
    read) makes it with `fallback` (the definition's name) standing in."""

    def __init__(self, make: Callable[[str], Sink], fallback: str) -> None:
        self._make, self._fallback = make, fallback
        self.destination: str | None = None
        self._sink: Sink | None = None

    def publish(self, payload: dict[str, Any]) -> None:
        if self._sink is None:
            self._sink = self._make(self.destination or self._fallback)
        self._sink.publish(payload)

    def close(self, timeout: float = 10.0) -> None:
        if self._sink is not None:
            self._sink.close(timeout)


def locate(sink: Sink, destination: str) -> None:
    """Tell a lazy sink where dadc deploys to, and make it now (other sinks do not care)."""
    if isinstance(sink, LazySink) and sink.destination is None and sink._sink is None:
        sink.destination = destination
        sink._sink = sink._make(destination)
