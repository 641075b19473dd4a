"""A small driver for runtime tests: compose files in S3, definitions, dadc runs, engine state."""
from __future__ import annotations

import json
import os
import queue
import subprocess
import sys
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

PROJECT = "greengrassdockerapplicationdeployment"
ROOT = Path(__file__).resolve().parents[2]
# busybox sleep as PID 1 ignores SIGTERM; the trap makes `down` quick, and TERM cuts the `wait` short
# (a `sleep 1` in the foreground would finish first): $$ is compose's escape for a literal $
SERVICE = """  {name}:
    image: {image}
    command: ["sh", "-c", "trap 'exit 0' TERM; while true; do sleep 1 & wait $$!; done"]
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
        return subprocess.run([sys.executable, "-m", "dadc", *args], capture_output=True, text=True,
                              timeout=timeout, env=env or dict(os.environ), cwd=ROOT)

    def spawn(self, *args: str, **kw: Any) -> subprocess.Popen[str]:
        return subprocess.Popen([sys.executable, "-m", "dadc", *args], stdout=subprocess.PIPE,
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
    """The engine's events caused by one action, with no clock involved: the stream is opened
    before the action and bracketed by two marker events this class makes itself (a volume
    created and removed); everything between the markers is the action's."""

    def __init__(self, timeout: float = 120) -> None:
        self.timeout = timeout
        self.proc: subprocess.Popen[str] | None = None
        self.lines: "queue.Queue[str]" = queue.Queue()

    def start(self) -> "Events":
        self.proc = subprocess.Popen(["docker", "events", "--format", "{{json .}}"], stdout=subprocess.PIPE,
                                     stderr=subprocess.DEVNULL, text=True)
        threading.Thread(target=self._read, daemon=True).start()
        # `docker events` subscribes some time after it starts: until a marker shows up in the
        # stream, it may have missed it, so make another one. The first marker seen proves it live.
        deadline = time.monotonic() + self.timeout
        while self._until_marker(wait=2.0) is None:
            if time.monotonic() > deadline:
                raise TimeoutError("docker events showed none of our markers")
        return self

    def _read(self) -> None:
        assert self.proc is not None and self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.put(line)

    def _until_marker(self, wait: float | None = None) -> list[tuple[str, str, str]] | None:
        """Make a marker event and return the events before it; None if it was not seen within
        `wait` seconds (only while the stream may not be live yet)."""
        name = f"dadc-events-marker-{uuid.uuid4().hex[:12]}"
        subprocess.run(["docker", "volume", "create", name], capture_output=True, check=True, timeout=60)
        subprocess.run(["docker", "volume", "rm", name], capture_output=True, check=True, timeout=60)
        rows: list[tuple[str, str, str]] = []
        deadline = time.monotonic() + (wait if wait is not None else self.timeout)
        while True:
            try:
                line = self.lines.get(timeout=max(0.01, deadline - time.monotonic()))
            except queue.Empty:
                if wait is not None:
                    return None
                raise TimeoutError(f"marker {name} not seen within {self.timeout}s") from None
            event = json.loads(line)
            actor = event.get("Actor", {})
            row = (event.get("Type", ""), event.get("Action", ""),
                   actor.get("Attributes", {}).get("name") or actor.get("ID", ""))
            if row[0] == "volume" and row[1] == "create" and actor.get("ID") == name:
                return rows
            rows.append(row)

    def stop(self) -> list[tuple[str, str, str]]:
        """The events since start(), in the engine's order."""
        try:
            rows = self._until_marker()
            assert rows is not None
            return rows
        finally:
            assert self.proc is not None
            self.proc.kill()
            self.proc.wait(timeout=30)


def first(events: list[tuple[str, str, str]], kind: str, action: str) -> int:
    return next((i for i, e in enumerate(events) if e[0] == kind and e[1] == action), -1)
