#!/usr/bin/env python3
"""The recorded engine over every version and scenario, as a user runs it (goal: under 10 s)."""
from __future__ import annotations

import subprocess
import sys
import time

from common import ROOT


def main() -> None:
    started = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "dadc", "conformance"], cwd=ROOT, capture_output=True, text=True)
    seconds = time.perf_counter() - started
    summary = proc.stdout.strip().splitlines()[-1]
    print(f"| `dadc conformance` (recorded engine, all versions and scenarios) | {seconds:.1f} s ({summary}) | under 10 s |")


if __name__ == "__main__":
    main()
