"""Integration fixtures on the real test bed: bucket, secret, image, MQTT subscriber, cleanup."""
from __future__ import annotations

import json
import os
import queue
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from tests.integration.bed import Bed

PROJECT_LABEL = "com.docker.compose.project"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "/integration/" in str(item.fspath):
            item.add_marker(pytest.mark.integration)


@pytest.fixture(autouse=True)
def _needs_testbed(testbed_env: dict[str, str]) -> None:
    """Every integration test needs the bed: under CI=true a missing service fails the test."""


def docker(*args: str, env: dict[str, str] | None = None, check: bool = True,
           input: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["docker", *args], capture_output=True, text=True, check=check,
                          env=env, input=input, timeout=300)


@pytest.fixture
def unique() -> str:
    return uuid.uuid4().hex[:10]


@pytest.fixture
def aws_clients(testbed_env: dict[str, str]) -> dict[str, Any]:
    import boto3
    return {name: boto3.client(name, region_name="us-east-1") for name in ("s3", "secretsmanager")}


@pytest.fixture
def bucket(aws_clients: dict[str, Any], unique: str) -> Iterator[str]:
    """A clean, versioned bucket, emptied and removed afterwards."""
    s3 = aws_clients["s3"]
    name = f"dadc-test-{unique}"
    s3.create_bucket(Bucket=name)
    s3.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Enabled"})
    yield name
    for v in s3.list_object_versions(Bucket=name).get("Versions", []):
        s3.delete_object(Bucket=name, Key=v["Key"], VersionId=v["VersionId"])
    s3.delete_bucket(Bucket=name)


@pytest.fixture
def registry_secret(aws_clients: dict[str, Any], testbed_env: dict[str, str], unique: str) -> Iterator[str]:
    """A Secrets Manager secret with the authenticated registry's credentials; yields its ARN."""
    sm = aws_clients["secretsmanager"]
    arn = sm.create_secret(Name=f"greengrass-registry-{unique}", SecretString=json.dumps({
        "username": testbed_env["DADC_REGISTRY_USER"], "password": testbed_env["DADC_REGISTRY_PASSWORD"],
        "registryUrl": testbed_env["DADC_REGISTRY"]}))["ARN"]
    yield arn
    sm.delete_secret(SecretId=arn, ForceDeleteWithoutRecovery=True)


@pytest.fixture
def bed(testbed_env: dict[str, str], aws_clients: dict[str, Any], bucket: str, tmp_path: Path) -> Iterator["Bed"]:
    """The runtime driver, with the project's containers removed before and after."""
    from tests.integration.bed import Bed, remove_project  # noqa: F811
    remove_project()
    yield Bed(testbed_env, aws_clients["s3"], bucket, tmp_path)
    remove_project()


@pytest.fixture
def docker_config(tmp_path: Path) -> dict[str, str]:
    """An environment whose docker CLI has its own, empty credential store."""
    config = tmp_path / "docker-config"
    config.mkdir(mode=0o700)
    return dict(os.environ, DOCKER_CONFIG=str(config))


@pytest.fixture
def pushed_image(testbed_env: dict[str, str], docker_config: dict[str, str], unique: str) -> str:
    """An image pushed to the authenticated registry under a fresh tag (then logged out)."""
    reg = testbed_env["DADC_REGISTRY"]
    ref = f"{reg}/dadc/app:{unique}"
    docker("login", "-u", testbed_env["DADC_REGISTRY_USER"], "--password-stdin", reg,
           input=testbed_env["DADC_REGISTRY_PASSWORD"], env=docker_config)
    docker("tag", testbed_env["DADC_BASE_IMAGE"], ref)
    docker("push", ref, env=docker_config)
    docker("rmi", ref)
    docker("logout", reg, env=docker_config)
    return ref


class Subscriber:
    """Collects every message on a topic filter from the real broker."""

    def __init__(self, url: str, topic: str, tls: dict[str, str] | None = None) -> None:
        import paho.mqtt.client as mqtt
        from urllib.parse import urlparse
        self.messages: "queue.Queue[tuple[str, dict[str, Any] | str, int]]" = queue.Queue()
        parsed = urlparse(url)
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"sub-{uuid.uuid4().hex[:8]}")
        if tls:
            self.client.tls_set(ca_certs=tls["ca"], certfile=tls["cert"], keyfile=tls["key"])
        subscribed = queue.Queue()  # type: ignore[var-annotated]
        self.client.on_message = self._on_message
        self.client.on_subscribe = lambda *a: subscribed.put(True)
        self.client.connect(parsed.hostname, parsed.port)
        self.client.subscribe(topic, qos=1)
        self.client.loop_start()
        subscribed.get(timeout=10)

    def _on_message(self, client: Any, userdata: Any, msg: Any) -> None:
        try:
            payload: dict[str, Any] | str = json.loads(msg.payload)
        except ValueError:
            payload = msg.payload.decode(errors="replace")
        self.messages.put((msg.topic, payload, msg.qos))

    def get(self, timeout: float = 20) -> tuple[str, Any, int]:
        return self.messages.get(timeout=timeout)

    def close(self) -> None:
        self.client.disconnect()  # first: loop_stop alone waits out paho's 1 s select
        self.client.loop_stop()


@pytest.fixture
def mqtt_subscriber(testbed_env: dict[str, str]) -> Iterator[Subscriber]:
    sub = Subscriber(testbed_env["DADC_MQTT"], "#")
    yield sub
    sub.close()


@pytest.fixture
def docker_cleanup() -> Iterator[list[str]]:
    """Append compose project names; their containers and networks are removed afterwards."""
    projects: list[str] = []
    yield projects
    for project in projects:
        ids = docker("ps", "-aq", "--filter", f"label={PROJECT_LABEL}={project}").stdout.split()
        if ids:
            docker("rm", "-f", *ids, check=False)
        nets = docker("network", "ls", "-q", "--filter", f"label={PROJECT_LABEL}={project}").stdout.split()
        if nets:
            docker("network", "rm", *nets, check=False)


def compose_commands(env: dict[str, str]) -> dict[str, list[str]]:
    """Every compose CLI flavour the bed provides."""
    return {"v1": [env["DADC_COMPOSE_V1"]], "v2": [env["DADC_COMPOSE_V2"]], "plugin": ["docker", "compose"]}
