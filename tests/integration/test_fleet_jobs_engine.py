"""One `dadc run --jobs` device on the real engine (the rest of the fleet tests use the recorded
one, beside the engine): a job's release runs in Docker, `fleet status` says what runs, the same
release again restarts nothing. Runs in the engine group (the compose project is the host's)."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.integration.bed import ROOT, Bed, compose_text, containers
from tests.integration.jobsbed import JobsBed
from tests.integration.test_fleet_jobs import Device, devices, fakes, jobs  # noqa: F401 (fixtures)


def fleet(jobs: JobsBed, *args: str, code: int = 0) -> subprocess.CompletedProcess[str]:
    done = subprocess.run([sys.executable, "-m", "dadc", "fleet", *args], capture_output=True, text=True, cwd=ROOT,
                          env=dict(os.environ, **jobs.env()), timeout=300)
    assert done.returncode == code, done.stderr
    return done


def ended(jobs: JobsBed, job: str) -> str:
    from tests.integration.faults import wait_for
    assert wait_for(lambda: jobs.backend.jobs[job].status in ("COMPLETED", "CANCELED"), timeout=180)
    return str(jobs.backend.jobs[job].status)


def test_a_job_runs_its_release_on_the_real_engine_and_status_says_what_runs_and_prefetch_keeps_it(
        bed: Bed, jobs: JobsBed, devices: list[Device], tmp_path: Path) -> None:
    bed.put(compose_text({"web": bed.open_image}))
    definition = bed.definition(7, DockerContainerStatusLogFrequency="3600")
    devices.append(Device("edge1", jobs, tmp_path, None, compose_command=bed.env["DADC_COMPOSE_V2"],
                          extra=("--prefetch",)))
    job = fleet(jobs, "rollout", str(definition), "--target", jobs.group("real", ["edge1"]),
                "--health-gate", "60", "--health-stable", "1").stdout.split()[0]
    assert ended(jobs, job) == "COMPLETED", devices[0].logged()[-3000:]
    (row,) = json.loads(fleet(jobs, "status", job, "--format", "json").stdout)["executions"]
    assert row["status"] == "SUCCEEDED" and row["statusDetails"]["verdict"] == "started", row
    running = containers(running_only=True)
    assert [c["name"] for c in running] == ["greengrassdockerapplicationdeployment-web-1"]
    again = fleet(jobs, "rollout", str(definition), "--target", jobs.group("again", ["edge1"])).stdout.split()[0]
    assert ended(jobs, again) == "COMPLETED"
    (row,) = json.loads(fleet(jobs, "status", again, "--format", "json").stdout)["executions"]
    assert row["statusDetails"]["verdict"] == "unchanged"
    assert [c["id"] for c in containers(running_only=True)] == [c["id"] for c in running]  # nothing restarted
    # --prefetch: a release whose registry cannot be reached fails before anything stops (v7 pulls
    # after the stop when DockerPullBeforeUp is false)
    bed.put(compose_text({"web": bed.open_image, "new": "127.0.0.1:9/dadc/gone:1"}))
    late = bed.definition(7, name="late.json", DockerContainerStatusLogFrequency="3600", DockerPullBeforeUp="false")
    gone = fleet(jobs, "rollout", str(late), "--target", jobs.group("gone", ["edge1"])).stdout.split()[0]
    assert ended(jobs, gone) == "COMPLETED"
    (row,) = json.loads(fleet(jobs, "status", gone, "--format", "json", code=1).stdout)["executions"]
    assert row["status"] == "FAILED" and "prefetch failed" in row["statusDetails"]["reason"], row
    assert "still runs" in row["statusDetails"]["reason"]
    assert row["statusDetails"]["verdict"] == "kept-back" and row["statusDetails"]["restored"] == "true"
    assert [c["id"] for c in containers(running_only=True)] == [c["id"] for c in running]  # never stopped
