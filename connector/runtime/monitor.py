"""The periodic container status log."""
from __future__ import annotations

import logging

from dadc.runtime.seams.docker import Container, Docker

log = logging.getLogger("dadc.monitor")


def log_status(docker: Docker, project: str) -> list[Container]:
    try:
        found = docker.containers(project)
    except Exception as exc:  # the log must go on even while docker is away
        log.warning("container status unavailable: %s", exc)
        return []
    if not found:
        log.info("no containers of project %s", project)
    for c in found:
        log.info("%s", c)
    return found
