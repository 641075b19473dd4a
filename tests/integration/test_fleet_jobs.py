"""Fleet rollouts through AWS IoT Jobs: `dadc fleet` against moto's control plane, `dadc run --jobs`
devices on a real mosquitto, the jobs stand-in (jobsbed.py) advancing what moto leaves inert. The
devices run the recorded engine (held to the real tools by test_fake_contract.py), so a fleet is
several devices; test_fleet_jobs_engine.py runs one device on the real engine."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any, Iterator

import pytest

from tests.integration.bed import ROOT
from tests.integration.faults import Broker, free_port, wait_for
from tests.integration.jobsbed import JobsBed

V7 = "arn:aws:greengrass:us-east-1::/connectors/DockerApplicationDeployment/versions/7"


@pytest.fixture
def jobs(testbed_env: dict[str, str], tmp_path: Path) -> Iterator[JobsBed]:
    broker = Broker(free_port())
    broker.start()
    bed = JobsBed(broker.port, minute=1.0)
    bed.broker = broker  # type: ignore[attr-defined]
    try:
        yield bed
    finally:
        bed.close()
        broker.stop()


@pytest.fixture
def fakes(tmp_path: Path) -> Path:
    from dadc.conformance.engines.base import install_fakes
    return install_fakes(tmp_path / "bin")


class Fleet:
    """Releases (definitions whose compose file is in the test bed's S3) and `dadc fleet` commands."""

    def __init__(self, jobs: JobsBed, aws: dict[str, Any], bucket: str, tmp: Path) -> None:
        self.jobs, self.s3, self.bucket, self.tmp = jobs, aws["s3"], bucket, tmp

    def release(self, tag: str, behaviour: str = "healthy", name: str | None = None,
                params: dict[str, str] | None = None, compose: str | None = None) -> Path:
        compose = compose or (f"services:\n  web:\n    image: registry.example:5000/fleet/app:{tag}\n"
                              f"    labels:\n      dadc.behaviour: {behaviour}\n")
        version = self.s3.put_object(Bucket=self.bucket, Key="compose.yml", Body=compose.encode())["VersionId"]
        path = self.tmp / (name or f"release-{tag}.json")
        path.write_text(json.dumps({"Connectors": [{"Id": "fleet", "ConnectorArn": V7, "Parameters": {
            "DockerComposeFileS3Bucket": self.bucket, "DockerComposeFileS3Key": "compose.yml",
            "DockerComposeFileS3Version": version, "DockerComposeFileDestinationPath": "/var/lib/fleet-app",
            "DockerContainerStatusLogFrequency": "3600", **(params or {})}}]}))
        return path

    def dadc(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        done = subprocess.run([sys.executable, "-m", "dadc", "fleet", *args], capture_output=True, text=True,
                              cwd=ROOT, env=dict(os.environ, **self.jobs.env()), timeout=300)
        if check:
            assert done.returncode == 0, done.stderr
        return done

    def rollout(self, release: Path, *targets: str, extra: tuple[str, ...] = ()) -> str:
        done = self.dadc("rollout", str(release), *[a for t in targets for a in ("--target", t)], *extra)
        return done.stdout.split()[0]

    def status(self, job: str) -> dict[str, Any]:
        return json.loads(self.dadc("status", job, "--format", "json", check=False).stdout)

    def ended(self, job: str, timeout: float = 120) -> str:
        assert wait_for(lambda: self.jobs.backend.jobs[job].status in ("COMPLETED", "CANCELED"), timeout=timeout), \
            self.jobs.backend.jobs[job].status
        return str(self.jobs.backend.jobs[job].status)


@pytest.fixture
def fleet(jobs: JobsBed, aws_clients: dict[str, Any], bucket: str, tmp_path: Path) -> Fleet:
    return Fleet(jobs, aws_clients, bucket, tmp_path)


class Device:
    """`dadc run --jobs` as one thing, on its own recorded engine (fakes) or the real one."""

    def __init__(self, name: str, jobs: JobsBed, tmp: Path, fakes: Path | None, env: dict[str, str] | None = None,
                 compose_command: str = "docker-compose", extra: tuple[str, ...] = ()) -> None:
        self.name, self.jobs, self.dir = name, jobs, tmp / name
        (self.dir / "dest").mkdir(parents=True, exist_ok=True)
        self.env = dict(os.environ, **(env or {}))
        self.fake = fakes is not None
        if fakes is not None:
            self.env.update(PATH=f"{fakes}:{os.environ['PATH']}", DADC_JOURNAL=str(self.dir / "journal"),
                            DADC_FAKE_STATE=str(self.dir / "engine"), DADC_LOCK_DIR=str(self.dir / "locks"))
        self.argv = [sys.executable, "-m", "dadc", "run", "--jobs", "--thing-name", name,
                     "--mqtt", f"mqtt://127.0.0.1:{jobs.broker_port}", "--state-dir", str(self.dir / "state"),
                     "--destination", str(self.dir / "dest"), "--compose-command", compose_command, *extra]
        if fakes is not None:
            self.argv += ["--compose-env", "DADC_JOURNAL", "--compose-env", "DADC_FAKE_STATE"]
        self.proc: subprocess.Popen[str] | None = None
        self.start()

    def start(self) -> None:
        self.log = open(self.dir / "log", "a")
        self.proc = subprocess.Popen(self.argv, env=self.env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=self.log,
                                     text=True, start_new_session=True)

    def kill(self) -> None:
        assert self.proc is not None
        os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=30)

    def stop(self) -> int:
        assert self.proc is not None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        code = self.proc.wait(timeout=120)
        self.log.close()
        return code

    def image(self) -> str | None:
        """The image of the web service the engine runs (the recorded engine's state)."""
        try:
            lines = (self.dir / "engine").read_text().splitlines()[1:]
        except OSError:
            return None
        return next((line.split()[2] for line in lines if line.startswith("web ")), None)

    def ups(self) -> int:
        try:
            return sum(1 for line in (self.dir / "journal").read_text().splitlines() if " up " in f" {line} ")
        except OSError:
            return 0

    def logged(self) -> str:
        return (self.dir / "log").read_text(errors="replace")


@pytest.fixture
def devices(jobs: JobsBed, tmp_path: Path, fakes: Path) -> Iterator[list[Device]]:
    made: list[Device] = []
    yield made
    for d in made:
        d.stop()


def gated_compose(tmp_path: Path) -> tuple[Path, Path]:
    """A compose command whose `up` touches tmp_path/in-up, then waits for the gate file to exist."""
    gate, wrapper = tmp_path / "gate", tmp_path / "gated-compose"
    wrapper.write_text(f"#!/bin/sh\ncase \" $* \" in *\" up \"*) touch {tmp_path}/in-up; "
                       f"while [ ! -f {gate} ]; do sleep 0.05; done;; esac\nexec docker-compose \"$@\"\n")
    wrapper.chmod(0o755)
    return gate, wrapper


def by_thing(status: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {e["thing"]: e for e in status["executions"]}


def test_a_good_release_reaches_every_device_and_a_redelivered_one_restarts_nothing(
        fleet: Fleet, jobs: JobsBed, devices: list[Device], fakes: Path, tmp_path: Path) -> None:
    things = ["dev1", "dev2", "dev3"]
    group = jobs.group("canary", things)
    devices += [Device(t, jobs, tmp_path, fakes) for t in things]
    first = fleet.release("1")
    job = fleet.rollout(first, group, extra=("--health-gate", "2", "--health-stable", "0.5"))
    assert fleet.ended(job) == "COMPLETED"
    status = fleet.status(job)
    assert status["counts"]["succeeded"] == 3 and status["failed"] == 0
    for d in devices:  # what status says is what runs
        row = by_thing(status)[d.name]
        assert row["status"] == "SUCCEEDED" and row["statusDetails"]["verdict"] == "started"
        assert d.image() == "registry.example:5000/fleet/app:1"
        assert row["statusDetails"]["release"] == status["executions"][0]["statusDetails"]["release"]
    ups = [d.ups() for d in devices]
    # the same release again, through another group holding the same things: SUCCEEDED, no restart
    again = fleet.rollout(first, jobs.group("everyone", things))
    assert fleet.ended(again) == "COMPLETED"
    assert {e["statusDetails"]["verdict"] for e in fleet.status(again)["executions"]} == {"unchanged"}
    assert [d.ups() for d in devices] == ups
    # and running the same rollout command again finds its job rather than making another
    assert fleet.rollout(first, group) == job
    text = fleet.dadc("status", job).stdout
    assert text.splitlines()[-1] == "3 thing(s): 3 SUCCEEDED" and "dev2" in text


def test_a_failing_release_is_aborted_at_the_threshold_and_the_fleet_rollback_returns_who_took_it(
        fleet: Fleet, jobs: JobsBed, devices: list[Device], fakes: Path, tmp_path: Path) -> None:
    things = [f"dev{i}" for i in range(1, 7)]
    group = jobs.group("main", things)
    devices += [Device(t, jobs, tmp_path, fakes) for t in things]
    good = fleet.rollout(fleet.release("1"), group)
    assert fleet.ended(good) == "COMPLETED"
    bad = fleet.release("2", behaviour="exits")  # its container exits: the gate fails everywhere it starts
    # one thing notified every 10 s (the stand-in's minute): the abort, after 2 executed, comes long
    # before the 6th is notified however slow a device is (under 40 s each)
    jobs.minute = 10.0
    job = fleet.rollout(bad, jobs.group("main-2", things), extra=(
        "--rate", "1", "--abort-failed-percent", "50", "--abort-min-executed", "2",
        "--health-gate", "3", "--health-stable", "0.5"))
    assert fleet.ended(job) == "CANCELED"
    fake = jobs.backend.jobs[job]
    assert fake.reason_code == "ALL_THRESHOLD_EXCEEDED"
    status = fleet.status(job)
    rows = by_thing(status)
    assert len(rows) < len(things), "the abort left things never notified"
    for thing, row in rows.items():
        assert row["status"] in ("FAILED", "CANCELED", "SUCCEEDED", "IN_PROGRESS"), row
        if row["status"] == "FAILED":
            assert row["statusDetails"]["restored"] == "true", row
    assert wait_for(lambda: all(e.status not in ("IN_PROGRESS", "QUEUED")
                                for (j, _), e in jobs.executions.items() if j == job), timeout=120)
    for d in devices:  # a failed gate put every device that tried it back on release 1
        assert d.image() == "registry.example:5000/fleet/app:1", d.logged()[-2000:]
    # the rollback targets exactly the things whose execution SUCCEEDED (here none took release 2)
    dry = json.loads(fleet.dadc("rollback", job, "--dry-run", "--format", "json").stdout)
    succeeded = sorted(t for t, r in by_thing(fleet.status(job)).items() if r["status"] == "SUCCEEDED")
    assert dry["things"] == succeeded


def test_fleet_rollback_sends_the_things_that_took_a_release_back_to_the_one_before(
        fleet: Fleet, jobs: JobsBed, devices: list[Device], fakes: Path, tmp_path: Path) -> None:
    group = jobs.group("pair", ["dev1", "dev2"])
    devices += [Device(t, jobs, tmp_path, fakes) for t in ("dev1", "dev2")]
    assert fleet.ended(fleet.rollout(fleet.release("1"), group)) == "COMPLETED"
    job = fleet.rollout(fleet.release("2"), jobs.group("pair-2", ["dev1", "dev2"]))
    assert fleet.ended(job) == "COMPLETED"
    assert {d.image() for d in devices} == {"registry.example:5000/fleet/app:2"}
    done = fleet.dadc("rollback", job)
    back = done.stdout.split()[0]
    assert back == f"rollback-{job}" and "2 thing(s)" in done.stdout
    assert fleet.ended(back) == "COMPLETED"
    assert {d.image() for d in devices} == {"registry.example:5000/fleet/app:1"}
    assert {e["statusDetails"]["verdict"] for e in fleet.status(back)["executions"]} == {"started"}
    # a rollback job delivered again finds the device no longer on that release: nothing changes
    ups = [d.ups() for d in devices]
    payload = jobs.backend.jobs[back].document
    jobs.client().create_job(jobId="again", targets=[jobs.backend.jobs[back].targets[0]], document=payload)
    assert fleet.ended("again") == "COMPLETED"
    assert [d.ups() for d in devices] == ups


def test_a_bad_document_is_rejected_with_its_reason_and_changes_nothing(
        fleet: Fleet, jobs: JobsBed, devices: list[Device], fakes: Path, tmp_path: Path) -> None:
    group = jobs.group("one", ["dev1"])
    devices.append(Device("dev1", jobs, tmp_path, fakes))
    assert fleet.ended(fleet.rollout(fleet.release("1"), group)) == "COMPLETED"
    ups = devices[0].ups()
    jobs.client().create_job(jobId="bad", targets=[group], document=json.dumps({"dadc": "job/9"}))
    assert fleet.ended("bad") == "COMPLETED"
    row = fleet.status("bad")["executions"][0]
    assert row["status"] == "REJECTED" and "job/1" in row["statusDetails"]["reason"], row
    assert devices[0].ups() == ups and devices[0].image() == "registry.example:5000/fleet/app:1"


def test_a_device_killed_mid_job_resumes_the_execution_and_reports(
        fleet: Fleet, jobs: JobsBed, devices: list[Device], fakes: Path, tmp_path: Path) -> None:
    gate, wrapper = gated_compose(tmp_path)
    group = jobs.group("one", ["dev1"])
    device = Device("dev1", jobs, tmp_path, fakes, compose_command=str(wrapper))
    devices.append(device)
    job = fleet.rollout(fleet.release("1"), group)
    assert wait_for(lambda: (tmp_path / "in-up").exists(), timeout=120)
    device.kill()  # the handler and its deploy child, mid-`up`
    assert jobs.executions[(job, "dev1")].status == "IN_PROGRESS"
    gate.touch()
    device.start()
    assert fleet.ended(job) == "COMPLETED"
    assert fleet.status(job)["executions"][0]["status"] == "SUCCEEDED"
    assert device.image() == "registry.example:5000/fleet/app:1"


def test_a_broker_restart_loses_no_result(
        fleet: Fleet, jobs: JobsBed, devices: list[Device], fakes: Path, tmp_path: Path) -> None:
    gate, wrapper = gated_compose(tmp_path)
    group = jobs.group("one", ["dev1"])
    devices.append(Device("dev1", jobs, tmp_path, fakes, compose_command=str(wrapper)))
    job = fleet.rollout(fleet.release("1"), group)
    assert wait_for(lambda: (tmp_path / "in-up").exists(), timeout=120)
    jobs.broker.stop()  # type: ignore[attr-defined]
    gate.touch()  # the device finishes while the broker is away: its result waits
    assert wait_for(lambda: "SUCCEEDED" in devices[0].logged(), timeout=120)
    jobs.broker.start()  # type: ignore[attr-defined]
    assert fleet.ended(job) == "COMPLETED"
    assert fleet.status(job)["executions"][0]["status"] == "SUCCEEDED"


def test_a_device_that_never_reports_times_out_and_is_retried(fleet: Fleet, jobs: JobsBed) -> None:
    group = jobs.group("silent", ["ghost"])
    # a device that took its execution and went silent
    job = fleet.rollout(fleet.release("1"), group, extra=("--timeout-minutes", "1", "--retries", "1"))
    for number in (1, 2):
        assert wait_for(lambda: (job, "ghost") in jobs.executions
                        and jobs.executions[(job, "ghost")].number == number, timeout=60)
        jobs.mqtt.publish("$aws/things/ghost/jobs/start-next", json.dumps({"clientToken": f"t{number}"}), qos=1)
        assert wait_for(lambda: (job, "ghost", number, "TIMED_OUT") in jobs.ended, timeout=60), jobs.ended
    assert [e for e in jobs.ended if e[0] == job] == [(job, "ghost", 1, "TIMED_OUT"), (job, "ghost", 2, "TIMED_OUT")]
    assert fleet.ended(job) == "COMPLETED"
    row = fleet.status(job)["executions"][0]
    assert row["status"] == "TIMED_OUT" and row["executionNumber"] == 2


def test_waves_one_job_per_group_the_next_only_after_the_one_before_completed(
        fleet: Fleet, jobs: JobsBed, devices: list[Device], fakes: Path, tmp_path: Path) -> None:
    canary, main = jobs.group("w-canary", ["dev1"]), jobs.group("w-main", ["dev2", "dev3"])
    devices += [Device(t, jobs, tmp_path, fakes) for t in ("dev1", "dev2", "dev3")]
    done = fleet.dadc("rollout", str(fleet.release("1")), "--target", canary, "--target", main,
                      "--wave-poll", "0.2", "--format", "json")
    made = json.loads(done.stdout)["jobs"]
    assert [j["jobId"].rsplit("-", 1)[-1] for j in made] == ["canary", "main"]
    assert fleet.status(made[0]["jobId"])["counts"]["succeeded"] == 1
    assert fleet.ended(made[1]["jobId"]) == "COMPLETED"
    assert {d.image() for d in devices} == {"registry.example:5000/fleet/app:1"}
    # a failed canary holds the main wave back
    failing = fleet.release("2", behaviour="exits")
    done = fleet.dadc("rollout", str(failing), "--target", canary, "--target", main, "--wave-poll", "0.2",
                      "--health-gate", "2", "--health-stable", "0.5", check=False)
    assert done.returncode == 1 and "were not started" in done.stderr, done.stderr
    from dadc.fleet.document import release_of
    from dadc.fleet.requests import job_id
    release = release_of(failing.read_bytes())
    assert done.stdout.split()[0] == job_id(release, "w-canary")
    assert job_id(release, "w-main") not in jobs.backend.jobs
    assert fleet.status(job_id(release, "w-canary"))["executions"][0]["status"] == "FAILED"
    assert {d.image() for d in devices} == {"registry.example:5000/fleet/app:1"}


def test_a_forced_cancel_mid_job_leaves_the_device_on_a_good_release(
        fleet: Fleet, jobs: JobsBed, devices: list[Device], fakes: Path, tmp_path: Path) -> None:
    gate, wrapper = gated_compose(tmp_path)
    gate.touch()
    group = jobs.group("one", ["dev1"])
    device = Device("dev1", jobs, tmp_path, fakes, compose_command=str(wrapper))
    devices.append(device)
    assert fleet.ended(fleet.rollout(fleet.release("1"), group)) == "COMPLETED"
    gate.unlink()
    (tmp_path / "in-up").unlink()
    # release 2 fails its gate; the job is force-canceled while the device is in its `up`
    job = fleet.rollout(fleet.release("2", behaviour="exits"), jobs.group("two", ["dev1"]),
                        extra=("--health-gate", "2", "--health-stable", "0.5"))
    assert wait_for(lambda: (tmp_path / "in-up").exists(), timeout=120)
    jobs.client().cancel_job(jobId=job, force=True)
    assert wait_for(lambda: jobs.executions[(job, "dev1")].status == "CANCELED", timeout=60)
    gate.touch()  # the device finishes what it started: the gate fails, release 1 comes back
    assert wait_for(lambda: "is CANCELED" in device.logged(), timeout=120), device.logged()[-2000:]
    assert device.image() == "registry.example:5000/fleet/app:1"
    assert jobs.executions[(job, "dev1")].status == "CANCELED"  # the refused update changed nothing


def test_the_device_client_handler_gives_the_same_verdict_as_its_exit_status(
        fleet: Fleet, fakes: Path, tmp_path: Path) -> None:
    """`dadc-job-handler`, as the AWS IoT Device Client's runHandler step runs it: exit 0 = SUCCEEDED."""
    import shutil

    from dadc.fleet.document import JobDocument, release_of
    device = tmp_path / "dc"
    (device / "dest").mkdir(parents=True)
    env = dict(os.environ, PATH=f"{fakes}:{os.environ['PATH']}", DADC_JOURNAL=str(device / "journal"),
               DADC_FAKE_STATE=str(device / "engine"), DADC_LOCK_DIR=str(device / "locks"))
    handler = shutil.which("dadc-job-handler")
    assert handler, "pip install . puts dadc-job-handler on PATH"

    def handle(doc: JobDocument) -> subprocess.CompletedProcess[str]:
        return subprocess.run([handler, doc.to_json(), "--destination", str(device / "dest"),
                               "--state-dir", str(device / "state"), "--compose-command", "docker-compose",
                               "--compose-env", "DADC_JOURNAL", "--compose-env", "DADC_FAKE_STATE"],
                              capture_output=True, text=True, env=env, timeout=300)

    def deploy(path: Path) -> JobDocument:
        raw = path.read_text()
        return JobDocument("deploy", release_of(raw.encode()), inline=raw, health_gate=2.0, health_stable=0.5)

    def image() -> str:
        return next(line.split()[2] for line in (device / "engine").read_text().splitlines()[1:]
                    if line.startswith("web "))

    assert handle(deploy(fleet.release("1"))).returncode == 0 and image().endswith(":1")
    failed = handle(deploy(fleet.release("2", behaviour="exits")))
    assert failed.returncode == 1 and image().endswith(":1"), failed.stderr[-2000:]  # its gate restored 1
    third = deploy(fleet.release("3"))
    assert handle(third).returncode == 0 and image().endswith(":3")
    ups = (device / "journal").read_text().count(" up ")
    refused = handle(JobDocument("deploy", "0" * 64, inline="{}"))
    assert refused.returncode == 1 and "refused" in refused.stderr and "does not match its release" in refused.stderr
    assert (device / "journal").read_text().count(" up ") == ups and image().endswith(":3")
    # a rollback of release 3 deploys the release kept before it (1: release 2 never ran)
    assert handle(JobDocument("rollback", third.release)).returncode == 0 and image().endswith(":1")
    again = handle(JobDocument("rollback", third.release))  # no longer on release 3: nothing to do
    assert again.returncode == 0 and "nothing to do" in again.stdout and image().endswith(":1")


def test_status_of_a_ggv2_deployment_reads_the_job_behind_it(
        fleet: Fleet, jobs: JobsBed, devices: list[Device], fakes: Path, tmp_path: Path) -> None:
    """GetDeployment (greengrassv2's REST shape: GET /greengrass/v2/deployments/ID) served by a
    one-route stand-in, since moto has no Greengrass V2; the job behind it is the stand-in's."""
    import http.server
    import threading
    group = jobs.group("one", ["dev1"])
    devices.append(Device("dev1", jobs, tmp_path, fakes))
    job = fleet.rollout(fleet.release("1"), group)
    assert fleet.ended(job) == "COMPLETED"
    asked: list[str] = []

    class GetDeployment(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 (http.server's name)
            asked.append(self.path)
            ok = self.path == "/greengrass/v2/deployments/d-1"
            body = json.dumps({"deploymentId": "d-1", "iotJobId": job, "deploymentStatus": "COMPLETED"} if ok else
                              {"message": "no such deployment"}).encode()
            self.send_response(200 if ok else 404)
            self.send_header("Content-Type", "application/json")
            if not ok:
                self.send_header("x-amzn-ErrorType", "ResourceNotFoundException")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), GetDeployment)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        env = {"AWS_ENDPOINT_URL_GREENGRASSV2": f"http://127.0.0.1:{server.server_address[1]}"}
        run = lambda *a: subprocess.run([sys.executable, "-m", "dadc", "fleet", "status", *a], capture_output=True,  # noqa: E731
                                        text=True, cwd=ROOT, env=dict(os.environ, **jobs.env(), **env), timeout=120)
        via = run("--ggv2", "d-1", "--format", "json")
        assert via.returncode == 0, via.stderr
        assert json.loads(via.stdout) == fleet.status(job)
        missing = run("--ggv2", "d-2")
        assert missing.returncode == 1 and "ResourceNotFoundException" in missing.stderr
    finally:
        server.shutdown()
    assert asked == ["/greengrass/v2/deployments/d-1", "/greengrass/v2/deployments/d-2"]


def test_a_notification_lost_while_the_device_was_away_is_made_up_for_on_reconnection(
        fleet: Fleet, jobs: JobsBed, devices: list[Device], fakes: Path, tmp_path: Path) -> None:
    group = jobs.group("one", ["dev1"])
    devices.append(Device("dev1", jobs, tmp_path, fakes))
    assert wait_for(lambda: jobs.requests >= 1, timeout=60)  # connected: it asked start-next
    jobs.muted = True  # the job's notify-next never reaches the device
    job = fleet.rollout(fleet.release("1"), group)
    assert wait_for(lambda: (job, "dev1") in jobs.executions, timeout=60)
    asked = jobs.requests
    jobs.broker.stop()  # type: ignore[attr-defined]
    jobs.broker.start()  # type: ignore[attr-defined]
    assert fleet.ended(job) == "COMPLETED"  # its reconnection asked start-next
    assert jobs.requests > asked and fleet.status(job)["executions"][0]["status"] == "SUCCEEDED"


def test_an_uploaded_release_is_fetched_by_its_version_and_an_unreachable_s3_fails_it_not_rejects_it(
        fleet: Fleet, jobs: JobsBed, devices: list[Device], fakes: Path, tmp_path: Path) -> None:
    release = fleet.release("1")
    devices.append(Device("dev1", jobs, tmp_path, fakes))
    job = fleet.rollout(release, jobs.group("one", ["dev1"]), extra=("--upload", f"s3://{fleet.bucket}/releases/"))
    assert fleet.ended(job) == "COMPLETED"
    assert fleet.status(job)["executions"][0]["status"] == "SUCCEEDED"
    assert devices[0].image() == "registry.example:5000/fleet/app:1"
    from dadc.fleet.document import parse, release_of
    doc = parse(jobs.backend.jobs[job].document)
    assert doc.s3 == f"s3://{fleet.bucket}/releases/{release_of(release.read_bytes())}.json" and doc.version_id
    # a device whose S3 refuses connections: FAILED with the reason (the device's fault, not the
    # document's), and it keeps what it runs
    down = Device("dev2", jobs, tmp_path, fakes, env={"AWS_ENDPOINT_URL": "http://127.0.0.1:9"})
    devices.append(down)
    second = fleet.rollout(fleet.release("2"), jobs.group("two", ["dev2"]),
                           extra=("--upload", f"s3://{fleet.bucket}/releases/"))
    assert fleet.ended(second) == "COMPLETED"
    row = fleet.status(second)["executions"][0]
    assert row["status"] == "FAILED" and row["statusDetails"]["verdict"] == "failed", row
    assert down.image() is None and down.ups() == 0


def test_a_private_registrys_release_logs_in_with_its_secret_and_no_report_carries_the_password(
        fleet: Fleet, jobs: JobsBed, devices: list[Device], fakes: Path, tmp_path: Path,
        aws_clients: dict[str, Any], unique: str) -> None:
    """The job's definition names a Secrets Manager secret: the device logs in with it (password on
    stdin). A secret with the wrong password fails the login after the old connector's stop
    sequence: with the gate, the release before comes back (FAILED, rolled-back, restored). Neither
    password is in the log, the journal or any statusDetails."""
    sm = aws_clients["secretsmanager"]
    password = f"pw-{unique}-never-shown"
    secrets = [sm.create_secret(Name=f"fleet-registry-{name}-{unique}", SecretString=json.dumps(
        {"username": "fleet", "password": pw, "registryUrl": "registry.example:5000"}))["ARN"]
        for name, pw in (("good", password), ("wrong", "wrong-password"))]
    devices.append(Device("dev1", jobs, tmp_path, fakes))
    job = fleet.rollout(fleet.release("1", params={"AWSSecretsArnList": json.dumps(secrets[:1])}),
                        jobs.group("private", ["dev1"]))
    assert fleet.ended(job) == "COMPLETED"
    ok = fleet.status(job)["executions"][0]
    assert ok["status"] == "SUCCEEDED", ok
    bad = fleet.rollout(fleet.release("2", name="wrong.json", params={"AWSSecretsArnList": json.dumps(secrets[1:])}),
                        jobs.group("private-wrong", ["dev1"]), extra=("--health-gate", "5", "--health-stable", "0.5"))
    assert fleet.ended(bad) == "COMPLETED"
    row = fleet.status(bad)["executions"][0]
    assert row["status"] == "FAILED" and "401" in row["statusDetails"]["reason"], row
    assert row["statusDetails"]["verdict"] == "rolled-back" and row["statusDetails"]["restored"] == "true", row
    assert devices[0].image() == "registry.example:5000/fleet/app:1"
    journal = (devices[0].dir / "journal").read_text()
    assert " login " in f" {journal} "
    seen = devices[0].logged() + journal + json.dumps(ok) + json.dumps(row)
    assert password not in seen and "wrong-password" not in seen


ONE_SHOT_REPLICAS_DIGEST = """services:
  migrate:
    image: registry.example:5000/fleet/migrate:1
    restart: "no"
    labels:
      dadc.behaviour: oneshot
  web:
    image: registry.example:5000/fleet/app@sha256:{digest}
    labels:
      dadc.behaviour: healthy
    deploy:
      replicas: 3
    depends_on:
      migrate:
        condition: service_completed_successfully
"""


def test_a_one_shot_replicas_and_an_image_by_digest_pass_the_devices_gate(
        fleet: Fleet, jobs: JobsBed, devices: list[Device], fakes: Path, tmp_path: Path) -> None:
    """A release a fleet really ships: a migration that runs once, a replicated service pinned by
    digest. The gate waits for the one-shot's exit 0 and every replica; the job SUCCEEDED."""
    devices.append(Device("dev1", jobs, tmp_path, fakes))
    release = fleet.release("x", compose=ONE_SHOT_REPLICAS_DIGEST.format(digest="d" * 64))
    job = fleet.rollout(release, jobs.group("shapes", ["dev1"]), extra=("--health-gate", "10", "--health-stable", "0.5"))
    assert fleet.ended(job) == "COMPLETED"
    row = fleet.status(job)["executions"][0]
    assert row["status"] == "SUCCEEDED" and row["statusDetails"]["verdict"] == "started", row
    rows = [line.split() for line in (devices[0].dir / "engine").read_text().splitlines()[1:]]
    web = [r for r in rows if r[0] == "web"]
    assert len(web) == 3 and {r[2] for r in web} == {"registry.example:5000/fleet/app@sha256:" + "d" * 64}, rows
    assert [r[0] for r in rows].count("migrate") == 1, rows


def test_a_device_stopped_mid_job_reports_nothing_and_its_next_start_finishes_the_execution(
        fleet: Fleet, jobs: JobsBed, devices: list[Device], fakes: Path, tmp_path: Path) -> None:
    """SIGTERM while the release's `up` runs (a shutdown, `systemctl stop`): the connector's stop
    runs, the execution stays IN_PROGRESS (an interrupted start is no verdict), and the device's next
    start resumes it to SUCCEEDED."""
    gate, wrapper = gated_compose(tmp_path)
    device = Device("dev1", jobs, tmp_path, fakes, compose_command=str(wrapper))
    devices.append(device)
    job = fleet.rollout(fleet.release("1"), jobs.group("one", ["dev1"]))
    assert wait_for(lambda: (tmp_path / "in-up").exists(), timeout=120)
    assert device.proc is not None
    device.proc.send_signal(signal.SIGTERM)
    device.proc.wait(timeout=120)
    device.log.close()
    assert jobs.executions[(job, "dev1")].status == "IN_PROGRESS", device.logged()[-2000:]
    gate.touch()
    device.start()
    assert fleet.ended(job) == "COMPLETED"
    assert fleet.status(job)["executions"][0]["status"] == "SUCCEEDED", device.logged()[-2000:]
    assert device.image() == "registry.example:5000/fleet/app:1"


def test_a_verdict_lost_in_a_crash_is_given_again_without_a_restart(
        fleet: Fleet, jobs: JobsBed, devices: list[Device], fakes: Path, tmp_path: Path) -> None:
    """The release runs, the broker is away, and the device crashes before its SUCCEEDED reaches the
    service: its next start is handed the execution again, finds the release running, and reports
    SUCCEEDED (unchanged): the one `up` is the boot's own start sequence (the connector's, at every
    start, from the kept release), the job adds none."""
    gate, wrapper = gated_compose(tmp_path)
    device = Device("dev1", jobs, tmp_path, fakes, compose_command=str(wrapper))
    devices.append(device)
    job = fleet.rollout(fleet.release("1"), jobs.group("one", ["dev1"]))
    assert wait_for(lambda: (tmp_path / "in-up").exists(), timeout=120)
    jobs.broker.stop()  # type: ignore[attr-defined]
    gate.touch()
    assert wait_for(lambda: "SUCCEEDED" in device.logged(), timeout=120)
    device.kill()  # the verdict never left the device
    assert jobs.executions[(job, "dev1")].status == "IN_PROGRESS"
    ups = device.ups()
    jobs.broker.start()  # type: ignore[attr-defined]
    device.start()
    assert fleet.ended(job) == "COMPLETED"
    row = fleet.status(job)["executions"][0]
    assert row["status"] == "SUCCEEDED" and row["statusDetails"]["verdict"] == "unchanged", row
    assert device.ups() == ups + 1 and device.image() == "registry.example:5000/fleet/app:1"
    assert device.logged().count("no change to the connector") >= 1
