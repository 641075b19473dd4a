"""The README's exit-code table, held over every command that reads a definition and every kind of
bad input: no traceback, a message that says where (FILE:LINE:COLUMN, or the file and why it cannot
be read), the file left as it was, and the code the table gives: 2 when the file cannot be read or
parsed (nothing was tried), 1 when it parses but does not hold a valid connector."""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from dadc import cli

ARN = "arn:aws:greengrass:us-west-2::/connectors/DockerApplicationDeployment/versions/7"
UNREADABLE, UNPARSABLE, INVALID = "cannot be read", "cannot be parsed", "does not validate"
INPUTS: dict[str, tuple[str, bytes | None]] = {  # name: (kind, bytes; None: made by the fixture)
    "missing.json": (UNREADABLE, None),
    "folder.json": (UNREADABLE, None),
    "empty.json": (UNPARSABLE, b""),
    "binary.json": (UNPARSABLE, bytes(range(256)) * 8),
    "yaml.json": (UNPARSABLE, b"Connectors:\n  - Id: a\n"),
    "broken-template.yaml": (UNPARSABLE, b"Resources:\n  A:\n    Type: AWS::Greengrass::ConnectorDefinition\n"
                                         b"    Properties: {Name: [unclosed\n"),
    "null.json": (INVALID, b"null"),
    "list.json": (INVALID, b"[1, 2]"),
    "number.json": (INVALID, b"5"),
    "wrong-types.json": (INVALID, b'{"Connectors": [{"Id": 5, "ConnectorArn": ["x"], "Parameters": "p"}]}'),
    "unicode.json": (INVALID, json.dumps({"Connectors": [{"Id": "\u00e9\u2603", "ConnectorArn": ARN, "Parameters": {
        "DockerComposeFileS3Bucket": "b\u2603", "DockerComposeFileS3Key": "\U0001F600",
        "DockerComposeFileDestinationPath": "/\u00e9"}}]}, ensure_ascii=False).encode()),
    "huge.json": (INVALID, json.dumps({"Connectors": [{"Id": "a", "ConnectorArn": ARN, "Parameters": {
        "DockerComposeFileS3Bucket": "b" * 20_000_000, "DockerComposeFileS3Key": "k",
        "DockerComposeFileDestinationPath": "/d"}}]}).encode()),
}
IN_PROCESS = {
    "validate": ["validate", "{f}"],
    "plan": ["plan", "--definition", "{f}"],
    "status": ["status", "--definition", "{f}"],
    "upgrade": ["upgrade", "{f}", "--to", "7"],
    "upgrade --check": ["upgrade", "--check", "--to", "7", "{f}"],
}
# the commands that change the engine run as their own process (signal handlers, logging)
OWN_PROCESS = {
    "deploy": ["deploy", "--definition", "{f}"],
    "stop": ["stop", "--definition", "{f}"],
    "rollback": ["rollback", "--definition", "{f}"],
}
CODE = {UNREADABLE: 2, UNPARSABLE: 2, INVALID: 1}


@pytest.fixture(scope="module")
def inputs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("bad")
    (folder / "folder.json").mkdir()
    for name, (_, raw) in INPUTS.items():
        if raw is not None:
            (folder / name).write_bytes(raw)
    return folder


def _said_where(name: str, kind: str, out: str) -> bool:
    if kind == UNREADABLE:  # the file, and why
        return name in out and re.search("No such file or directory|Is a directory", out) is not None
    return re.search(rf"{re.escape(name)}:\d+:\d+", out) is not None


def _before(path: Path) -> bytes | None:
    return path.read_bytes() if path.is_file() else None


@pytest.mark.parametrize("command", sorted(IN_PROCESS))
@pytest.mark.parametrize("name", sorted(INPUTS))
def test_a_bad_definition_gets_the_tables_code_and_a_located_message(
        inputs: Path, name: str, command: str, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    kind = INPUTS[name][0]
    monkeypatch.chdir(inputs)
    before = _before(inputs / name)
    code = cli.main([a.replace("{f}", name) for a in IN_PROCESS[command]])
    out, err = capsys.readouterr()
    assert code == CODE[kind], (out[-1500:], err[-1500:])
    assert _said_where(name, kind, out + err), (out[-1500:], err[-1500:])
    assert len(out) + len(err) < 20_000  # a huge value is quoted by its start and length
    assert _before(inputs / name) == before


@pytest.mark.parametrize("command", sorted(OWN_PROCESS))
def test_a_start_stop_or_rollback_of_a_bad_definition_tries_nothing(inputs: Path, command: str, tmp_path: Path) -> None:
    env = dict(os.environ, DADC_STATE_DIR=str(tmp_path / "state"), DADC_LOCK_DIR=str(tmp_path / "lock"),
               PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}")
    for name, (kind, _) in sorted(INPUTS.items()):
        before = _before(inputs / name)
        done = subprocess.run(["dadc", *[a.replace("{f}", name) for a in OWN_PROCESS[command]]], cwd=inputs,
                              capture_output=True, text=True, env=env, timeout=120)
        assert "Traceback" not in done.stderr, (name, done.stderr[-3000:])
        assert done.returncode == CODE[kind], (name, done.stdout[-1500:], done.stderr[-1500:])
        assert _said_where(name, kind, done.stdout + done.stderr), (name, done.stdout[-1500:], done.stderr[-1500:])
        assert _before(inputs / name) == before
        if command == "deploy":  # the one fail status the original would publish, nothing else
            (status,) = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
            assert status["status"] == "fail" and status["error"] == "InvalidParameter"
    assert not (tmp_path / "state").exists() or not any((tmp_path / "state").rglob("state.json"))
