"""The README's command blocks, run as written (globs and all) in a folder holding the files they
name, with what each line says of itself: its exit code, its output's format. Every block is either
run here or named below with the test that runs it on the test bed."""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text()
CLI = ROOT / "tests" / "fixtures" / "cli"
TEXT_FINDING = re.compile(r"^[^:]+:\d+:\d+: (error|warning|info) [EWI]\d{4} .+$")

# Blocks that need the test bed, root or AWS itself, by their first line: where each is exercised.
ELSEWHERE = {
    "bash scripts/demo": "CI's own rehearsal (fresh-machine, then scripts/demo); tests/integration/test_clean_install.py",
    "bash scripts/testbed && python3 -m pip install '.[test]' && python3 -m pytest": ".ci/run runs exactly this",
    "install -m 644 systemd/dadc.service /etc/systemd/system/dadc.service":
        "tests/unit/test_generated_files.py (the unit from the option list)",
    "dadc export ggv2 definition.json --style dadc --artifacts-prefix s3://my-gg-artifacts/components/ --upload \\":
        "tests/integration/test_ggv2.py (export, upload to the bed's S3, the recipe on a nucleus stand-in)",
    "- repo: https://github.com/dadc/dadc": "test_the_pre_commit_block_names_a_hook_of_this_repository",
    "jobs:": "test_the_github_actions_steps_run_as_written",
}
# Lines of a run block that need the test bed, and the tests that run them there.
NEEDS_BED = {
    "dadc deploy ": "tests/integration/test_runtime.py", "dadc run ": "tests/integration/test_mqtt_delivery.py",
    "dadc status ": "tests/integration/test_runtime.py", "dadc stop ": "tests/integration/test_runtime.py",
    "dadc rollback ": "tests/integration/test_recovery_faults.py",
    "dadc conformance --engine docker": "tests/integration/test_conformance_docker.py",
    "dadc fleet ": "tests/integration/test_fleet_jobs.py",
}


def _blocks() -> list[tuple[str, str, list[str]]]:
    """(heading, language, commands) of each fenced block; a line ending in \\ continues."""
    found = []
    heading = ""
    for m in re.finditer(r"^(#+ [^\n]*)$|^```(\w+)\n(.*?)^```$", README, re.M | re.S):
        if m.group(1):
            heading = m.group(1).lstrip("# ")
            continue
        lines = m.group(3).splitlines()
        found.append((heading, m.group(2), lines))
    return found


def _commands(lines: list[str]) -> list[str]:
    out: list[str] = []
    for line in lines:
        if out and out[-1].endswith("\\"):
            out[-1] = out[-1][:-1] + " " + line.strip()
        elif line.strip():
            out.append(line)
    return out


def _block(heading: str) -> list[str]:
    (lines,) = [lines for h, lang, lines in _blocks() if h == heading and lang == "sh"]
    return _commands(lines)


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    """The files the README's lines name: definitions (one at version 5, the rest at 7), a bare
    Parameters object, a role policy, the example compose file and templates, a stand-in `aws` that
    prints what the AWS CLI prints for get-connector-definition-version (its skeleton, filled)."""
    def definition(version: int) -> str:
        return json.dumps({"Connectors": [{"Id": "app", "ConnectorArn":
                           f"arn:aws:greengrass:us-west-2::/connectors/DockerApplicationDeployment/versions/{version}",
                           "Parameters": {"DockerComposeFileS3Bucket": "my-bucket",
                                          "DockerComposeFileS3Key": "app/docker-compose.yml",
                                          "DockerComposeFileDestinationPath": "/home/app/compose",
                                          "DockerUserId": "1000"}}]}, indent=2)
    (tmp_path / "defs").mkdir()
    (tmp_path / "definition.json").write_text(definition(7))
    (tmp_path / "def.json").write_text(definition(5))
    (tmp_path / "defs" / "line-1.json").write_text(definition(7))
    (tmp_path / "defs" / "line-2.json").write_text(definition(5))
    (tmp_path / "params.json").write_text(json.dumps({"DockerComposeFileS3Bucket": "my-bucket",
                                                      "DockerComposeFileS3Key": "k",
                                                      "DockerComposeFileDestinationPath": "/home/app/compose"}))
    (tmp_path / "role.json").write_text(json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::my-bucket/app/docker-compose.yml"}]}))
    shutil.copy(ROOT / "examples" / "docker-compose.yml", tmp_path)
    shutil.copy(ROOT / "examples" / "greengrass-template.yaml", tmp_path / "template.yaml")
    shutil.copytree(ROOT / "examples" / "cdk" / "cdk.out", tmp_path / "cdk.out")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    aws = bin_dir / "aws"
    aws.write_text("#!/bin/sh\n[ \"$1 $2\" = 'greengrass get-connector-definition-version' ] || "
                   "{ echo \"stand-in aws: $*\" >&2; exit 2; }\n"
                   f"cat '{CLI / 'get-connector-definition-version.json'}'\n")
    aws.chmod(0o755)
    return tmp_path


def _run(line: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, PATH=f"{cwd / 'bin'}{os.pathsep}{Path(sys.executable).parent}{os.pathsep}"
                                f"{os.environ.get('PATH', '')}")
    done = subprocess.run(["bash", "-c", line], cwd=cwd, capture_output=True, text=True, env=env, timeout=600)
    assert "Traceback" not in done.stderr, (line, done.stderr)
    return done


# What a line says of its exit code (default 0): by the words it starts with.
EXIT = {
    "dadc upgrade --check --to 7 defs/*.json": 1,  # "CI: exit 1 if an upgrade would change a file" (line-2 is at 5)
    "cfn-lint template.yaml": 4,  # cfn-lint's bit mask: its own W3696 (the service's end of support), no dadc error
}


def test_the_validation_block_runs_as_written(folder: Path) -> None:
    for line in _block("Versions, validation, moving between versions"):
        done = _run(line, folder)
        expected = next((code for start, code in EXIT.items() if line.startswith(start)), 0)
        assert done.returncode == expected, (line, done.stdout[-2000:], done.stderr[-2000:])
        if line.startswith("dadc validate") and ">" not in line and "--format" not in line:
            *findings, summary = done.stdout.splitlines()
            assert all(TEXT_FINDING.match(f) for f in findings), findings  # file:line:column: severity RULE message
            assert re.match(r"^\d+ file\(s\): \d+ error\(s\), \d+ warning\(s\)", summary), summary
        if "--format json" in line.split(" #")[0]:
            json.loads(done.stdout)
    sarif = json.loads((folder / "dadc.sarif").read_text())
    assert sarif["version"] == "2.1.0" and len(sarif["runs"][0]["results"]) == 0
    assert "/versions/7" in (folder / "def.json").read_text()  # upgrade --to latest wrote it
    assert "/versions/5" in (folder / "defs" / "line-2.json").read_text()  # --check wrote nothing


def test_the_running_block_plans_as_written(folder: Path) -> None:
    ran = 0
    for line in _block("Running the connector"):
        if any(line.startswith(start) or line.startswith(start.replace(" ", "  ", 1)) for start in NEEDS_BED) or \
                re.match(r"dadc (deploy|run|status|stop|rollback) ", re.sub(r"\s+", " ", line)):
            continue
        done = _run(line, folder)
        assert done.returncode == 0, (line, done.stdout, done.stderr)
        if "--format json" in line:
            plan = json.loads(done.stdout)
            assert plan["version"] == 5 and plan["extensions"] == ["--health-gate 60"] and plan["start"]
        else:
            assert "down" in done.stdout and "up" in done.stdout
        ran += 1
    assert ran == 2


def test_the_conformance_block_runs_on_the_recorded_engine_as_written(folder: Path) -> None:
    shutil.copytree(ROOT / "conformance" / "cases", folder / "my-cases")
    ran = 0
    for line in _block("Conformance harness"):
        if line.startswith("dadc conformance --engine docker"):
            continue  # NEEDS_BED
        done = _run(line, folder)
        assert done.returncode == 0, (line, done.stdout[-2000:], done.stderr[-2000:])
        if "--format markdown" in line:
            assert done.stdout.lstrip().startswith("|") or "| " in done.stdout
        ran += 1
    assert ran == 3


def test_the_fleet_block_dry_runs_as_written(folder: Path) -> None:
    """The dry runs need no AWS: they print the requests and send none (every endpoint is a closed
    port here, so one sent would fail the line)."""
    ran = 0
    for line in _block("Fleets"):
        if "--dry-run" not in line or not line.startswith("dadc fleet rollout"):
            continue  # NEEDS_BED: the jobs stand-in runs the others
        done = subprocess.run(["bash", "-c", line], cwd=folder, capture_output=True, text=True, timeout=120,
                              env=dict(os.environ, AWS_ENDPOINT_URL="http://127.0.0.1:9", AWS_DEFAULT_REGION="us-west-2"))
        assert done.returncode == 0, (line, done.stderr)
        made = [r for r in json.loads(done.stdout)["requests"] if r["operation"] == "CreateJob"]
        assert [r["request"]["jobId"].rsplit("-", 1)[1] for r in made] == ["canary", "main"]
        ran += 1
    assert ran == 1


def test_the_github_actions_steps_run_as_written(folder: Path) -> None:
    (block,) = [lines for h, lang, lines in _blocks() if lang == "yaml" and lines[0] == "jobs:"]
    import yaml
    steps = yaml.safe_load("\n".join(block))["jobs"]["dadc-conformance"]["steps"]
    runs = [s["run"] for s in steps if "run" in s and not s["run"].startswith("pip install")]
    (folder / "connectors").mkdir()
    shutil.copy(folder / "definition.json", folder / "connectors" / "line-1.json")
    for line in runs:
        assert _run(line, folder).returncode == 0, line
    assert json.loads((folder / "dadc.sarif").read_text())["version"] == "2.1.0"
    assert "<testsuite" in (folder / "conformance.xml").read_text()


def test_the_pre_commit_block_names_a_hook_of_this_repository() -> None:
    import yaml
    (block,) = [lines for h, lang, lines in _blocks() if lang == "yaml" and lines[0].startswith("- repo:")]
    (repo,) = yaml.safe_load("\n".join(block))
    hooks = {h["id"] for h in yaml.safe_load((ROOT / ".pre-commit-hooks.yaml").read_text())}
    assert {h["id"] for h in repo["hooks"]} <= hooks


def test_every_block_is_run_here_or_named_with_where_it_runs() -> None:
    here = {"Versions, validation, moving between versions", "Running the connector", "Conformance harness", "Fleets"}
    for heading, lang, lines in _blocks():
        if heading in here and lang == "sh":
            continue
        assert lines[0] in ELSEWHERE, (heading, lines[0])
    for test in {t.split(" ")[0] for t in list(ELSEWHERE.values()) + list(NEEDS_BED.values()) if t.startswith("tests/")}:
        assert (ROOT / test).exists(), test
