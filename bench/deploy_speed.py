#!/usr/bin/env python3
"""`dadc deploy` of a five-service project against the same compose commands run by hand
(goal: at most 1.30x). Both redeploy over a running project (v6: pull, down, up -d). Needs the test bed."""
from __future__ import annotations

import statistics
import subprocess
import sys
import time
from pathlib import Path

from common import ROOT, load_testbed, setup_definition

RUNS = int(sys.argv[1]) if len(sys.argv) > 1 else 5
PROJECT = "greengrassdockerapplicationdeployment"


def timed(argv_list: list[list[str]], cwd: Path) -> float:
    started = time.perf_counter()
    for argv in argv_list:
        subprocess.run(argv, cwd=cwd, check=True, capture_output=True)
    return time.perf_counter() - started


def main() -> None:
    load_testbed()
    definition, dest, text = setup_definition(5, version=6)
    manual_file = dest.parent / "manual.yml"
    manual_file.write_text(text)
    compose = ["docker", "compose", "-p", PROJECT, "-f", str(manual_file)]
    by_hand = [compose + ["pull"], compose + ["down"], compose + ["up", "-d"]]
    dadc = [[sys.executable, "-m", "dadc", "deploy", "--definition", str(definition)]]
    leftovers = subprocess.run(["docker", "ps", "-aq", "--filter", f"label=com.docker.compose.project={PROJECT}"],
                               capture_output=True, text=True).stdout.split()
    if leftovers:
        subprocess.run(["docker", "rm", "-f", *leftovers], capture_output=True)
    timed(dadc, ROOT)  # warm: images cached, project running
    hand_times, dadc_times = [], []
    for _ in range(RUNS):
        hand_times.append(timed(by_hand, ROOT))
        dadc_times.append(timed(dadc, ROOT))
    subprocess.run(compose + ["down"], capture_output=True)
    hand, ours = statistics.median(hand_times), statistics.median(dadc_times)
    print(f"| `dadc deploy`, five services, redeploy (pull, down, up) | {ours:.2f} s vs {hand:.2f} s by hand "
          f"= {ours / hand:.2f}x | at most 1.30x |")


if __name__ == "__main__":
    main()
