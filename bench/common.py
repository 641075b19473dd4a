"""Shared by the runtime benchmarks: the test bed's environment, a bucket, a definition, /proc readings."""
from __future__ import annotations

import json
import os
import sys
import tempfile
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent  # benchmarks run this tree's dadc, not an installed one
sys.path.insert(0, str(ROOT))  # and this tree's harness (the fleet's fake docker and compose)

# a service that stops as soon as it is told (TERM interrupts `wait`, not a `sleep`): the time a
# `down` takes is then the engine's, not where a one-second sleep happened to be
SERVICE = """  {name}:
    image: {image}
    command: ["sh", "-c", "trap 'exit 0' TERM; while true; do sleep 1 & wait $$!; done"]
"""


def load_testbed() -> dict[str, str]:
    path = Path(os.environ.get("DADC_TESTBED_DIR", "/var/lib/dadc-testbed")) / "env"
    if not path.is_file():
        raise SystemExit("start the test bed first: sudo bash scripts/testbed")
    for line in path.read_text().splitlines():
        if line.startswith("export "):
            key, _, value = line[7:].partition("=")
            os.environ[key] = value
    return dict(os.environ)


def compose_text(services: int, image: str) -> str:
    return "services:\n" + "".join(SERVICE.format(name=f"s{i}", image=image) for i in range(services))


def setup_definition(services: int, version: int = 6, frequency: str = "300") -> tuple[Path, Path, str]:
    """Upload a compose file with that many services; return (definition, destination, compose text)."""
    import boto3
    env = load_testbed()
    image = f"{env['DADC_OPEN_REGISTRY']}/{env['DADC_BASE_IMAGE']}"
    text = compose_text(services, image)
    bucket = f"dadc-bench-{uuid.uuid4().hex[:8]}"
    s3 = boto3.client("s3", region_name="us-east-1")
    s3.create_bucket(Bucket=bucket)
    s3.put_object(Bucket=bucket, Key="compose.yml", Body=text.encode())
    work = Path(tempfile.mkdtemp(prefix="dadc-bench-"))
    dest = work / "dest"
    dest.mkdir(mode=0o700)
    definition = work / "definition.json"
    definition.write_text(json.dumps({"Connectors": [{"Id": "bench", "ConnectorArn":
        f"arn:aws:greengrass:us-east-1::/connectors/DockerApplicationDeployment/versions/{version}",
        "Parameters": {"DockerComposeFileS3Bucket": bucket, "DockerComposeFileS3Key": "compose.yml",
                       "DockerComposeFileDestinationPath": str(dest),
                       "DockerContainerStatusLogFrequency": frequency}}]}))
    return definition, dest, text


def memory_kb(pid: int) -> dict[str, int]:
    """RSS, and USS (private pages: what this process alone costs), in kB."""
    values = {}
    for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
        parts = line.split()
        if len(parts) >= 2 and parts[1].isdigit():
            values[parts[0].rstrip(":")] = int(parts[1])
    return {"rss": values.get("Rss", 0), "uss": values.get("Private_Clean", 0) + values.get("Private_Dirty", 0)}


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def cpu_with_children(pid: int) -> float:
    """utime + stime of the process and of the children it has waited for (each poll's fetch)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return sum(int(f) for f in fields[11:15]) / os.sysconf("SC_CLK_TCK")
