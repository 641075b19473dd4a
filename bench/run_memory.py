#!/usr/bin/env python3
"""Steady-state memory of `dadc run` while it monitors (goal: at most 30 MB for dadc's own
process), with a 1-second status log over a three-service project. Needs the test bed."""
from __future__ import annotations

import signal
import subprocess
import sys
import time

from common import ROOT, load_testbed, memory_kb, setup_definition

SECONDS = int(sys.argv[1]) if len(sys.argv) > 1 else 60
WHICH = sys.argv[2] if len(sys.argv) > 2 else "both"  # plain, tls or both


def measure(label: str, mqtt: list[str]) -> None:
    definition, dest, _ = setup_definition(3, frequency="1")
    run = subprocess.Popen([sys.executable, "-m", "connector", "run", "--definition", str(definition), *mqtt],
                           stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, cwd=ROOT)
    deadline = time.monotonic() + 120
    while "no containers" not in (line := run.stderr.readline()) and "container " not in line:
        if time.monotonic() > deadline:
            raise SystemExit("dadc run did not reach monitoring")
    subprocess.Popen(["cat"], stdin=run.stderr, stdout=subprocess.DEVNULL)  # keep draining the log
    samples = []
    for _ in range(SECONDS):
        samples.append(memory_kb(run.pid))
        time.sleep(1)
    run.send_signal(signal.SIGTERM)
    run.wait(timeout=120)
    first, last = samples[0], samples[-1]
    peak_rss = max(s["rss"] for s in samples)
    peak_uss = max(s["uss"] for s in samples)
    print(f"| `dadc run` monitoring, {label}, {SECONDS} s at a 1 s interval | RSS {peak_rss / 1024:.1f} MB peak "
          f"(USS {peak_uss / 1024:.1f} MB); growth {(last['rss'] - first['rss']) / 1024:+.2f} MB | at most 30 MB |")


def main() -> None:
    env = load_testbed()
    if WHICH in ("plain", "both"):
        measure("MQTT", ["--mqtt", env["DADC_MQTT"]])
    if WHICH in ("tls", "both"):
        measure("mutual-TLS MQTT", ["--mqtt", env["DADC_MQTTS"], "--mqtt-ca", env["DADC_MQTT_CA"],
                                    "--mqtt-cert", env["DADC_MQTT_CERT"], "--mqtt-key", env["DADC_MQTT_KEY"]])


if __name__ == "__main__":
    main()
