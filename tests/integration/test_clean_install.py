"""A plain `pip install .` (no extras) into a clean virtual environment runs every recorded
conformance case from another folder, and an edited expectation fails it: the recorded engine
needs nothing beyond dadc's own dependencies (no moto, no jsonschema, no Docker)."""
from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]


def test_conformance_after_a_plain_install(tmp_path: Path) -> None:
    src = tmp_path / "src"
    shutil.copytree(ROOT, src, ignore=shutil.ignore_patterns(".git", "build", "*.egg-info", "__pycache__", "reports"))
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    subprocess.run([str(venv / "bin" / "python"), "-m", "pip", "install", "-q", "--disable-pip-version-check",
                    str(src)], check=True, timeout=900)
    shutil.rmtree(src)
    assert subprocess.run([str(venv / "bin" / "python"), "-c", "import moto"], capture_output=True).returncode != 0
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    done = subprocess.run([str(venv / "bin" / "dadc"), "conformance", "--format", "json"], cwd=elsewhere,
                          capture_output=True, text=True, timeout=600)
    report = json.loads(done.stdout)
    assert done.returncode == 0, done.stderr[-2000:]
    assert report["summary"]["pass"] >= 150 and report["summary"]["pass"] == len(report["results"])
    cases = elsewhere / "cases"
    installed = subprocess.run([str(venv / "bin" / "python"), "-c",
                                "from dadc.conformance.behaviour_cases import cases_root; print(cases_root())"],
                               capture_output=True, text=True, check=True).stdout.strip()
    shutil.copytree(installed, cases)
    case = json.loads((cases / "behaviour" / "stop.json").read_text())
    case["expect"]["1-"]["running"] = "app-v1"  # wrong: a stop leaves nothing running
    (cases / "behaviour" / "stop.json").write_text(json.dumps(case))
    done = subprocess.run([str(venv / "bin" / "dadc"), "conformance", "--cases", str(cases), "--scenarios", "stop"],
                          cwd=elsewhere, capture_output=True, text=True, timeout=600)
    assert done.returncode == 1 and "7 failed" in done.stdout
    # dadc export from an installed dadc: its data ships (versions/ggv2.json, the login helper), and the
    # dadc style, with no source tree to build a wheel from, asks for one instead of guessing
    definition = elsewhere / "def.json"
    definition.write_text(json.dumps({"Connectors": [{"Id": "app", "ConnectorArn":
        "arn:aws:greengrass:us-east-1::/connectors/DockerApplicationDeployment/versions/7", "Parameters": {
            "DockerComposeFileS3Bucket": "b-1", "DockerComposeFileS3Key": "c.yml", "DockerComposeFileS3Version": "v1",
            "DockerComposeFileDestinationPath": "/srv/app",
            "AWSSecretsArnList": '["arn:aws:secretsmanager:us-east-1:123456789012:secret:reg-AbCdEf"]'}}]}))
    compose = elsewhere / "c.yml"
    compose.write_text("services:\n  web:\n    image: 127.0.0.1:5001/dadc/busybox:1\n")
    dadc = [str(venv / "bin" / "dadc"), "export", "ggv2", str(definition), "--compose", str(compose),
            "--artifacts-prefix", "s3://gg-art/p/"]
    done = subprocess.run(dadc + ["--style", "native", "--out", "native"], cwd=elsewhere, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    helper = elsewhere / "native" / "artifacts" / "gg-art" / "p" / "dadc.app" / "1.0.0" / "registry_login.py"
    assert "password-stdin" in helper.read_text()
    # the dadc style from the installed dadc, no source tree and no --wheel: the installed files packed
    # again as a wheel, which installs into a fresh environment and runs there
    done = subprocess.run(dadc + ["--out", "dadc"], cwd=elsewhere, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    (wheel,) = (elsewhere / "dadc" / "artifacts").rglob("dadc-*.whl")
    # the recipe's own Install step, its variables as the nucleus fills them
    recipe = yaml.safe_load((elsewhere / "dadc" / "recipe.yaml").read_text())
    work = tmp_path / "work"
    work.mkdir()
    script = recipe["Manifests"][0]["Lifecycle"]["Install"]["Script"]
    script = script.replace("{artifacts:path}", str(wheel.parent)).replace("{work:path}", str(work))
    subprocess.run(["sh", "-c", script], check=True, timeout=300)
    (device,) = work.glob("venv-*")
    out = subprocess.run([str(device / "bin" / "python"), "-m", "dadc.ggv2.lifecycle"], cwd=elsewhere,
                         capture_output=True, text=True, timeout=60)
    assert "usage: python -m dadc.ggv2.lifecycle" in out.stderr
    versions = subprocess.run([str(device / "bin" / "dadc"), "versions", "--format", "json"], cwd=elsewhere,
                              capture_output=True, text=True, check=True, timeout=60).stdout
    assert [v["version"] for v in json.loads(versions)] == [1, 2, 3, 4, 5, 6, 7]
