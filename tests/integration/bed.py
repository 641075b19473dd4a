"""A small driver for runtime tests: compose files in S3, definitions, dadc runs, engine state."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

PROJECT = "greengrassdockerapplicationdeployment"
ROOT = Path(__file__).resolve().parents[2]
# busybox sleep as PID 1 ignores SIGTERM; the trap makes `down` quick
SERVICE = """  {name}:
    image: {image}
    command: ["sh", "-c", "trap 'exit 0' TERM; while true; do sleep 1; done"]
"""


def compose_text(images: dict[str, str]) -> str:
    return "services:\n" + "".join(SERVICE.format(name=n, image=i) for n, i in images.items())


@dataclass
class Bed:
    env: dict[str, str]
    s3: Any
    bucket: str
    tmp: Path
    key: str = "app/docker-compose.yml"
    dest: Path = field(init=False)

    def __post_init__(self) -> None:
        self.dest = self.tmp / "dest"
        self.dest.mkdir(mode=0o700, exist_ok=True)

    @property
    def open_image(self) -> str:
        return f"{self.env['DADC_OPEN_REGISTRY']}/{self.env['DADC_BASE_IMAGE']}"

    def put(self, text: str | bytes, key: str | None = None) -> str:
        body = text.encode() if isinstance(text, str) else text
        return self.s3.put_object(Bucket=self.bucket, Key=key or self.key, Body=body)["VersionId"]

    def definition(self, version: int, name: str = "def.json", **params: str) -> Path:
        base = {"DockerComposeFileS3Bucket": self.bucket, "DockerComposeFileS3Key": self.key,
                "DockerComposeFileDestinationPath": str(self.dest)}
        base.update(params)
        path = self.tmp / name
        path.write_text(json.dumps({"Connectors": [{
            "Id": "app", "ConnectorArn": f"arn:aws:greengrass:us-east-1::/connectors/DockerApplicationDeployment/versions/{version}",
            "Parameters": base}]}, indent=2))
        return path

    def dadc(self, *args: str, timeout: float = 300, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "connector", *args], capture_output=True, text=True,
                              timeout=timeout, env=env or dict(os.environ), cwd=ROOT)

    def spawn(self, *args: str, **kw: Any) -> subprocess.Popen[str]:
        return subprocess.Popen([sys.executable, "-m", "connector", *args], stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True, cwd=ROOT, **kw)


def statuses(stdout: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stdout.splitlines() if line.startswith("{")]


def containers(running_only: bool = False) -> list[dict[str, str]]:
    """The project's containers: name, id, image id, state."""
    argv = ["docker", "ps", "--filter", f"label=com.docker.compose.project={PROJECT}", "-q"]
    if not running_only:
        argv.insert(2, "-a")
    ids = subprocess.run(argv, capture_output=True, text=True, check=True).stdout.split()
    if not ids:
        return []
    out = subprocess.run(["docker", "inspect", "--format",
                          "{{.Name}} {{.Id}} {{.Image}} {{.State.Status}}", *ids],
                         capture_output=True, text=True, check=True).stdout
    rows = [dict(zip(("name", "id", "image", "state"), line.split())) for line in out.splitlines()]
    for r in rows:
        r["name"] = r["name"].lstrip("/")
    return sorted(rows, key=lambda r: r["name"])


def remove_project() -> None:
    ids = subprocess.run(["docker", "ps", "-aq", "--filter", f"label=com.docker.compose.project={PROJECT}"],
                         capture_output=True, text=True).stdout.split()
    if ids:
        subprocess.run(["docker", "rm", "-f", *ids], capture_output=True)
    nets = subprocess.run(["docker", "network", "ls", "-q", "--filter", f"label=com.docker.compose.project={PROJECT}"],
                          capture_output=True, text=True).stdout.split()
    if nets:
        subprocess.run(["docker", "network", "rm", *nets], capture_output=True)


class Events:
    """docker events between start() and stop(): the order in which the engine saw things happen."""

    def start(self) -> "Events":
        self.since = f"{time.time() - 0.5:.3f}"
        return self

    def stop(self) -> list[tuple[str, str, str]]:
        until = f"{time.time() + 0.5:.3f}"
        time.sleep(0.6)
        out = subprocess.run(["docker", "events", "--since", self.since, "--until", until, "--format",
                              "{{.Type}} {{.Action}} {{.Actor.ID}} {{index .Actor.Attributes \"name\"}}"],
                             capture_output=True, text=True, timeout=60).stdout
        rows = []
        for line in out.splitlines():
            parts = line.split(" ", 3)
            if len(parts) == 4:
                rows.append((parts[0], parts[1], parts[3] or parts[2]))
        return rows


def first(events: list[tuple[str, str, str]], kind: str, action: str) -> int:
    return next((i for i, e in enumerate(events) if e[0] == kind and e[1] == action), -1)
