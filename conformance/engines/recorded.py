"""The recorded engine: fake docker and compose on PATH, and an in-memory cloud in place of S3,
Secrets Manager and ECR. Fast, and runs anywhere: it needs nothing beyond dadc's own
dependencies (no Docker, no network, no moto)."""
from __future__ import annotations

import json
import os
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

from dadc.conformance.engines import fakes
from dadc.conformance.engines.base import KEY, Engine, patched_environ
from dadc.errors import CredentialsUnreachable, InvalidParameter
from dadc.runtime.seams import process
from dadc.runtime.seams.s3 import Fetched, SourceUnreachable
from dadc.runtime.seams.secrets import Login, parse_secret

SECRET_ARN = "arn:aws:secretsmanager:us-east-1:123456789012:secret:greengrass-conformance-AbCdEf"


class RecordedCloud:
    """S3 (versioned), Secrets Manager and ECR as dicts; `unreachable` is a device offline."""

    def __init__(self) -> None:
        self.objects: dict[tuple[str, str], list[bytes]] = {}
        self.secrets: dict[str, str] = {}
        self.unreachable = False

    def put(self, bucket: str, key: str, raw: bytes) -> str:
        versions = self.objects.setdefault((bucket, key), [])
        versions.append(raw)
        return f"v{len(versions)}"

    def fetch(self, bucket: str, key: str, version: str | None,
              if_none_match: str | None = None) -> Fetched | None:
        if self.unreachable:
            raise SourceUnreachable("S3 is unreachable: EndpointConnectionError (recorded engine offline)")
        versions = self.objects.get((bucket, key))
        if not versions:
            raise InvalidParameter(f"s3://{bucket}/{key}: NoSuchKey")
        index = len(versions) if version is None else int(version.lstrip("v")) if version.lstrip("v").isdigit() else 0
        if not 1 <= index <= len(versions):
            raise InvalidParameter(f"s3://{bucket}/{key} version {version}: NoSuchVersion")
        etag = f'"{index}"'
        if if_none_match == etag:
            return None
        return Fetched(versions[index - 1], f"v{index}", etag)

    def secret_logins(self, arns: list[str]) -> list[Login]:
        if self.unreachable:
            raise CredentialsUnreachable("Secrets Manager is unreachable (recorded engine offline)")
        missing = [a for a in arns if a not in self.secrets]
        if missing:
            raise InvalidParameter(f"{missing[0]}: cannot read the secret: ResourceNotFoundException")
        return [parse_secret(arn, {"SecretString": self.secrets[arn]}) for arn in arns]

    def ecr_logins(self, registries: dict[str, tuple[str, str]]) -> list[Login]:
        if self.unreachable:
            raise CredentialsUnreachable("ECR is unreachable (recorded engine offline)")
        return [Login(host, "AWS", f"{account}-recorded-token", "ECR") for host, (account, _) in registries.items()]


class RecordedEngine(Engine):
    name = "recorded"
    images = {"image": "registry.example:5000/dadc/app:1", "private_image": "registry.example:5000/private/app:1",
              "ecr_image": "123456789012.dkr.ecr.us-east-1.amazonaws.com/dadc/app:1",
              "missing_image": "registry.example:5000/missing/app:1",
              "flaky_image": "registry.example:5002/dadc/app:1",
              "flaky_digest": "registry.example:5002/dadc/app@sha256:" + "d1" * 32,
              "taken_port": "59999"}

    def __init__(self, compose_files: dict[str, Any]) -> None:
        super().__init__(compose_files)
        self._cloud = RecordedCloud()
        self._now = 0.0

    def cloud(self) -> RecordedCloud:
        return self._cloud

    @contextmanager
    def offline(self) -> Iterator[None]:
        """As the docker engine's: the cloud and the flaky registry out of reach (the others answer)."""
        self._cloud.unreachable = True
        try:
            with self.registry_down():
                yield
        finally:
            self._cloud.unreachable = False

    @contextmanager
    def registry_down(self) -> Iterator[None]:
        with patched_environ(DADC_FAKE_OFFLINE=self.images["flaky_image"].split("/")[0]):
            yield

    @contextmanager
    def tools(self, work: Path) -> Iterator[None]:
        """The fake docker and compose answer in-process, behind dadc's process seam: what dadc runs
        and how it runs it are unchanged, only no process is forked for the fake."""
        with process.substituted(fakes.call):
            yield

    def pause(self, seconds: float) -> None:
        """The recorded engine's time is virtual: a pause moves its clock on, and nothing waits."""
        self._now += seconds

    def clock(self) -> float:
        return self._now

    def environment(self, work: Path) -> dict[str, str | None]:
        # the recorded engine never reaches AWS: nothing of the caller's may leak in
        return {"AWS_ENDPOINT_URL": None, "DADC_REAL_DOCKER": None, "DADC_REAL_COMPOSE": None,
                "DADC_FAKE_OFFLINE": None}

    def put_object(self, bucket: str, text: str, key: str = KEY) -> str:
        return self._cloud.put(bucket, key, text.encode())

    def make_secrets(self, registry: str = "private") -> str:
        """wrong: the authenticated registry's user with a password it refuses (conformance/engines/fakes)."""
        host = self.images[f"{'private' if registry == 'wrong' else registry}_image"].split("/")[0]
        arn = SECRET_ARN.replace("conformance", f"conformance-{registry}")
        password = "wrong-password" if registry == "wrong" else "recorded-password"
        self._cloud.secrets[arn] = json.dumps({"username": "user", "password": password, "registryUrl": host})
        return json.dumps([arn])

    def remove_images(self, text: str) -> None:
        """`docker rmi -f` of the file's images, as the docker engine does: an image a container
        still runs from stays, untagged (dangling); any other is gone."""
        for ref in fakes.compose.file_images(text):  # through the fake, unjournaled: not dadc's command
            fakes.state.Fake(os.environ).untag(ref)

    def image_ids(self) -> set[str]:
        return {row[3] for row in fakes.state.Fake(os.environ).services() if row[3]}

    def retag(self, image: str) -> None:
        """New content under the same tag, pushed: the fake registry and the local tag both move."""
        state = os.environ["DADC_FAKE_STATE"]
        new = f"sha256:retagged-{sum(1 for _ in open(state + '.registry')) if os.path.exists(state + '.registry') else 0}"
        with open(state + ".registry", "a") as handle:
            handle.write(f"{image} {new}\n")
        store = Path(state + ".images")
        lines = store.read_text().splitlines() if store.exists() else []
        # the old image stays, untagged (dangling), as it does on a real engine
        kept = [f"<none> {line.split()[1]}" if line.startswith(image + " ") else line for line in lines]
        store.write_text("".join(f"{line}\n" for line in kept + [f"{image} {new}"]))

    def running(self, work: Path, names: dict[str, str]) -> str | None:
        """The file whose containers run (as `docker ps` without -a sees them: not one left created)."""
        state = work / "state"
        lines = state.read_text().splitlines() if state.exists() else []
        digest = lines[0].strip() if lines else ""
        if not any((line.split() + ["", ""])[1] != "unstartable" for line in lines[1:]):
            return None
        return names.get(digest, digest) if digest else None
