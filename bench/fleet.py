#!/usr/bin/env python3
"""A fleet on one machine: N `dadc run` processes (each its own destination, state folder and
device id; the recorded compose engine, so N devices need not mean N Docker engines), one S3
endpoint, one broker, one group definition in S3. Changes the definition and measures: the time
until every device reports the new deployment, S3 requests per device per hour when idle, status
messages lost (must be 0), and dadc's total memory. Needs the test bed.

Usage: bench/fleet.py N [POLL-SECONDS]    (goal: converges within the poll interval + 30 s)"""
from __future__ import annotations

import json
import os
import queue
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import boto3
from common import ROOT, cpu_with_children, load_testbed, memory_kb

from dadc.conformance.engines.base import install_fakes

N = int(sys.argv[1]) if len(sys.argv) > 1 else 20
POLL = float(sys.argv[2]) if len(sys.argv) > 2 else 60.0
KEY = "group/definition.json"
TOPIC = "fleet/+/dockerapplicationdeploymentconnector/message/status"
LOOP = '["sh", "-c", "trap \'exit 0\' TERM; while true; do sleep 1; done"]'


def compose(tag: str) -> bytes:
    return (f"services:\n  web:\n    image: registry.example:5000/fleet/app:{tag}\n    command: {LOOP}\n"
            f"  worker:\n    image: registry.example:5000/fleet/app:{tag}\n    command: {LOOP}\n").encode()


def definition(bucket: str, version: str) -> bytes:
    return json.dumps({"Connectors": [{"Id": "fleet", "ConnectorArn":
        "arn:aws:greengrass:us-east-1::/connectors/DockerApplicationDeployment/versions/7",
        "Parameters": {"DockerComposeFileS3Bucket": bucket, "DockerComposeFileS3Key": "compose.yml",
                       "DockerComposeFileS3Version": version,
                       "DockerComposeFileDestinationPath": "/var/lib/fleet-app",  # each device: --destination
                       "DockerContainerStatusLogFrequency": "3600"}}]}).encode()


def pss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
        if line.startswith("Pss:"):
            return int(line.split()[1])
    return 0


def definition_requests(log: Path, bucket: str, start: int) -> int:
    """GETs of the definition that moto served since byte `start` of its request log."""
    with open(log, "rb") as handle:
        handle.seek(start)
        return sum(1 for line in handle if f"GET /{bucket}/{KEY}".encode() in line)


def main() -> None:
    env = load_testbed()
    # a broker of its own (its port in DADC_FLEET_MQTT_PORT): the smoke run then shares nothing with
    # the tests on the test bed's broker, whose subscribers read every topic
    port = int(os.environ.get("DADC_FLEET_MQTT_PORT") or 1883)
    broker_url = f"mqtt://127.0.0.1:{port}" if os.environ.get("DADC_FLEET_MQTT_PORT") else env["DADC_MQTT"]
    import paho.mqtt.client as mqtt
    s3 = boto3.client("s3", region_name="us-east-1")
    bucket = f"dadc-fleet-{uuid.uuid4().hex[:8]}"
    s3.create_bucket(Bucket=bucket)
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    first = s3.put_object(Bucket=bucket, Key="compose.yml", Body=compose("1"))["VersionId"]
    s3.put_object(Bucket=bucket, Key=KEY, Body=definition(bucket, first))
    work = Path(tempfile.mkdtemp(prefix="dadc-fleet-"))
    install_fakes(work / "bin")

    got: "queue.Queue[tuple[str, dict]]" = queue.Queue()  # type: ignore[type-arg]
    sub = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"fleet-bench-{uuid.uuid4().hex[:6]}")
    ready: "queue.Queue[bool]" = queue.Queue()
    sub.on_subscribe = lambda *a: ready.put(True)
    sub.on_message = lambda c, u, m: got.put((m.topic.split("/")[1], json.loads(m.payload)))
    sub.connect("127.0.0.1", port)
    sub.subscribe(TOPIC, qos=1)
    sub.loop_start()
    ready.get(timeout=10)

    devices: list[subprocess.Popen[bytes]] = []
    seen: dict[str, set[str]] = {}  # device -> versions it reported deployed

    def drain(until: float, want: str) -> bool:
        while time.monotonic() < until:
            if sum(want in v for v in seen.values()) == N:
                return True
            try:
                device, payload = got.get(timeout=1)
            except queue.Empty:
                continue
            if payload.get("status") == "success":
                seen.setdefault(device, set()).add(payload["ComposeFileVersion"])
            else:
                print(f"  {device}: {payload}", file=sys.stderr)
        return sum(want in v for v in seen.values()) == N

    started = time.monotonic()
    try:
        for i in range(N):
            d = work / f"dev{i:04d}"
            (d / "dest").mkdir(parents=True, mode=0o700)
            device_env = dict(os.environ, PATH=f"{work / 'bin'}:{os.environ['PATH']}", DADC_JOURNAL=str(d / "journal"),
                              DADC_FAKE_STATE=str(d / "engine"), DADC_LOCK_DIR=str(d / "locks"))  # its own engine
            devices.append(subprocess.Popen(
                [sys.executable, "-m", "dadc", "run", "--definition", f"s3://{bucket}/{KEY}",
                 "--poll", str(POLL), "--destination", str(d / "dest"), "--state-dir", str(d / "state"),
                 "--device-id", f"dev{i:04d}", "--status-topic-prefix", "fleet/{device}/", "--mqtt", broker_url,
                 "--compose-command", "docker-compose", "--compose-env", "DADC_JOURNAL", "--compose-env", "DADC_FAKE_STATE"],
                cwd=ROOT, env=device_env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
            if i % 10 == 9:  # a fleet boots over time, not all in the same second
                drain(time.monotonic() + 0.5, first)
        if not drain(time.monotonic() + 60 + N * 2.0, first):
            raise SystemExit(f"only {sum(first in v for v in seen.values())} of {N} devices deployed the first release")
        booted = time.monotonic() - started
        rss = sum(memory_kb(p.pid)["rss"] for p in devices)
        pss = sum(pss_kb(p.pid) for p in devices)
        log = Path(env["DADC_TESTBED_DIR"]) / "moto.log"
        mark, idle_from = log.stat().st_size, time.monotonic()
        cpu0 = sum(cpu_with_children(p.pid) for p in devices)
        time.sleep(2 * POLL)  # an idle fleet: what it costs S3 is what this window sees
        idle = definition_requests(log, bucket, mark)
        cpu = sum(cpu_with_children(p.pid) for p in devices) - cpu0  # each poll's child included
        per_poll = cpu / max(idle, 1)
        steady = max(memory_kb(p.pid)["rss"] for p in devices)
        per_hour = idle / N / (time.monotonic() - idle_from) * 3600
        second = s3.put_object(Bucket=bucket, Key="compose.yml", Body=compose("2"))["VersionId"]
        changed = time.monotonic()
        s3.put_object(Bucket=bucket, Key=KEY, Body=definition(bucket, second))
        converged = drain(changed + POLL + 120, second)
        took = time.monotonic() - changed
        reported = sum(len(v & {first, second}) for v in seen.values())
    finally:
        for p in devices:
            p.send_signal(signal.SIGTERM)
        for p in devices:
            p.wait(timeout=300)
        sub.disconnect()
        sub.loop_stop()
        shutil.rmtree(work, ignore_errors=True)
    lost = 2 * N - reported
    print(f"| fleet of {N} (`bench/fleet.py {N} {POLL:g}`) | every device on the new release {took:.1f} s after the "
          f"definition changed{'' if converged else ' (NOT all)'}; idle: {per_hour:.0f} S3 requests per device per hour; "
          f"{lost} status messages lost; dadc's memory: {pss / 1024:.0f} MB PSS in all ({rss / 1024 / N:.0f} MB RSS each, "
          f"steady at most {steady / 1024:.1f} MB); CPU per poll {per_poll:.2f} s of one core (the loop's own included), "
          f"{100 * per_poll / POLL:.2f}% of a core per device at this poll; "
          f"booted in {booted:.0f} s | within {POLL:g} + 30 s; 0 lost |")


if __name__ == "__main__":
    main()
