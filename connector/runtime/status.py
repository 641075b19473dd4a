"""Status payloads, exactly as documented, and where they go (stdout or MQTT)."""
from __future__ import annotations

import json
import sys
from typing import Any, Protocol

from connector import profiles

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
