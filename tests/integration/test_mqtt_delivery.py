"""Status messages that always arrive: `dadc run` and `dadc deploy` against real mosquitto brokers."""
from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path
from typing import Any


from tests.integration.bed import Bed, compose_text, containers
from tests.integration.faults import Broker, PersistentSubscriber, Throttle, free_port, wait_for
from tests.integration.test_faults import lines_of

TOPIC = "dockerapplicationdeploymentconnector/message/status"


class Output:
    """A process's stderr, collected as it comes."""

    def __init__(self, proc: subprocess.Popen[str]) -> None:
        self.queue = lines_of(proc.stderr)
        self.text = ""

    def read(self) -> str:
        while not self.queue.empty():
            self.text += self.queue.get()
        return self.text

    def shows(self, needle: str, timeout: float = 120) -> bool:
        return wait_for(lambda: needle in self.read(), timeout=timeout, interval=0.05)


def script(tmp: Path, name: str, body: str) -> str:
    """A compose command that does `body` for `up` and hands everything else to the real CLI."""
    path = tmp / name
    path.write_text(f"#!/bin/sh\ncase \" $* \" in *\" up \"*) {body};; esac\nexec docker compose \"$@\"\n")
    path.chmod(0o755)
    return str(path)


def stop(proc: subprocess.Popen[str]) -> None:
    proc.terminate()
    proc.wait(timeout=120)


def test_broker_restarted_while_dadc_is_idle_before_its_first_message(bed: Bed, tmp_path: Path) -> None:
    """The case that lost every message: connected, idle, the broker restarts, then the first publish."""
    broker = Broker(free_port(), tmp_path / "broker")
    (tmp_path / "broker").mkdir()
    broker.start()
    gate = tmp_path / "gate"
    compose_cmd = script(tmp_path, "gated", f"touch {tmp_path}/in-up; while [ ! -f {gate} ]; do sleep 0.05; done")
    bed.put(compose_text({"web": bed.open_image}))
    run = bed.spawn("run", "--definition", str(bed.definition(6)), "--mqtt", f"mqtt://127.0.0.1:{broker.port}",
                    "--compose-command", compose_cmd)
    out = Output(run)
    try:
        assert out.shows("MQTT connected to")
        assert wait_for(lambda: (tmp_path / "in-up").exists(), timeout=120)  # connected, nothing sent yet
        broker.stop()
        broker.start()
        subscriber = PersistentSubscriber(broker.port, TOPIC)
        gate.touch()
        status = subscriber.get(timeout=120)
        assert status["status"] == "success" and status["S3Bucket"] == bed.bucket
        subscriber.close()
        connects = len(re.findall(r"New client connected .* as dadc-", broker.log_text()))
        assert 2 <= connects <= 5, broker.log_text()[-3000:]  # reconnected, not hammering
    finally:
        stop(run)
        broker.stop()
    assert run.returncode == 0


def test_broker_down_at_start(bed: Bed, tmp_path: Path) -> None:
    folder = tmp_path / "broker"
    folder.mkdir()
    broker = Broker(free_port(), folder)
    broker.start()
    PersistentSubscriber(broker.port, TOPIC).close()  # its session (and subscription) persists
    broker.stop()
    bed.put(compose_text({"web": bed.open_image}))
    run = bed.spawn("run", "--definition", str(bed.definition(5)), "--mqtt", f"mqtt://127.0.0.1:{broker.port}")
    out = Output(run)
    try:
        assert out.shows("unreachable") and out.shows("deployment succeeded")  # queued while the broker is down
        assert len(containers(running_only=True)) == 1
        broker.start()
        subscriber = PersistentSubscriber(broker.port, TOPIC)
        assert subscriber.get(timeout=120)["status"] == "success"
        subscriber.close()
    finally:
        stop(run)
        broker.stop()


def test_broker_restarted_mid_stream_loses_nothing_and_keeps_order(bed: Bed, tmp_path: Path) -> None:
    """A stream of fail messages (each start fails, --retry retries at once), a broker restart in
    the middle: every attempt's message arrives, in order."""
    folder = tmp_path / "broker"
    folder.mkdir()
    broker = Broker(free_port(), folder)
    broker.start()
    subscriber = PersistentSubscriber(broker.port, TOPIC)
    counter = tmp_path / "counter"
    failing = script(tmp_path, "failing", f"n=$(cat {counter} 2>/dev/null || echo 0); n=$((n+1)); echo $n >{counter}; "
                                          "echo attempt-$n >&2; exit 1")
    bed.put(compose_text({"web": bed.open_image}))
    run = bed.spawn("run", "--definition", str(bed.definition(6)), "--mqtt", f"mqtt://127.0.0.1:{broker.port}",
                    "--compose-command", failing, "--retry", "--retry-base", "0.05", "--retry-cap", "0.1")
    Output(run)
    seen: list[int] = []

    def attempts(until: int) -> None:
        while not seen or seen[-1] < until:
            message = subscriber.get(timeout=120)
            seen.append(int(re.search(r"attempt-(\d+)", message["error_message"])[1]))
    try:
        attempts(until=4)
        broker.stop()
        assert wait_for(lambda: int(counter.read_text()) >= seen[-1] + 2, timeout=120)  # published while away
        broker.start()
        attempts(until=int(counter.read_text()) + 2)
    finally:
        stop(run)
        subscriber.close()
        broker.stop()
    distinct = [n for i, n in enumerate(seen) if i == 0 or n != seen[i - 1]]  # QoS 1 may repeat one
    assert distinct == list(range(1, distinct[-1] + 1)), seen


def test_a_1_mb_message_on_a_slow_link_arrives_and_does_not_block_the_next(bed: Bed, tmp_path: Path) -> None:
    broker = Broker(free_port())
    broker.start()
    slow = Throttle(broker.port, bytes_per_second=80_000)  # 1 MB takes about 13 s
    subscriber = PersistentSubscriber(broker.port, TOPIC)
    counter = tmp_path / "counter"
    big = script(tmp_path, "big", f"n=$(cat {counter} 2>/dev/null || echo 0); n=$((n+1)); echo $n >{counter}; "
                                  "if [ $n = 1 ]; then head -c 1000000 /dev/zero | tr '\\0' x >&2; echo >&2; "
                                  "elif [ $n = 2 ]; then echo small-message >&2; else exec docker compose \"$@\"; fi; exit 1")
    bed.put(compose_text({"web": bed.open_image}))
    run = bed.spawn("run", "--definition", str(bed.definition(6)), "--mqtt", f"mqtt://127.0.0.1:{slow.port}",
                    "--compose-command", big, "--retry", "--retry-base", "0.05", "--retry-cap", "0.1")
    Output(run)
    try:
        first, second, third = (subscriber.get(timeout=180) for _ in range(3))
    finally:
        stop(run)
        subscriber.close()
        slow.close()
        broker.stop()
    assert first["status"] == "fail" and len(first["error_message"]) >= 1_000_000
    assert second["status"] == "fail" and "small-message" in second["error_message"]
    assert third["status"] == "success"


def deploy(bed: Bed, *mqtt: str) -> subprocess.CompletedProcess[str]:
    bed.put(compose_text({"web": bed.open_image}))
    return bed.dadc("deploy", "--definition", str(bed.definition(6)), *mqtt)


def received_from(subscriber: Any, bucket: str) -> list[dict[str, Any]]:
    """What the shared broker's subscriber saw for this test's bucket, up to a marker published
    after dadc has exited: anything dadc delivered arrived before it."""
    import paho.mqtt.publish as publish
    publish.single(TOPIC, json.dumps({"marker": bucket}), qos=1, hostname="127.0.0.1", port=1883)
    found = []
    while True:
        _, payload, _ = subscriber.get(timeout=60)
        if payload == {"marker": bucket}:
            return found
        if isinstance(payload, dict) and payload.get("S3Bucket") == bucket:
            found.append(payload)


def test_mutual_tls_with_dadcs_own_client(bed: Bed, mqtt_subscriber: Any) -> None:
    e = bed.env
    proc = deploy(bed, "--mqtt", e["DADC_MQTTS"], "--mqtt-ca", e["DADC_MQTT_CA"], "--mqtt-cert", e["DADC_MQTT_CERT"],
                  "--mqtt-key", e["DADC_MQTT_KEY"])
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert [m["status"] for m in received_from(mqtt_subscriber, bed.bucket)] == ["success"]


def test_a_server_certificate_for_another_host_is_refused(bed: Bed, mqtt_subscriber: Any) -> None:
    e = bed.env
    proc = deploy(bed, "--mqtt", e["DADC_MQTTS_WRONG_HOST"], "--mqtt-ca", e["DADC_MQTT_CA"])
    assert "certificate verify failed" in proc.stderr and "not delivered" in proc.stderr
    assert received_from(mqtt_subscriber, bed.bucket) == []


def test_a_client_certificate_from_another_ca_is_refused(bed: Bed, mqtt_subscriber: Any) -> None:
    e = bed.env
    proc = deploy(bed, "--mqtt", e["DADC_MQTTS"], "--mqtt-ca", e["DADC_MQTT_CA"], "--mqtt-cert",
                  e["DADC_MQTT_OTHER_CERT"], "--mqtt-key", e["DADC_MQTT_OTHER_KEY"])
    assert "not delivered" in proc.stderr
    assert received_from(mqtt_subscriber, bed.bucket) == []


def test_username_and_password_accepted_and_refused(bed: Bed, mqtt_subscriber: Any, tmp_path: Path) -> None:
    e = bed.env
    good, bad = tmp_path / "good", tmp_path / "bad"
    good.write_text(e["DADC_MQTT_PASSWORD"] + "\n")
    bad.write_text("wrong-password-4711\n")
    base = ["--mqtt", e["DADC_MQTTS_PASSWORD_URL"], "--mqtt-ca", e["DADC_MQTT_CA"], "--mqtt-username", e["DADC_MQTT_USER"]]
    proc = deploy(bed, *base, "--mqtt-password-file", str(good))
    assert proc.returncode == 0 and e["DADC_MQTT_PASSWORD"] not in proc.stdout + proc.stderr
    assert [m["status"] for m in received_from(mqtt_subscriber, bed.bucket)] == ["success"]
    proc = deploy(bed, *base, "--mqtt-password-file", str(bad))
    assert "refused the connection" in proc.stderr and "not delivered" in proc.stderr
    assert "wrong-password-4711" not in proc.stdout + proc.stderr
    assert received_from(mqtt_subscriber, bed.bucket) == []
    env = dict(os.environ, DADC_MQTT_PASSWORD=e["DADC_MQTT_PASSWORD"])  # or from the environment
    bed.put(compose_text({"web": bed.open_image}))
    proc = bed.dadc("deploy", "--definition", str(bed.definition(6)), *base, env=env)
    assert proc.returncode == 0 and [m["status"] for m in received_from(mqtt_subscriber, bed.bucket)] == ["success"]


def test_two_dadc_processes_on_one_host_keep_their_own_sessions(bed: Bed, tmp_path: Path) -> None:
    folder = tmp_path / "broker"
    folder.mkdir()
    broker = Broker(free_port(), folder)
    broker.start()
    subscriber = PersistentSubscriber(broker.port, TOPIC)
    runs = []
    try:
        for name in ("a", "b"):  # their starts fail at once (no such key): no containers involved
            dest = tmp_path / f"dest-{name}"
            dest.mkdir(mode=0o700)
            definition = bed.definition(6, name=f"{name}.json", DockerComposeFileDestinationPath=str(dest),
                                        DockerComposeFileS3Key=f"missing-{name}.yml")
            runs.append(bed.spawn("run", "--definition", str(definition), "--mqtt", f"mqtt://127.0.0.1:{broker.port}"))
            Output(runs[-1])
        # one engine, one compose project: one of them owns it (its start fails at once: no such key),
        # the other is refused, naming the first; each said so over its own session
        got = sorted(subscriber.get(timeout=120)["error_message"] for _ in runs)
        assert any(f"//{bed.bucket}/missing-" in m for m in got), got
        assert any("owns compose project greengrassdockerapplicationdeployment" in m for m in got), got
        log = broker.log_text()
        ids = set(re.findall(r"New client connected .* as (dadc-\S+)", log))
        assert len(ids) == 2, log[-3000:]
        assert "already connected" not in log and "closing old connection" not in log
    finally:
        for run in runs:
            stop(run)
        subscriber.close()
        broker.stop()
