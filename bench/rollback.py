#!/usr/bin/env python3
"""Time from a failed health gate to the previous release running again, for a 5-service project
(goal: under 5 s beyond the containers' own start time, i.e. the `up` of the last good release).
Deploys a good release, then one whose first service never becomes healthy, with --health-gate;
reads the times from dadc's own log. Needs the test bed. Usage: bench/rollback.py [ROUNDS]."""
from __future__ import annotations

import re
import statistics
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path

import boto3
from common import ROOT, load_testbed, setup_definition

ROUNDS = int(sys.argv[1]) if len(sys.argv) > 1 else 3
SERVICES = 5
LOOP = '["sh", "-c", "trap \'exit 0\' TERM; while true; do sleep 1; done"]'
STAMP = re.compile(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3})")


def release(image: str, healthy: bool, tag: str) -> str:
    check = "true" if healthy else "false"
    return "services:\n" + "".join(
        f"  s{i}:\n    image: {image}\n    command: {LOOP}\n    labels:\n      release: {tag}\n"
        + (f"    healthcheck:\n      test: [\"CMD\", \"{check}\"]\n      interval: 1s\n      retries: 1\n" if i == 0 else "")
        for i in range(SERVICES))


def when(log: str, needle: str, after: str = "") -> float:
    """The time of the first line holding needle (after the first line holding after)."""
    lines = log.splitlines()
    start = next(i for i, line in enumerate(lines) if after in line) if after else 0
    line = next(line for line in lines[start:] if needle in line)
    return datetime.strptime(STAMP.match(line)[1], "%Y-%m-%d %H:%M:%S,%f").timestamp()


def main() -> None:
    env = load_testbed()
    image = f"{env['DADC_OPEN_REGISTRY']}/{env['DADC_BASE_IMAGE']}"
    definition, dest, _ = setup_definition(SERVICES, version=7)
    bucket = __import__("json").loads(definition.read_text())["Connectors"][0]["Parameters"]["DockerComposeFileS3Bucket"]
    s3 = boto3.client("s3", region_name="us-east-1")
    dadc = [sys.executable, "-m", "dadc", "deploy", "--definition", str(definition),
            "--health-gate", "60", "--health-stable", "2"]
    totals, ups, verified = [], [], []
    try:
        for n in range(ROUNDS):
            s3.put_object(Bucket=bucket, Key="compose.yml", Body=release(image, True, f"good-{n}").encode())
            subprocess.run(dadc, cwd=ROOT, check=True, capture_output=True)
            s3.put_object(Bucket=bucket, Key="compose.yml", Body=release(image, False, f"bad-{n}").encode())
            log = Path(dest.parent / f"round-{n}.log")
            subprocess.run([*dadc, "--log-file", str(log)], cwd=ROOT, capture_output=True)
            text = log.read_text()
            failed = when(text, "health gate failed")
            back = when(text, "its up took", after="health gate failed")  # the good release is up again
            up = float(re.findall(r"its up took ([0-9.]+)s", text)[-1])  # the recovery's up: the last one
            totals.append(back - failed)
            ups.append(up)
            verified.append(when(text, "is running again") - failed)  # and its own gate passed
    finally:
        subprocess.run([sys.executable, "-m", "dadc", "stop", "--definition", str(definition)], cwd=ROOT,
                       capture_output=True)
    total, up, gated = statistics.median(totals), statistics.median(ups), statistics.median(verified)
    print(f"| failed gate to the previous release running again, {SERVICES} services (`bench/rollback.py`, "
          f"median of {ROUNDS}) | {total:.2f} s, of which {up:.2f} s is its `up` (the containers' own start): "
          f"{total - up:.2f} s of dadc; {gated:.2f} s until it has passed its own gate (--health-stable 2) "
          "| under 5 s beyond the containers' start |")


if __name__ == "__main__":
    time.tzset()
    main()
