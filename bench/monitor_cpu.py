#!/usr/bin/env python3
"""CPU that one status-log cycle costs dadc with 100 project containers (goal: under 50 ms of
dadc's own CPU per cycle; the `docker ps` it runs is reported apart). Needs the test bed.
Usage: bench/monitor_cpu.py [CONTAINERS [CYCLES]] (a smoke run in CI uses a few)."""
from __future__ import annotations

import logging
import resource
import subprocess
import sys

from common import ROOT, compose_text, load_testbed

sys.path.insert(0, str(ROOT))
from dadc.runtime import monitor  # noqa: E402
from dadc.runtime.seams.compose import project_name  # noqa: E402
from dadc.runtime.seams.docker import Docker  # noqa: E402

CONTAINERS = int(sys.argv[1]) if len(sys.argv) > 1 else 100
CYCLES = int(sys.argv[2]) if len(sys.argv) > 2 else 20
PROJECT = "greengrassdockerapplicationdeployment"


def main() -> None:
    env = load_testbed()
    image = f"{env['DADC_OPEN_REGISTRY']}/{env['DADC_BASE_IMAGE']}"
    work = ROOT / "bench" / ".monitor-work"
    work.mkdir(exist_ok=True)
    (work / "compose.yml").write_text(compose_text(CONTAINERS, image))
    up = ["docker", "compose", "-p", PROJECT, "-f", str(work / "compose.yml")]
    subprocess.run(up + ["up", "-d"], check=True, capture_output=True)
    try:
        logging.basicConfig(level=logging.INFO, handlers=[logging.NullHandler()])
        docker = Docker.find()
        found = monitor.log_status(docker, project_name())
        assert len(found) == CONTAINERS, len(found)
        self_before = resource.getrusage(resource.RUSAGE_SELF)
        child_before = resource.getrusage(resource.RUSAGE_CHILDREN)
        for _ in range(CYCLES):
            monitor.log_status(docker, project_name())
        self_after = resource.getrusage(resource.RUSAGE_SELF)
        child_after = resource.getrusage(resource.RUSAGE_CHILDREN)
    finally:
        subprocess.run(up + ["down", "-t", "1"], capture_output=True)
    own = (self_after.ru_utime + self_after.ru_stime - self_before.ru_utime - self_before.ru_stime) / CYCLES
    child = (child_after.ru_utime + child_after.ru_stime - child_before.ru_utime - child_before.ru_stime) / CYCLES
    print(f"| status log of {CONTAINERS} containers, one cycle | {own * 1000:.1f} ms dadc CPU (+ {child * 1000:.0f} ms in `docker ps`) "
          "| under 50 ms |")


if __name__ == "__main__":
    main()
