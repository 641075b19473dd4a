"""Version 8 in the handful of files docs/architecture.md names: a throwaway v8 (one new parameter,
one changed behaviour: its pull comes after down again), added to a copy of the data, touching only
versions/v8.json, versions/parameters.json and the behaviour cases, and run through the recorded
conformance and the validator. The cases whose version ranges are open (`"5-"`) apply to v8 at
once; the ones its changed behaviour breaks are found by the run, closed at 7, and given a v8
expectation, as a person adding the version would."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SECTION = ROOT / "docs" / "architecture.md"


def _dadc(data: Path, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "dadc", *args], capture_output=True, text=True, cwd=ROOT,
                          env=dict(os.environ, DADC_DATA_DIR=str(data)), input=stdin, timeout=600)


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


def test_a_throwaway_v8_touches_only_what_the_architecture_lists(tmp_path: Path) -> None:
    assert "**A version**: `versions/v8.json`" in SECTION.read_text()  # what this test follows
    data, cases = tmp_path / "data", tmp_path / "cases"
    for name in ("versions", "schemas"):
        shutil.copytree(ROOT / name, data / name)
    shutil.copytree(ROOT / "conformance" / "cases", cases)
    before = {**{f"data/{k}": v for k, v in _snapshot(data).items()},
              **{f"cases/{k}": v for k, v in _snapshot(cases).items()}}

    # the new parameter, and the profile
    catalogue = json.loads((data / "versions" / "parameters.json").read_text())
    catalogue["parameters"]["DockerExampleEightFlag"] = {
        "since": 8, "required": False, "kind": "boolean", "description": "a throwaway v8 parameter",
        "documented_pattern": "^(true|false)$", "pattern": "^(true|false)$", "default": "false"}
    (data / "versions" / "parameters.json").write_text(json.dumps(catalogue, indent=2))
    v7 = json.loads((data / "versions" / "v7.json").read_text())
    by = {c["command"]: c for c in v7["start_sequence"]}
    v8 = {**v7, "version": 8, "changelog": "A throwaway version: pull after down again.",
          "parameters": v7["parameters"] + ["DockerExampleEightFlag"],
          "start_sequence": [by["fetch"], by["login"], by["down"], by["pull"], by["up"]]}
    (data / "versions" / "v8.json").write_text(json.dumps(v8, indent=2))

    # the validator knows it: the new parameter is v8's, an unknown one for v7
    definition = {"Connectors": [{"Id": "x", "ConnectorArn":
                                  "arn:aws:greengrass:us-east-1::/connectors/DockerApplicationDeployment/versions/8",
                                  "Parameters": {"DockerComposeFileS3Bucket": "bucket", "DockerComposeFileS3Key": "k.yml",
                                                 "DockerComposeFileDestinationPath": "/d",
                                                 "DockerExampleEightFlag": "true"}}]}
    ok = _dadc(data, "validate", "-", stdin=json.dumps(definition))
    assert ok.returncode == 0, ok.stdout + ok.stderr
    older = json.loads(json.dumps(definition).replace("versions/8", "versions/7"))
    refused = _dadc(data, "validate", "-", stdin=json.dumps(older))
    assert refused.returncode == 1 and "E3004" in refused.stdout and "DockerExampleEightFlag" in refused.stdout

    # the cases as they are: the open ranges take v8 in; what its reversed pull breaks shows
    first = _dadc(data, "conformance", "--cases", str(cases), "--versions", "8", "--format", "json")
    report = json.loads(first.stdout)
    assert report["summary"]["pass"] > 30, first.stdout[-2000:]
    failing = {r["case"].split("/")[1]: r for r in report["results"] if r["outcome"] == "fail"}
    assert failing and first.returncode == 1
    assert set(failing) <= {p.stem for p in (cases / "behaviour").glob("*.json")
                            if "compose pull" in (cases / "behaviour" / p.name).read_text()}
    assert "redeploy-changed" in failing  # v8 pulls after down: the v5-7 expectation no longer holds

    # close those ranges at 7 and give v8 the expectation its run shows (a reviewer checks them)
    for scenario, result in failing.items():
        path = cases / "behaviour" / f"{scenario}.json"
        spec = json.loads(path.read_text())
        key = next(k for k in spec["expect"] if k.endswith("-") and 8 >= int(k.split(",")[-1].rstrip("-")))
        closed, start = dict(spec["expect"]), int(key.split(",")[-1].rstrip("-"))
        expectation = dict(closed.pop(key), commands=result["commands"], running=result["running"])
        expectation["status"] = [{"status": m["status"], **({"error": m["error"]} if "error" in m else {})}
                                 for m in result["messages"]]
        closed[key[:-1] + "-7" if start < 7 else "7"] = spec["expect"][key]
        closed["8-"] = expectation
        spec["expect"] = closed
        path.write_text(json.dumps(spec, indent=2) + "\n")
    second = _dadc(data, "conformance", "--cases", str(cases), "--versions", "7,8", "--format", "json")
    assert second.returncode == 0, [r for r in json.loads(second.stdout)["results"] if r["outcome"] != "pass"][:3]

    # and nothing but what the section lists was touched
    after = {**{f"data/{k}": v for k, v in _snapshot(data).items()},
             **{f"cases/{k}": v for k, v in _snapshot(cases).items()}}
    touched = {k for k in after if before.get(k) != after[k]}
    allowed = {"data/versions/v8.json", "data/versions/parameters.json"}
    assert {k for k in touched if k not in allowed and not k.startswith("cases/behaviour/")} == set()
