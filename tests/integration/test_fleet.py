"""New deployments reach a device without hand edits: a definition in S3 (polled with a
conditional request) or a local file (SIGHUP), with the original's new-deployment semantics."""
from __future__ import annotations

import os
import re
import signal
from pathlib import Path
from typing import Any

from tests.integration.bed import Bed, compose_text, containers
from tests.integration.conftest import Subscriber
from tests.integration.faults import wait_for
from tests.integration.test_faults import lines_of, next_status

DEFINITION_KEY = "group/definition.json"


class Device:
    """One `dadc run`, with its status lines (stdout) and its log (stderr) collected as they come."""

    def __init__(self, bed: Bed, *args: str, env: dict[str, str] | None = None) -> None:
        self.proc = bed.spawn("run", *args, **({"env": env} if env else {}))
        self.out, self.err = lines_of(self.proc.stdout), lines_of(self.proc.stderr)
        self.log = ""

    def status(self, timeout: float = 120) -> dict[str, Any]:
        return next_status(self.out, timeout)

    def logged(self) -> str:
        while not self.err.empty():
            self.log += self.err.get()
        return self.log

    def stop(self) -> int:
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout=120)


def put_definition(bed: Bed, version: int, **params: str) -> None:
    """The group's definition, in S3, as any shape dadc accepts (here a definition version)."""
    text = bed.definition(version, name="upload.json", **params).read_text()
    bed.s3.put_object(Bucket=bed.bucket, Key=DEFINITION_KEY, Body=text.encode())


def polling(bed: Bed, tmp_path: Path, *extra: str) -> Device:
    """A device on the group's S3 definition, polling every second."""
    return Device(bed, "--definition", f"s3://{bed.bucket}/{DEFINITION_KEY}", "--poll", "1",
                  "--state-dir", str(tmp_path / "state"), *extra)


def compose_actions(log: str) -> list[str]:
    return re.findall(r"run: .*compose .* (pull|down|up -d)$", log, re.MULTILINE)


def test_an_s3_definition_moves_to_a_new_compose_version_at_the_next_poll(bed: Bed, tmp_path: Path) -> None:
    first = bed.put(compose_text({"web": bed.open_image}))
    put_definition(bed, 6, DockerComposeFileS3Version=first)
    device = polling(bed, tmp_path)
    try:
        assert device.status()["ComposeFileVersion"] == first
        second = bed.put(compose_text({"web": bed.open_image, "worker": bed.open_image}))
        put_definition(bed, 6, DockerComposeFileS3Version=second)
        status = device.status()
        assert status["status"] == "success" and status["ComposeFileVersion"] == second
        assert len(containers(running_only=True)) == 2
        # an invalid definition: a fail status with the findings; the app keeps running
        running = containers(running_only=True)
        put_definition(bed, 6, DockerComposeFileS3Version=second, DockerUserId="not-a-uid")
        status = device.status()
        assert status["error"] == "InvalidParameter" and "E3005" in status["error_message"]
        assert containers(running_only=True) == running
        # and the polling goes on: a good one after it deploys
        put_definition(bed, 6, DockerComposeFileS3Version=first)
        assert device.status()["ComposeFileVersion"] == first
        assert [c["name"] for c in containers(running_only=True)] == ["greengrassdockerapplicationdeployment-web-1"]
    finally:
        assert device.stop() == 0
    assert containers() == []


def test_a_v5_to_v7_change_runs_the_v5_stop_then_the_v7_start(bed: Bed, tmp_path: Path) -> None:
    first = bed.put(compose_text({"web": bed.open_image}))
    put_definition(bed, 5, DockerComposeFileS3Version=first)
    device = polling(bed, tmp_path)
    try:
        assert device.status()["status"] == "success"
        mark = len(device.logged())
        second = bed.put(compose_text({"web": bed.open_image, "db": bed.open_image}))
        put_definition(bed, 7, DockerComposeFileS3Version=second)
        assert device.status()["ComposeFileVersion"] == second
        assert wait_for(lambda: "deployment succeeded" in device.logged()[mark:], timeout=60)
        after = device.logged()[mark:]
        assert "the stop sequence of version 5, then the start sequence of version 7" in after
        assert compose_actions(after) == ["down", "pull", "down", "up -d"]  # v5's stop; v7: pull, down, up
        # a flip of StopContainersOnNewDeployment: the old (false) stop sequence leaves the app up
        put_definition(bed, 7, DockerComposeFileS3Version=second, StopContainersOnNewDeployment="false")
        assert device.status()["status"] == "success"
        mark = len(device.logged())
        put_definition(bed, 7, DockerComposeFileS3Version=first, StopContainersOnNewDeployment="false")
        assert device.status()["ComposeFileVersion"] == first
        assert wait_for(lambda: "deployment succeeded" in device.logged()[mark:], timeout=60)
        assert compose_actions(device.logged()[mark:]) == ["pull", "up -d"]  # no down: neither stop nor start
    finally:
        device.stop()


def test_sighup_applies_a_local_change_at_once(bed: Bed) -> None:
    first = bed.put(compose_text({"web": bed.open_image}))
    definition = bed.definition(6, DockerComposeFileS3Version=first)
    device = Device(bed, "--definition", str(definition))  # no --poll: only a SIGHUP reads it again
    try:
        assert device.status()["ComposeFileVersion"] == first
        second = bed.put(compose_text({"web": bed.open_image, "worker": bed.open_image}))
        bed.definition(6, DockerComposeFileS3Version=second)
        device.proc.send_signal(signal.SIGHUP)
        assert device.status()["ComposeFileVersion"] == second
        assert len(containers(running_only=True)) == 2
    finally:
        assert device.stop() == 0


def test_a_fleet_topic_per_device_and_an_offline_boot_on_the_kept_definition(bed: Bed, tmp_path: Path,
                                                                            testbed_env: dict[str, str]) -> None:
    """v7 with DockerOfflineMode: rebooted with S3 out of reach, the device runs its kept definition."""
    first = bed.put(compose_text({"web": bed.open_image}))
    put_definition(bed, 7, DockerComposeFileS3Version=first, DockerOfflineMode="true")
    topic = "things/dev-42/dockerapplicationdeploymentconnector/message/status"
    subscriber = Subscriber(testbed_env["DADC_MQTT"], "things/+/dockerapplicationdeploymentconnector/message/status")
    args = ["--definition", f"s3://{bed.bucket}/{DEFINITION_KEY}", "--state-dir", str(tmp_path / "state"),
            "--mqtt", testbed_env["DADC_MQTT"], "--device-id", "dev-42", "--status-topic-prefix", "things/{device}/"]
    device = None
    try:
        device = Device(bed, *args)
        got_topic, payload, _ = subscriber.get(timeout=120)
        assert got_topic == topic and payload["status"] == "success"
        assert device.stop() == 0
        offline = dict(os.environ, AWS_ENDPOINT_URL="http://127.0.0.1:9")
        device = Device(bed, *args, env=offline)
        got_topic, payload, _ = subscriber.get(timeout=120)
        assert got_topic == topic and payload["status"] == "success", (payload, device.logged()[-4000:])
        assert wait_for(lambda: "running the last good definition kept in" in device.logged()
                        and "offline fallback: deploying the local copy" in device.logged(), timeout=60)
        assert device.stop() == 0
    finally:
        if device is not None and device.proc.poll() is None:  # a failed assertion leaves no device behind
            device.stop()
        subscriber.close()


def test_a_new_definition_that_fails_its_gate_rolls_back_and_the_previous_one_stays(bed: Bed, tmp_path: Path) -> None:
    healthcheck = "    healthcheck:\n      test: [\"CMD\", \"{}\"]\n      interval: 1s\n      retries: 1\n"
    good = bed.put(compose_text({"web": bed.open_image}) + healthcheck.format("true"))
    put_definition(bed, 7, DockerComposeFileS3Version=good)
    device = polling(bed, tmp_path, "--health-gate", "60", "--health-stable", "1")
    try:
        assert device.status()["ComposeFileVersion"] == good
        (before,) = containers(running_only=True)
        bad = bed.put(compose_text({"web": bed.open_image}) + healthcheck.format("false"))
        put_definition(bed, 7, DockerComposeFileS3Version=bad)
        status = device.status()
        assert status["status"] == "fail" and "rolled back to" in status["error_message"]
        assert wait_for(lambda: "the previous deployment runs again: it stays until the definition changes"
                        in device.logged(), timeout=60)
        (after,) = containers(running_only=True)
        assert after["image"] == before["image"]
        again = bed.put(compose_text({"web": bed.open_image, "db": bed.open_image}) + healthcheck.format("true"))
        put_definition(bed, 7, DockerComposeFileS3Version=again)  # the next change deploys
        assert device.status()["ComposeFileVersion"] == again
    finally:
        device.stop()
