"""The periodic container status log, and the project's containers for `dadc status`."""
from __future__ import annotations

import json
import logging
from dataclasses import dataclass

from connector.runtime import process
from connector.runtime.compose import PROJECT, PROJECT_LABEL

log = logging.getLogger("dadc.monitor")


@dataclass(frozen=True)
class Container:
    id: str
    name: str
    image: str
    state: str
    health: str  # healthy, unhealthy, starting or none
    service: str = ""

    def __str__(self) -> str:
        return f"container {self.name} image={self.image} state={self.state} health={self.health}"


def _health(status: str) -> str:
    for word in ("unhealthy", "healthy", "health: starting"):
        if f"({word})" in status:
            return word.replace("health: ", "")
    return "none"


def containers(docker: str, env: dict[str, str] | None = None,
               run_as: process.RunAs | None = None) -> list[Container]:
    """The project's containers, running or not: one `docker ps` per call."""
    out = process.run([docker, "ps", "-a", "--no-trunc", "--filter", f"label={PROJECT_LABEL}={PROJECT}",
                       "--format", "{{json .}}"], env=env, run_as=run_as, timeout=60).stdout
    found = []
    for line in out.splitlines():
        if line.strip():
            row = json.loads(line)
            labels = dict(item.partition("=")[::2] for item in row.get("Labels", "").split(",") if item)
            found.append(Container(row["ID"], row["Names"], row["Image"], row["State"], _health(row["Status"]),
                                   labels.get("com.docker.compose.service", "")))
    return sorted(found, key=lambda c: c.name)


def log_status(docker: str, env: dict[str, str] | None = None, run_as: process.RunAs | None = None) -> list[Container]:
    try:
        found = containers(docker, env, run_as)
    except Exception as exc:  # the log must go on even while docker is away
        log.warning("container status unavailable: %s", exc)
        return []
    if not found:
        log.info("no containers of project %s", PROJECT)
    for c in found:
        log.info("%s", c)
    return found
