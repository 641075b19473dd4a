#!/usr/bin/env python3
"""Validator speed: a cold `dadc validate one.json` against the import floor
`python -c "import jsonschema, yaml"` (goal: at most 1.5x), one call over 3,000 files
(goal: at least 3,000 files/s), and a YAML template of 500 resources, 200 of them connector
definitions (goal: under 1 s in one call). Prints a table; asserts nothing."""
from __future__ import annotations

import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

RUNS = int(sys.argv[1]) if len(sys.argv) > 1 else 15  # a smoke run (CI) passes 1
DEFINITION = {"Connectors": [{"Id": "app", "ConnectorArn":
              "arn:aws:greengrass:us-west-2::/connectors/DockerApplicationDeployment/versions/6",
              "Parameters": {"DockerComposeFileS3Bucket": "my-bucket", "DockerComposeFileS3Key": "compose.yml",
                             "DockerComposeFileDestinationPath": "/srv/compose", "DockerUserId": "1000",
                             "AWSSecretsArnList": json.dumps(["arn:aws:secretsmanager:us-west-2:123456789012:secret:greengrass-r-AbCdEf"]),
                             "ForceDeploy": "true"}}]}


def median_seconds(argv: list[str], cwd: Path) -> float:
    times = []
    for _ in range(RUNS):
        started = time.perf_counter()
        subprocess.run(argv, cwd=cwd, capture_output=True, check=False)
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def template(resources: int = 500, definitions: int = 200) -> str:
    """A YAML template: connector definitions (intrinsics and all) among other resources."""
    lines = ["AWSTemplateFormatVersion: '2010-09-09'", "Parameters:", "  Bucket:", "    Type: String",
             "    Default: compose-files", "Resources:"]
    for i in range(resources):
        if i < definitions:
            lines += [f"  Connectors{i}:", "    Type: AWS::Greengrass::ConnectorDefinition", "    Properties:",
                      f"      Name: group-{i}", "      InitialVersion:", "        Connectors:",
                      "          - Id: DockerApp",
                      "            ConnectorArn: !Sub arn:${AWS::Partition}:greengrass:${AWS::Region}::/connectors/"
                      "DockerApplicationDeployment/versions/7",
                      "            Parameters:", "              DockerComposeFileS3Bucket: !Ref Bucket",
                      f"              DockerComposeFileS3Key: groups/{i}/docker-compose.yml",
                      "              DockerComposeFileDestinationPath: /srv/compose",
                      "              DockerUserId: '1000'", "              ForceDeploy: 'true'"]
        else:
            lines += [f"  Topic{i}:", "    Type: AWS::SNS::Topic", "    Properties:", f"      TopicName: !Sub topic-{i}"]
    return "\n".join(lines) + "\n"


def main() -> None:
    dadc = shutil.which("dadc")
    entry = [dadc] if dadc else [sys.executable, "-m", "dadc"]
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        (work / "one.json").write_text(json.dumps(DEFINITION, indent=2))
        floor = median_seconds([sys.executable, "-c", "import jsonschema, yaml"], work)
        cold = median_seconds([*entry, "validate", "one.json"], work)
        many = work / "many"
        many.mkdir()
        for i in range(3000):
            doc = json.loads(json.dumps(DEFINITION))
            doc["Connectors"][0]["Id"] = f"app{i}"
            (many / f"d{i:04d}.json").write_text(json.dumps(doc, indent=2))
        files = sorted(str(p) for p in many.iterdir())
        started = time.perf_counter()
        subprocess.run([*entry, "validate", "--format", "json", *files], capture_output=True, check=True)
        batch = time.perf_counter() - started
        (work / "template.yaml").write_text(template())
        big = median_seconds([*entry, "validate", "template.yaml"], work)
    print(f"| import floor (python -c 'import jsonschema, yaml') | {floor * 1000:.0f} ms | |")
    print(f"| cold `dadc validate one.json` | {cold * 1000:.0f} ms = {cold / floor:.2f}x the floor | at most 1.5x |")
    print(f"| `dadc validate` over 3,000 files, one call | {3000 / batch:,.0f} files/s ({batch:.2f} s) | at least 3,000 files/s |")
    print(f"| `dadc validate` of a YAML template, 500 resources (200 connector definitions) | {big:.2f} s | under 1 s |")


if __name__ == "__main__":
    main()
