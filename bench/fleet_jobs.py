#!/usr/bin/env python3
"""A fleet on AWS IoT Jobs, on one machine: N `dadc run --jobs` devices (each its own thing, state
folder and recorded engine) on their own mosquitto, the jobs stand-in (tests/integration/jobsbed.py:
moto's control plane with the service's rules played on the broker, in real minutes), and
`dadc fleet` as the operator. Measures:

- rollout: from CreateJob to every device's SUCCEEDED, at the service's rate of 1,000 things a minute
  (the recorded engine starts containers in no time: all of it is beyond the containers' own start);
- abort: a release that fails on every fifth device, abort at 10% after 10 executed; from the abort
  to every device back on the previous release (the in-flight ones' gates, then `dadc fleet rollback`);
- `dadc fleet status` over N executions and over STATUS-EXECUTIONS (10,000: things with no device);
- idle: jobs requests per device per hour on the broker, once every job is done; device memory.

Usage: bench/fleet_jobs.py [N] [STATUS-EXECUTIONS] [IDLE-SECONDS]   (defaults 250 10000 60)"""
from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import boto3
from common import ROOT, load_testbed, memory_kb

from dadc.conformance.engines.base import install_fakes
from tests.integration.faults import Broker, free_port, wait_for
from tests.integration.jobsbed import JobsBed

N = int(sys.argv[1]) if len(sys.argv) > 1 else 250
MANY = int(sys.argv[2]) if len(sys.argv) > 2 else 10_000
IDLE = float(sys.argv[3]) if len(sys.argv) > 3 else 60.0
V7 = "arn:aws:greengrass:us-east-1::/connectors/DockerApplicationDeployment/versions/7"
# every fifth device cannot start release 2 (its `up` fails): the rest take it
# (compose runs in the destination, where its file is)
FLAKY = "#!/bin/sh\ncase \" $* \" in *\" up \"*) grep -q 'app:2' docker-compose.yml 2>/dev/null && exit 1;; esac\n" \
        "exec docker-compose \"$@\"\n"


def release(s3: Any, bucket: str, work: Path, tag: str) -> Path:
    body = f"services:\n  web:\n    image: registry.example:5000/fleet/app:{tag}\n"
    version = s3.put_object(Bucket=bucket, Key="compose.yml", Body=body.encode())["VersionId"]
    path = work / f"release-{tag}.json"
    path.write_text(json.dumps({"Connectors": [{"Id": "fleet", "ConnectorArn": V7, "Parameters": {
        "DockerComposeFileS3Bucket": bucket, "DockerComposeFileS3Key": "compose.yml",
        "DockerComposeFileS3Version": version, "DockerComposeFileDestinationPath": "/var/lib/fleet-app",
        "DockerContainerStatusLogFrequency": "3600"}}]}))
    return path


def fleet(bed: JobsBed, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "dadc", "fleet", *args], capture_output=True, text=True,
                          cwd=ROOT, env=dict(os.environ, **bed.env()), timeout=3600)


def image(d: Path) -> str | None:
    try:
        lines = (d / "engine").read_text().splitlines()[1:]
    except OSError:
        return None
    return next((line.split()[2] for line in lines if line.startswith("web ")), None)


def ended(bed: JobsBed, job: str, timeout: float) -> str:
    if not wait_for(lambda: bed.backend.jobs[job].status in ("COMPLETED", "CANCELED"), timeout=timeout):
        raise SystemExit(f"{job} did not end within {timeout:.0f} s: {bed.backend.jobs[job].status}")
    return str(bed.backend.jobs[job].status)


def timed(bed: JobsBed, job: str, *extra: str) -> tuple[float, int]:
    started = time.monotonic()
    done = fleet(bed, "status", job, "--format", "json", *extra)
    took = time.monotonic() - started
    return took, len(json.loads(done.stdout)["executions"])


def main() -> None:
    load_testbed()
    s3 = boto3.client("s3", region_name="us-east-1")
    bucket = f"dadc-jobs-{uuid.uuid4().hex[:8]}"
    s3.create_bucket(Bucket=bucket)
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    work = Path(tempfile.mkdtemp(prefix="dadc-jobs-"))
    fakes = install_fakes(work / "bin")
    flaky = work / "flaky-compose"
    flaky.write_text(FLAKY)
    flaky.chmod(0o755)
    broker = Broker(free_port())
    broker.start()
    bed = JobsBed(broker.port)  # real minutes: the rate is the service's
    things = [f"dev{i:04d}" for i in range(N)]
    group = bed.group("fleet", things)
    devices: list[subprocess.Popen[bytes]] = []
    try:
        started = time.monotonic()
        for i, thing in enumerate(things):
            d = work / thing
            (d / "dest").mkdir(parents=True)
            env = dict(os.environ, PATH=f"{fakes}:{os.environ['PATH']}", DADC_JOURNAL=str(d / "journal"),
                       DADC_FAKE_STATE=str(d / "engine"), DADC_LOCK_DIR=str(d / "locks"))
            devices.append(subprocess.Popen(
                [sys.executable, "-m", "dadc", "run", "--jobs", "--thing-name", thing,
                 "--mqtt", f"mqtt://127.0.0.1:{broker.port}", "--state-dir", str(d / "state"),
                 "--destination", str(d / "dest"), "--health-gate", "30", "--health-stable", "0.5",
                 "--compose-command", str(flaky) if i % 5 == 0 else "docker-compose",
                 "--compose-env", "DADC_JOURNAL", "--compose-env", "DADC_FAKE_STATE"],
                cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        # each device asks start-next once it is subscribed: then it is ready
        if not wait_for(lambda: bed.requests >= N, timeout=60 + 3 * N):
            raise SystemExit(f"only {bed.requests} of {N} devices came up")
        booted = time.monotonic() - started

        first = release(s3, bucket, work, "1")
        t0 = time.monotonic()
        job1 = fleet(bed, "rollout", str(first), "--target", group).stdout.split()[0]
        ended(bed, job1, 600 + N)
        rollout = time.monotonic() - t0
        on_first = sum(image(work / t) == "registry.example:5000/fleet/app:1" for t in things)
        if on_first != N:
            from collections import Counter
            raise SystemExit(f"{on_first} of {N} devices run release 1: "
                             f"{Counter(e.status for e in bed.jobs[job1].execs.values())}, e.g. "
                             f"{[e.details for e in bed.jobs[job1].execs.values() if e.status != 'SUCCEEDED'][:3]}")
        status_n, rows = timed(bed, job1)
        status_quick, _ = timed(bed, job1, "--details", "unsucceeded")

        second = release(s3, bucket, work, "2")
        job2 = fleet(bed, "rollout", str(second), "--target", bed.group("fleet-2", things),
                     "--abort-failed-percent", "10", "--abort-min-executed", str(max(1, min(10, N // 2)))
                     ).stdout.split()[0]
        how = ended(bed, job2, 600 + N)  # CANCELED: aborted (a small fleet may complete first)
        aborted = time.monotonic()
        took = [e for e in bed.ended if e[0] == job2 and e[3] == "SUCCEEDED"]
        if not wait_for(lambda: all(e.status not in ("QUEUED", "IN_PROGRESS") for e in bed.jobs[job2].execs.values()),
                        timeout=300):
            raise SystemExit("executions of the aborted job still run")
        fleet(bed, "rollback", job2)
        back = f"rollback-{job2}"[:64]
        if len(took) or bed.backend.jobs.get(back):
            ended(bed, back, 600 + N)
        if not wait_for(lambda: all(image(work / t) == "registry.example:5000/fleet/app:1" for t in things),
                        timeout=300):
            raise SystemExit("not every device is back on release 1")
        recovered = time.monotonic() - aborted
        taken = sum(1 for e in bed.jobs[job2].execs.values() if e.status == "SUCCEEDED")
        failed = sum(1 for e in bed.jobs[job2].execs.values() if e.status == "FAILED")

        time.sleep(3)  # the last notify-next's start-next (every job ended) lands before the window opens
        mark, idle_from = bed.requests, time.monotonic()
        time.sleep(IDLE)  # an idle fleet: what it asks of the broker is what this window sees
        per_hour = (bed.requests - mark) / N / (time.monotonic() - idle_from) * 3600
        if bed.requests > mark:
            from collections import Counter
            print("idle requests:", Counter(t.split("/", 3)[-1] for t in bed.topics[mark:]).most_common(5),
                  file=sys.stderr)
        rss = [memory_kb(p.pid)["rss"] for p in devices]

        many = [f"ghost{i:05d}" for i in range(MANY)]
        backend = bed.backend
        backend.create_thing_group("many", None, {})
        for thing in many:
            backend.create_thing(thing, "", {}, None)
            backend.add_thing_to_thing_group("many", None, thing, None)
        bed.minute = 0.01  # notify all of them at once: the executions wait QUEUED, as for absent devices
        job3 = fleet(bed, "rollout", str(first), "--target",
                     group.replace("thinggroup/fleet", "thinggroup/many")).stdout.split()[0]
        wait_for(lambda: len(bed.jobs[job3].execs) == MANY if job3 in bed.jobs else False, timeout=600)
        time.sleep(0.5)  # let the mirror tick
        status_many, rows_many = timed(bed, job3)
    finally:
        for p in devices:
            p.send_signal(signal.SIGTERM)
        for p in devices:
            try:
                p.wait(timeout=120)
            except subprocess.TimeoutExpired:
                p.kill()
        bed.close()
        broker.stop()
        shutil.rmtree(work, ignore_errors=True)
    print(f"| fleet of {N} on AWS IoT Jobs (`bench/fleet_jobs.py {N} {MANY} {IDLE:g}`) | rollout at 1,000/min: every "
          f"device SUCCEEDED {rollout:.1f} s after CreateJob; abort (10% after 10, every fifth device failing): "
          f"the job {how}, {taken} had taken the release, {failed} failed and restored themselves, every device back on the previous "
          f"release {recovered:.1f} s after the abort (fleet rollback included); `fleet status`: {status_n:.1f} s for "
          f"{rows} executions ({status_quick:.1f} s with `--details unsucceeded`), {status_many:.1f} s for {rows_many}; idle: {per_hour:.1f} jobs requests per device per "
          f"hour; device memory: RSS {max(rss) / 1024:.1f} MB at most, {sum(rss) / len(rss) / 1024:.1f} MB mean; "
          f"{N} devices up in {booted:.0f} s | under 30 s; at most 30 MB |")


if __name__ == "__main__":
    main()
