"""The docker engine: the real engine, compose, registries and AWS endpoint of the test bed.
The same recording executables sit in front of the real docker and compose."""
from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

from dadc.conformance.engines.base import KEY, Engine, EngineError, Skip, patched_environ
from dadc.runtime.seams import compose

PROJECT_FILTER = f"label={compose.PROJECT_LABEL}={compose.project_name()}"  # versions/parameters.json
NEEDED = ("AWS_ENDPOINT_URL", "DADC_OPEN_REGISTRY", "DADC_REGISTRY", "DADC_REGISTRY_USER",
          "DADC_REGISTRY_PASSWORD", "DADC_ECR_HOST", "DADC_BASE_IMAGE", "DADC_MQTT")


def testbed_environment() -> dict[str, str]:
    """The bed's env file, under os.environ (which wins)."""
    path = Path(os.environ.get("DADC_TESTBED_DIR", "/var/lib/dadc-testbed")) / "env"
    values = {}
    if path.is_file():
        for line in path.read_text().splitlines():
            if line.startswith("export ") and "=" in line:
                key, _, value = line[7:].partition("=")
                values[key] = value
    values.update({k: v for k, v in os.environ.items() if k in NEEDED or k.startswith("AWS_")})
    return values


class BrokerSink:
    """dadc's own MQTT sink to the test bed's broker, and what an independent subscriber
    (paho) received there: the docker engine checks messages on the real broker."""

    def __init__(self, url: str) -> None:
        import queue
        from urllib.parse import urlparse

        import paho.mqtt.client as mqtt

        from dadc.runtime.seams.mqtt import MqttSettings, MqttSink
        from dadc.runtime.status import topic
        self.received: list[dict[str, Any]] = []
        self.published = 0
        ready: "queue.Queue[bool]" = queue.Queue()
        parsed = urlparse(url)
        self.subscriber = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"conf-{uuid.uuid4().hex[:8]}")
        self.subscriber.on_message = lambda c, u, m: self.received.append(json.loads(m.payload))
        self.subscriber.on_subscribe = lambda *a: ready.put(True)
        self.subscriber.connect(parsed.hostname, parsed.port)
        self.subscriber.subscribe(topic(), qos=1)
        self.subscriber.loop_start()
        ready.get(timeout=10)
        self.sink = MqttSink(MqttSettings.from_url(url, client_id=f"dadc-conf-{uuid.uuid4().hex[:8]}", topic=topic()))

    def publish(self, payload: dict[str, Any]) -> None:
        self.published += 1
        self.sink.publish(payload)

    def close(self, timeout: float = 5.0) -> None:
        pass

    @property
    def messages(self) -> list[dict[str, Any]]:
        import time
        self.sink.close(timeout=10)
        deadline = time.monotonic() + 10
        while len(self.received) < self.published and time.monotonic() < deadline:
            time.sleep(0.02)
        self.subscriber.disconnect()  # first: loop_stop alone waits out paho's 1 s select
        self.subscriber.loop_stop()
        return list(self.received)


class FlakyRegistry:
    """docker-registry on a free loopback port, serving the base image; stop() and start() at will
    (its storage stays)."""

    def __init__(self, docker: str, base: str) -> None:
        self.docker, self.root = docker, Path(tempfile.mkdtemp(prefix="dadc-flaky-registry-"))
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        (self.root / "config.yml").write_text(
            f"version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n    rootdirectory: {self.root}/data\n"
            f"http:\n  addr: 127.0.0.1:{self.port}\n")
        self.image = f"127.0.0.1:{self.port}/{base}"
        self.proc: subprocess.Popen[bytes] | None = None
        self.start()
        for argv in (["tag", base, self.image], ["push", self.image]):
            done = subprocess.run([docker, *argv], capture_output=True, text=True, timeout=300)
            if done.returncode:
                raise EngineError(f"docker {' '.join(argv)}: {done.stderr.strip()}")

    def start(self) -> None:
        registry = compose.find_executable("docker-registry")
        if not registry:
            raise EngineError("the docker engine needs docker-registry (scripts/testbed installs it)")
        self.proc = subprocess.Popen([registry, "serve", str(self.root / "config.yml")], stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", self.port)) == 0:
                    return
            if self.proc.poll() is not None:
                break
            time.sleep(0.05)
        raise EngineError(f"docker-registry did not listen on {self.port}")

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=30)
        self.proc = None


class DockerEngine(Engine):
    name = "docker"

    def __init__(self, compose_files: dict[str, Any], compose_command: str | None = None) -> None:
        super().__init__(compose_files)
        self.bed = testbed_environment()
        missing = [k for k in NEEDED if k not in self.bed]
        if missing:
            raise Skip(f"the docker engine needs the test bed (scripts/testbed): {', '.join(missing)} unset")
        try:
            import paho.mqtt.client  # noqa: F401  (the independent subscriber)
        except ImportError:
            raise Skip("the docker engine reads status messages back with paho-mqtt: pip install 'dadc[test]'") from None
        self.docker = compose.find_executable("docker")
        if not self.docker or subprocess.run([self.docker, "info"], capture_output=True).returncode:
            raise EngineError("the docker engine needs a running Docker daemon")
        real = compose_command or self.bed.get("DADC_COMPOSE_V2") or compose.find_executable("docker-compose")
        self.real_compose = real or f"{self.docker} compose"
        try:
            self.cli_generation = compose.detect(self.real_compose).generation
        except Exception as exc:
            raise EngineError(f"compose CLI {self.real_compose!r}: {exc}") from None
        base = self.bed["DADC_BASE_IMAGE"]
        self.images = {"image": f"{self.bed['DADC_OPEN_REGISTRY']}/{base}",
                       "private_image": f"{self.bed['DADC_REGISTRY']}/{base}",
                       "ecr_image": f"{self.bed['DADC_ECR_HOST']}/{base}",
                       "missing_image": f"{self.bed['DADC_OPEN_REGISTRY']}/missing/app:1"}
        import boto3
        session = boto3.session.Session(aws_access_key_id=self.bed.get("AWS_ACCESS_KEY_ID"),
                                        aws_secret_access_key=self.bed.get("AWS_SECRET_ACCESS_KEY"),
                                        region_name="us-east-1")
        self.s3 = session.client("s3", endpoint_url=self.bed["AWS_ENDPOINT_URL"])
        self.secrets = session.client("secretsmanager", endpoint_url=self.bed["AWS_ENDPOINT_URL"])
        try:
            self.s3.create_bucket(Bucket="dadc-conformance")
        except self.s3.exceptions.BucketAlreadyOwnedByYou:
            pass
        self.s3.put_bucket_versioning(Bucket="dadc-conformance", VersioningConfiguration={"Status": "Enabled"})

    def make_sink(self) -> BrokerSink:
        return BrokerSink(self.bed["DADC_MQTT"])

    @contextmanager
    def run_session(self) -> Iterator[None]:
        """A registry of the engine's own, which an offline step can take away: the flaky image."""
        self.flaky = FlakyRegistry(self.docker, self.bed["DADC_BASE_IMAGE"])
        taken = socket.socket()  # a host port in use for the session: a container publishing it never starts
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        try:
            self.images = {**self.images, "taken_port": str(taken.getsockname()[1])}
            digest = subprocess.run([self.docker, "image", "inspect", "--format", "{{json .RepoDigests}}", self.flaky.image],
                                    capture_output=True, text=True).stdout
            pinned = next((d for d in json.loads(digest or "[]") if d.startswith(self.flaky.image.rsplit(":", 1)[0] + "@")),
                          None)
            if pinned is None:
                raise EngineError(f"no repo digest for {self.flaky.image} after its push")
            self.images = {**self.images, "flaky_image": self.flaky.image, "flaky_digest": pinned}
            yield
        finally:
            taken.close()
            self.flaky.stop()
            shutil.rmtree(self.flaky.root, ignore_errors=True)

    @contextmanager
    def offline(self) -> Iterator[None]:
        """S3, Secrets Manager and ECR at an address where nothing listens; the flaky registry down.
        One attempt per AWS call: botocore's backoff between refused connections is seconds of
        waiting that changes nothing dadc does (AWS_MAX_ATTEMPTS, which dadc honours)."""
        self.flaky.stop()
        try:
            with patched_environ(AWS_ENDPOINT_URL="http://127.0.0.1:9", AWS_MAX_ATTEMPTS="1"):
                yield
        finally:
            self.flaky.start()

    @contextmanager
    def registry_down(self) -> Iterator[None]:
        self.flaky.stop()
        try:
            yield
        finally:
            self.flaky.start()

    def image_ids(self) -> set[str]:
        ids = subprocess.run([self.docker, "ps", "-q", "--filter", PROJECT_FILTER], capture_output=True,
                             text=True).stdout.split()
        if not ids:
            return set()
        out = subprocess.run([self.docker, "inspect", "--format", "{{.Image}}", *ids], capture_output=True,
                             text=True).stdout
        return set(out.split())

    def retag(self, image: str) -> None:
        """Build new content under the same tag (a label makes it differ) and push it."""
        dockerfile = f"FROM {self.bed['DADC_BASE_IMAGE']}\nLABEL dadc.retag={uuid.uuid4().hex}\n"
        for argv, stdin in ((["build", "-q", "-t", image, "-"], dockerfile), (["push", image], None)):
            done = subprocess.run([self.docker, *argv], input=stdin, capture_output=True, text=True, timeout=300)
            if done.returncode:
                raise EngineError(f"docker {' '.join(argv)}: {done.stderr.strip()}")

    def remove_images(self, text: str) -> None:
        for line in text.splitlines():
            if line.strip().startswith("image:"):
                subprocess.run([self.docker, "rmi", "-f", line.split(":", 1)[1].strip()], capture_output=True)

    def environment(self, work: Path) -> dict[str, str | None]:
        env: dict[str, str | None] = {k: v for k, v in self.bed.items() if k.startswith("AWS_")}
        env.update(DADC_REAL_DOCKER=self.docker, DADC_REAL_COMPOSE=self.real_compose)
        return env

    def reset(self) -> None:
        for kind in ("container", "network"):
            flag = ["-aq"] if kind == "container" else ["-q"]
            cmd = [self.docker, "ps", *flag] if kind == "container" else [self.docker, "network", "ls", *flag]
            ids = subprocess.run([*cmd, "--filter", PROJECT_FILTER], capture_output=True, text=True).stdout.split()
            if ids:
                rm = [self.docker, "rm", "-f"] if kind == "container" else [self.docker, "network", "rm"]
                subprocess.run([*rm, *ids], capture_output=True)

    def put_object(self, bucket: str, text: str, key: str = KEY) -> str:
        return self.s3.put_object(Bucket=bucket, Key=key, Body=text.encode()).get("VersionId", "")

    def make_secrets(self, registry: str = "private") -> str:
        """The authenticated registry's credentials (wrong: its user with a password it refuses);
        for the flaky one (no auth), any login works."""
        url = self.flaky.image.split("/")[0] if registry == "flaky" else self.bed["DADC_REGISTRY"]
        password = "wrong-password" if registry == "wrong" else self.bed["DADC_REGISTRY_PASSWORD"]
        arn = self.secrets.create_secret(Name=f"greengrass-conformance-{uuid.uuid4().hex[:8]}", SecretString=json.dumps(
            {"username": self.bed["DADC_REGISTRY_USER"], "password": password, "registryUrl": url}))["ARN"]
        return json.dumps([arn])

    def running(self, work: Path, names: dict[str, str]) -> str | None:
        out = subprocess.run([self.docker, "ps", "--filter", PROJECT_FILTER, "--format", '{{.Label "dadc.variant"}}'],
                             capture_output=True, text=True).stdout.split()
        found = sorted(set(out))
        result = "+".join(found) if found else None
        self.reset()
        return result
