"""In-process CLI tests: every validate format and exit code, versions, resolve, schema."""
from __future__ import annotations

import io
import json
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from dadc import cli
from dadc.validation.reporters import REPORTERS

ARN = "arn:aws:greengrass:us-west-2::/connectors/DockerApplicationDeployment/versions/{}"
GOOD = {"Connectors": [{"Id": "app", "ConnectorArn": ARN.format(6), "Parameters": {
    "DockerComposeFileS3Bucket": "bkt", "DockerComposeFileS3Key": "k.yml",
    "DockerComposeFileDestinationPath": "/srv/compose"}}]}


def write(tmp_path: Path, name: str, doc: object) -> str:
    path = tmp_path / name
    path.write_text(json.dumps(doc, indent=2) if not isinstance(doc, str) else doc)
    return str(path)


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = cli.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_cli_format_choices_are_the_reporter_registry() -> None:
    assert tuple(REPORTERS) == cli.VALIDATE_FORMATS


def test_valid_file_exit_0(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "validate", write(tmp_path, "good.json", GOOD))
    assert code == 0 and "0 error(s), 0 warning(s)" in out


def test_json_report_shape_and_positions(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = json.loads(json.dumps(GOOD))
    bad["Connectors"][0]["Parameters"]["DockerUserId"] = 0
    path = write(tmp_path, "bad.json", bad)
    code, out, _ = run(capsys, "validate", "--format", "json", path)
    doc = json.loads(out)
    assert code == 1 and doc["errors"] == 1 and doc["warnings"] == 0
    (f,) = doc["files"][0]["findings"]
    assert doc["files"][0] == {"file": path, "valid": False, "findings": [f]}
    assert f == {"rule": "E3002", "severity": "error", "pointer": "/Connectors/0/Parameters/DockerUserId",
                 "message": f["message"], "line": 10, "column": 9}  # at the key, as in YAML and cfn-lint
    line = Path(path).read_text().splitlines()[9]
    assert line[24:] == "0"


def test_text_format_is_file_line_column(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    doc = json.loads(json.dumps(GOOD))
    doc["Connectors"][0]["Parameters"]["ForceDeploy"] = "True"
    path = write(tmp_path, "warn.json", doc)
    code, out, _ = run(capsys, "validate", path)
    assert code == 0
    assert any(line.startswith(f"{path}:10:9: warning W3006 ") for line in out.splitlines()), out
    code, out, _ = run(capsys, "validate", "--strict", path)
    assert code == 1 and " warning W3006 " in out  # --strict fails the exit code; the warning stays a warning
    code, out, _ = run(capsys, "validate", "--strict", "--format", "junit", path)
    assert code == 1 and 'message="1 warning(s)"' in out and "warning W3006" in out


def test_junit_one_case_per_connector(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    doc = json.loads(json.dumps(GOOD))
    doc["Connectors"].append({"Id": "sns", "ConnectorArn": ARN.replace("DockerApplicationDeployment", "SNS").format(1)})
    doc["Connectors"][0]["Parameters"].pop("DockerComposeFileS3Key")
    code, out, _ = run(capsys, "validate", "--format", "junit", write(tmp_path, "two.json", doc))
    root = ET.fromstring(out.encode())
    cases = root.findall(".//testcase")
    assert code == 1 and [c.get("name") for c in cases] == ["app", "sns"]
    assert cases[0].find("failure") is not None and cases[1].find("failure") is None


def test_sarif(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "validate", "--format", "sarif", write(tmp_path, "s.json", {"Connectors": 3}))
    sarif = json.loads(out)
    assert code == 1 and sarif["version"] == "2.1.0"
    (result,) = sarif["runs"][0]["results"]
    assert result["ruleId"] == "E1001" and result["locations"][0]["physicalLocation"]["region"]["startLine"] == 2
    assert sarif["runs"][0]["tool"]["driver"]["rules"][0]["id"] == "E1001"


def test_stdin_and_unparsable_and_missing(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("sys.stdin", io.TextIOWrapper(io.BytesIO(json.dumps(GOOD).encode())))
    assert run(capsys, "validate", "-")[0] == 0
    code, out, _ = run(capsys, "validate", write(tmp_path, "broken.json", "{\n  \"Connectors\": [\n"))
    assert code == 2 and ":3:1: error E0001" in out
    code, out, _ = run(capsys, "validate", str(tmp_path / "nope.json"))
    assert code == 2 and "cannot read" in out


def test_bare_parameters_need_version(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write(tmp_path, "params.json", GOOD["Connectors"][0]["Parameters"])
    assert run(capsys, "validate", path)[0] == 2
    assert run(capsys, "validate", "--version", "6", path)[0] == 0
    code, out, _ = run(capsys, "validate", "--version", "1", write(tmp_path, "p1.json", dict(
        GOOD["Connectors"][0]["Parameters"], StopContainersOnNewDeployment="true")))
    assert code == 1 and "introduced in version 6" in out
    assert run(capsys, "validate", "--version", "9", path)[0] == 2


def test_bad_usage_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(capsys, "validate")[0] == 2
    assert run(capsys, "validate", "--format", "xml", "x.json")[0] == 2


def test_versions_json_is_a_list_of_profiles(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "versions", "--format", "json")
    doc = json.loads(out)
    assert code == 0 and [p["version"] for p in doc] == [1, 2, 3, 4, 5, 6, 7]
    v5, v4 = doc[4]["start_sequence"], doc[3]["start_sequence"]
    assert v5.index("pull (when DockerPullBeforeUp)") < [c.split(" ")[0] for c in v5].index("down")  # pull before down
    assert [c.split(" ")[0] for c in v4].index("down") < v4.index("pull")
    code, out, _ = run(capsys, "versions")
    assert "StopContainersOnNewDeployment" in out and "pull-down-up" in out


def test_resolve_cli(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "resolve", "--format", "json", ARN.format(5))
    doc = json.loads(out)
    assert code == 0 and (doc["version"], doc["partition"], doc["region"]) == (5, "aws", "us-west-2")
    code, out, _ = run(capsys, "resolve", ARN.format(7))
    assert code == 0 and "DockerOfflineMode" in out  # the last version AWS shipped
    code, _, err = run(capsys, "resolve", ARN.format(8))
    assert code == 2 and "1-7" in err
    code, _, err = run(capsys, "resolve", "arn:aws:greengrass:us-west-2::/connectors/Other/versions/1")
    assert code == 2 and "another connector" in err


def test_schema_cli(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "schema", "5")
    schema = json.loads(out)
    assert code == 0 and "DockerPullBeforeUp" in schema["properties"]
    assert "StopContainersOnNewDeployment" not in schema["properties"]


def test_an_unreadable_ca_or_password_file_is_bad_usage_before_anything_runs(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    from dadc.runtime.seams import process
    ran: list[object] = []
    monkeypatch.setattr(process, "run", lambda *a, **k: ran.append(a))
    path = write(tmp_path, "good.json", GOOD)
    for command in ("deploy", "run"):
        assert cli.main([command, "--definition", path, "--mqtt", "mqtts://broker", "--mqtt-ca", "/no/such/ca.pem"]) == 2
        assert "--mqtt-ca" in capsys.readouterr().err
        assert cli.main([command, "--definition", path, "--mqtt", "mqtt://broker", "--mqtt-username", "u",
                         "--mqtt-password-file", "/no/such/file"]) == 2
        assert "--mqtt-password-file" in capsys.readouterr().err
    assert ran == []  # no docker, no compose


def test_a_bad_mqtt_url_is_bad_usage(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write(tmp_path, "good.json", GOOD)
    for command in ("deploy", "run"):
        assert cli.main([command, "--definition", path, "--mqtt", "http://broker:80"]) == 2
        assert "use mqtt://host:port or mqtts://host:port" in capsys.readouterr().err
