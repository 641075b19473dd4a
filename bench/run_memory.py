#!/usr/bin/env python3
"""Steady-state memory of `dadc run` while it monitors (goal: at most 30 MB for dadc's own
process, in every mode), with a 1-second status log over a three-service project; with an
s3:// definition polled every 5 s, also the CPU each poll costs (its short-lived child
included). Needs the test bed. Modes: plain, tls, s3 or all."""
from __future__ import annotations

import json
import signal
import subprocess
import sys
import time

from common import ROOT, cpu_with_children, load_testbed, memory_kb, setup_definition

SECONDS = int(sys.argv[1]) if len(sys.argv) > 1 else 60
WHICH = sys.argv[2] if len(sys.argv) > 2 else "all"  # plain, tls, s3 or all
POLL = 5


def measure(label: str, mqtt: list[str], s3: bool = False) -> None:
    definition, dest, _ = setup_definition(3, frequency="1")
    where = str(definition)
    extra: list[str] = []
    if s3:
        import boto3
        bucket = json.loads(definition.read_text())["Connectors"][0]["Parameters"]["DockerComposeFileS3Bucket"]
        boto3.client("s3", region_name="us-east-1").put_object(Bucket=bucket, Key="definition.json",
                                                               Body=definition.read_bytes())
        where, extra = f"s3://{bucket}/definition.json", ["--poll", str(POLL), "--state-dir", str(dest.parent / "state")]
    run = subprocess.Popen([sys.executable, "-m", "dadc", "run", "--definition", where, *extra, *mqtt],
                           stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, cwd=ROOT)
    deadline = time.monotonic() + 120
    while "no containers" not in (line := run.stderr.readline()) and "container " not in line:
        if time.monotonic() > deadline:
            raise SystemExit("dadc run did not reach monitoring")
    log = dest.parent / "run.log"
    subprocess.Popen(["cat"], stdin=run.stderr, stdout=log.open("w"))  # keep draining the log
    samples = []
    cpu0, polls0 = cpu_with_children(run.pid), log.read_text().count("connector.runtime.fetchdef")
    for _ in range(SECONDS):
        samples.append(memory_kb(run.pid))
        time.sleep(1)
    cpu, polls = cpu_with_children(run.pid) - cpu0, log.read_text().count("connector.runtime.fetchdef") - polls0
    run.send_signal(signal.SIGTERM)
    run.wait(timeout=120)
    first, last = samples[0], samples[-1]
    peak_rss = max(s["rss"] for s in samples)
    peak_uss = max(s["uss"] for s in samples)
    print(f"| `dadc run` monitoring, {label}, {SECONDS} s at a 1 s interval | RSS {peak_rss / 1024:.1f} MB peak "
          f"(USS {peak_uss / 1024:.1f} MB); growth {(last['rss'] - first['rss']) / 1024:+.2f} MB | at most 30 MB |")
    if s3 and polls:
        # the loop's own CPU (status log every second) is in it too: an upper bound for a poll
        per_poll = cpu / polls
        print(f"| CPU per poll of an s3:// definition (conditional GET in a child; {polls} polls in {SECONDS} s) | "
              f"{per_poll:.2f} s: at --poll 300, {100 * per_poll / 300:.2f}% of one core | under 0.5% at --poll 300 |")


def main() -> None:
    env = load_testbed()
    if WHICH in ("plain", "all"):
        measure("MQTT", ["--mqtt", env["DADC_MQTT"]])
    if WHICH in ("s3", "all"):
        measure(f"s3:// definition polled every {POLL} s, MQTT", ["--mqtt", env["DADC_MQTT"]], s3=True)
    if WHICH in ("tls", "all"):
        measure("mutual-TLS MQTT", ["--mqtt", env["DADC_MQTTS"], "--mqtt-ca", env["DADC_MQTT_CA"],
                                    "--mqtt-cert", env["DADC_MQTT_CERT"], "--mqtt-key", env["DADC_MQTT_KEY"]])


if __name__ == "__main__":
    main()
