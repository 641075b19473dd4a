"""The recorded engine: fake docker and compose on PATH, S3 and Secrets Manager mocked in-process.
Fast, and runs anywhere (no Docker, no network); needs moto (`pip install dadc[test]`)."""
from __future__ import annotations

import json
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

from conformance.engines.base import Engine, Skip


class RecordedEngine(Engine):
    name = "recorded"
    images = {"image": "registry.example:5000/dadc/app:1", "private_image": "registry.example:5000/private/app:1",
              "ecr_image": "123456789012.dkr.ecr.us-east-1.amazonaws.com/dadc/app:1",
              "missing_image": "registry.example:5000/missing/app:1"}

    def __init__(self, compose_files: dict[str, Any]) -> None:
        super().__init__(compose_files)
        try:
            import moto  # noqa: F401  (only to know it is there)
        except ImportError:
            raise Skip("the recorded engine needs moto: pip install 'moto[server]'") from None

    @contextmanager
    def run_session(self) -> Iterator[None]:
        """One mocked AWS for the whole run: setting it up per case would dominate the run time."""
        from moto import mock_aws

        from conformance.engines.base import patched_environ
        with patched_environ(**self.environment(Path("."))), mock_aws():
            import boto3
            self.s3 = boto3.client("s3", region_name="us-east-1")
            self.s3.create_bucket(Bucket="dadc-conformance")
            self.secrets = boto3.client("secretsmanager", region_name="us-east-1")
            self._secret_list: str | None = None
            yield

    def environment(self, work: Path) -> dict[str, str | None]:
        # in-process mocks: no endpoint override, fake credentials
        return {"AWS_ENDPOINT_URL": None, "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                "AWS_SESSION_TOKEN": None, "AWS_PROFILE": None, "DADC_REAL_DOCKER": None, "DADC_REAL_COMPOSE": None}

    def put_object(self, bucket: str, text: str) -> str:
        from conformance.engines.base import KEY
        return self.s3.put_object(Bucket=bucket, Key=KEY, Body=text.encode()).get("VersionId", "")

    def make_secrets(self) -> str:
        if self._secret_list:
            return self._secret_list
        arn = self.secrets.create_secret(Name="greengrass-conformance", SecretString=json.dumps(
            {"username": "user", "password": "recorded-password", "registryUrl": "registry.example:5000"}))["ARN"]
        self._secret_list = json.dumps([arn])
        return self._secret_list

    def running(self, work: Path, names: dict[str, str]) -> str | None:
        state = work / "state"
        digest = state.read_text().split("\n")[0].strip() if state.exists() else ""
        return names.get(digest, digest) if digest else None
