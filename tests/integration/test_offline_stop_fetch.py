"""Offline mode, stopping and fetching keep their promises, on the real test bed: a signal stops a
start within the stop limit, a body cut short is never deployed, an offline start says what ran,
and every status message is counted through a full queue and a broker that drops."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import uuid
from pathlib import Path
from typing import Any

import pytest

from dadc.runtime.seams.mqtt import MqttSettings, MqttSink, default_client_id
from tests.integration.bed import Bed, compose_text, containers, statuses
from tests.integration.conftest import docker
from tests.integration.faults import Broker, Cutter, CutBody, PersistentSubscriber, Throttle, free_port, wait_for
from tests.integration.test_faults import lines_of

LIMIT = 20  # --stop-timeout of these tests: the stop must end within it


@pytest.fixture
def crawling_image(testbed_env: dict[str, str], unique: str) -> Any:
    """An image of ~3 MB that the engine does not have, behind a proxy that serves it at 40 kB/s:
    its pull takes over a minute."""
    open_registry = testbed_env["DADC_OPEN_REGISTRY"]
    ref = f"{open_registry}/dadc/crawl:{unique}"
    dockerfile = f"FROM {testbed_env['DADC_BASE_IMAGE']}\nRUN busybox dd if=/dev/urandom of=/blob bs=1024 count=3000\n"
    subprocess.run(["docker", "build", "-q", "-t", ref, "-"], input=dockerfile, text=True, check=True,
                   capture_output=True, timeout=300)
    docker("push", ref)
    docker("rmi", ref)
    proxy = Throttle(int(open_registry.rsplit(":", 1)[1]), None, down=40_000)
    yield f"127.0.0.1:{proxy.port}/dadc/crawl:{unique}"
    proxy.close()


@pytest.mark.parametrize("where", ["local", "s3"])
def test_sigterm_in_a_slow_pull_stops_within_the_limit_and_leaves_no_container(
        bed: Bed, crawling_image: str, where: str) -> None:
    """A local definition starts in a `dadc deploy` child, an S3 one in-process: either way SIGTERM
    ends the pull (its process group), skips the rest and runs the stop sequence in time."""
    definition = bed.definition(7)
    bed.put(compose_text({"web": bed.open_image}))
    assert bed.dadc("deploy", "--definition", str(definition)).returncode == 0
    assert len(containers(running_only=True)) == 1
    bed.put(compose_text({"web": bed.open_image, "slow": crawling_image}))
    if where == "s3":
        bed.s3.put_object(Bucket=bed.bucket, Key="def.json", Body=definition.read_bytes())
        source = f"s3://{bed.bucket}/def.json"
    else:
        source = str(definition)
    run = bed.spawn("run", "--definition", source, "--stop-timeout", str(LIMIT), "--state-dir", str(bed.tmp / "state"))
    err = lines_of(run.stderr)
    seen: list[str] = []
    assert wait_for(lambda: any(" pull" in line and "run: " in line for line in _drain(err, seen)), timeout=120), seen
    run.send_signal(signal.SIGTERM)
    try:
        run.wait(timeout=LIMIT + 10)  # the whole stop: interrupt, down, report
    except subprocess.TimeoutExpired:
        run.kill()
        raise AssertionError("dadc run did not stop within its limit:\n" + "".join(_drain(err, seen))[-3000:])
    text = "".join(_drain(err, seen))
    assert run.returncode == 0, text[-3000:]
    assert "interrupted" in text
    assert containers() == []  # the previous release went down with the stop sequence; the new one never came


def _drain(q: Any, seen: list[str]) -> list[str]:
    while not q.empty():
        seen.append(q.get())
    return seen


def test_a_compose_file_cut_at_a_line_boundary_is_never_deployed(bed: Bed) -> None:
    definition = bed.definition(7)
    bed.put(compose_text({"web": bed.open_image}))
    assert bed.dadc("deploy", "--definition", str(definition)).returncode == 0
    before = containers()
    installed = (bed.dest / "docker-compose.yml").read_bytes()
    bed.put(compose_text({"web": bed.open_image, "worker": bed.open_image, "extra": bed.open_image}))
    proxy = CutBody(bed.env["AWS_ENDPOINT_URL"], bed.key, keep_lines=4)  # "services:" and web's three lines
    try:
        proc = bed.dadc("deploy", "--definition", str(definition), env=dict(os.environ, AWS_ENDPOINT_URL=proxy.url))
    finally:
        proxy.close()
    assert proxy.cut >= 1
    assert proc.returncode == 1, proc.stderr[-2000:]
    (status,) = statuses(proc.stdout)
    assert status["status"] == "fail" and "nothing is installed" in status["error_message"], status
    assert (bed.dest / "docker-compose.yml").read_bytes() == installed
    assert containers() == before  # the running release untouched


def test_a_definition_cut_short_on_s3_is_refused(bed: Bed) -> None:
    definition = bed.definition(7)
    bed.s3.put_object(Bucket=bed.bucket, Key="def.json", Body=definition.read_bytes())
    bed.put(compose_text({"web": bed.open_image}))
    proxy = CutBody(bed.env["AWS_ENDPOINT_URL"], "def.json", keep_lines=3)
    try:
        proc = bed.dadc("deploy", "--definition", f"s3://{bed.bucket}/def.json", "--state-dir", str(bed.tmp / "st"),
                        env=dict(os.environ, AWS_ENDPOINT_URL=proxy.url))
    finally:
        proxy.close()
    assert proxy.cut >= 1 and proc.returncode == 1
    (status,) = statuses(proc.stdout)
    assert status["status"] == "fail" and "nothing is installed" in status["error_message"], status
    assert containers() == []


def test_an_offline_start_reports_the_local_copy_it_ran(bed: Bed) -> None:
    """A new definition (another key) while S3 cannot be reached: the local copy runs, and the
    status names the local copy's source and version, not the new definition's."""
    first_version = bed.put(compose_text({"web": bed.open_image}))
    assert bed.dadc("deploy", "--definition", str(bed.definition(7))).returncode == 0
    bed.put(compose_text({"web": bed.open_image, "new": bed.open_image}), key="app/next.yml")
    moved = bed.definition(7, name="next.json", DockerComposeFileS3Key="app/next.yml", DockerOfflineMode="true")
    proc = bed.dadc("deploy", "--definition", str(moved), env=dict(os.environ, AWS_ENDPOINT_URL="http://127.0.0.1:9"))
    assert proc.returncode == 0, proc.stderr[-2000:]
    (status,) = statuses(proc.stdout)
    assert status == {"status": "success", "GreengrassDockerApplicationDeploymentStatus":
                      "Successfully triggered docker-compose up", "S3Bucket": bed.bucket,
                      "ComposeFileName": bed.key, "ComposeFileVersion": first_version}
    assert "offline fallback: deploying the local copy" in proc.stderr and "not the definition's file" in proc.stderr
    assert [c["name"].rsplit("-", 2)[1] for c in containers(running_only=True)] == ["web"]


def test_the_default_client_id_is_the_device_and_the_destination(bed: Bed, tmp_path: Path) -> None:
    broker = Broker(free_port(), tmp_path / "broker")
    (tmp_path / "broker").mkdir()
    broker.start()
    try:
        bed.put(compose_text({"web": bed.open_image}))
        proc = bed.dadc("deploy", "--definition", str(bed.definition(7)), "--mqtt", f"mqtt://127.0.0.1:{broker.port}",
                        "--device-id", "gate-7")
        assert proc.returncode == 0, proc.stderr[-2000:]
        expected = default_client_id("gate-7", str(bed.dest), "deploy")
        assert wait_for(lambda: f" as {expected} " in broker.log_text() or f" as {expected}\n" in broker.log_text(),
                        timeout=30), broker.log_text()[-2000:]
    finally:
        broker.stop()


def test_every_message_is_delivered_or_counted_through_a_full_queue_and_a_dropping_broker(tmp_path: Path) -> None:
    """published == delivered + dropped: the message handed to paho is never lost uncounted."""
    (tmp_path / "broker").mkdir()
    broker = Broker(free_port(), tmp_path / "broker")
    broker.start()
    topic = f"dadc/count/{uuid.uuid4().hex[:8]}"
    subscriber = PersistentSubscriber(broker.port, topic)
    cutter = Cutter(broker.port, after=150)  # every connection dies after CONNECT and a publish or two
    sink = MqttSink(MqttSettings("127.0.0.1", cutter.port, False, f"dadc-count-{uuid.uuid4().hex[:6]}", topic,
                                 queue_limit=8))
    try:
        for burst in range(4):  # each burst overfills the queue; the next comes once it has drained
            for n in range(burst * 50, burst * 50 + 50):
                sink.publish({"n": n})
            assert wait_for(lambda: sink.pending() == 0, timeout=120, interval=0.05)
        sink.close(timeout=120)
        assert sink.pending() == 0
        assert sink.published == 200 and sink.dropped > 0 and cutter.cuts > 1
        assert sink.delivered + sink.dropped == sink.published
        received: set[int] = set()
        assert wait_for(lambda: _collect(subscriber, received) >= sink.delivered, timeout=60)
        assert len(received) == sink.delivered  # each delivered one arrived (DUP resends counted once)
        assert 199 in received  # the newest is never the one dropped
    finally:
        subscriber.close()
        cutter.close()
        broker.stop()


def _collect(subscriber: PersistentSubscriber, received: set[int]) -> int:
    while not subscriber.messages.empty():
        received.add(subscriber.messages.get()["n"])
    return len(received)


def test_every_runtime_command_takes_the_same_definition_forms(bed: Bed) -> None:
    """A bare Parameters object on S3 (with --version) and a definition on stdin, for plan, deploy,
    status and stop alike."""
    definition = bed.definition(7)
    params = json.loads(definition.read_text())["Connectors"][0]["Parameters"]
    bed.s3.put_object(Bucket=bed.bucket, Key="params.json", Body=json.dumps(params).encode())
    bed.put(compose_text({"web": bed.open_image}))
    s3_params = ["--parameters", f"s3://{bed.bucket}/params.json", "--version", "7", "--state-dir", str(bed.tmp / "st")]
    plan = bed.dadc("plan", *s3_params)
    assert plan.returncode == 0, plan.stderr[-2000:]
    assert "fetch: s3://" in plan.stdout and "pull: " in plan.stdout and "[limit 3600 s" in plan.stdout
    assert "# after a failed start: nothing runs again until the definition changes" in plan.stdout
    assert "--retry starts again" in bed.dadc("plan", *s3_params, "--retry").stdout
    assert bed.dadc("deploy", *s3_params).returncode == 0
    assert len(containers(running_only=True)) == 1
    status = subprocess.run([*_dadc(), "status", "--definition", "-", "--state-dir", str(bed.tmp / "st")],
                            input=definition.read_text(), text=True, capture_output=True, timeout=120)
    assert status.returncode == 0 and "# last good: s3://" in status.stdout, status.stderr[-2000:]
    assert bed.dadc("stop", *s3_params).returncode == 0
    assert containers() == []


def _dadc() -> list[str]:
    import sys
    return [sys.executable, "-m", "dadc"]
