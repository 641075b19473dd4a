"""Moving between versions: dadc diff and dadc upgrade, and the byte-preserving JSON edits."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from dadc import cli, jsonedit
from dadc.commands.migrate import plan_upgrade
from dadc.validation.engine import validate_bytes
from dadc.validation.positions import PositionMap
from dadc.conformance.validation_cases import discover

ARN = "arn:aws:greengrass:us-west-2::/connectors/DockerApplicationDeployment/versions/{}"
BASE = {"DockerComposeFileS3Bucket": "bucket-a", "DockerComposeFileS3Key": "k", "DockerComposeFileDestinationPath": "/d"}


def definition(version: int, **params: str) -> str:
    return json.dumps({"Connectors": [{"Id": "a", "ConnectorArn": ARN.format(version),
                                       "Parameters": {**BASE, **params}}]}, indent=2) + "\n"


def test_diff_4_5_names_the_pull_before_down_change(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["diff", "4", "5"]) == 0
    out = capsys.readouterr().out
    assert "start sequence: down-pull-up -> pull-down-up" in out
    assert "+ DockerPullBeforeUp (default true)" in out
    assert "5: Images are pulled before running docker-compose down." in out
    assert cli.main(["diff", "v6", "latest", "--format", "json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert (doc["from"], doc["to"]) == (6, 7)
    assert {p["name"] for p in doc["parameters"]} == {"DockerOfflineMode", "DockerUserId"}
    assert doc["behaviour"]["login attempts"] == {"before": "1", "after": "3"}
    assert [c["version"] for c in doc["changelog"]] == [7]
    assert cli.main(["diff", "7", "1", "--format", "json"]) == 0
    assert [c["version"] for c in json.loads(capsys.readouterr().out)["changelog"]] == [7, 6, 5, 4, 3, 2]
    assert cli.main(["diff", "1", "9"]) == 2


def _cases() -> list:  # type: ignore[type-arg]
    return [c for c in discover() if "document" in c.spec and not validate_bytes(
        c.name, c.raw(), version=int(c.spec["version"].lstrip("v")) if "version" in c.spec else None).fatal]


@pytest.mark.parametrize("case", _cases(), ids=lambda c: c.name)
def test_every_validation_case_upgrades_to_7(case) -> None:  # type: ignore[no-untyped-def]
    """A valid definition stays valid under version 7; an invalid one is refused, and with --force it
    gains no new error; a file with no connector is refused (nothing to upgrade)."""
    version = int(case.spec["version"].lstrip("v")) if "version" in case.spec else None
    before = validate_bytes(case.name, case.raw(), version=version)
    invalid = any(f.severity == "error" for f in before.findings)
    up = plan_upgrade(case.name, case.raw(), 7, version=version)
    if invalid:
        assert up.problems and "it does not validate" in up.problems[0], up.problems
        up = plan_upgrade(case.name, case.raw(), 7, version=version, force=True)
    if not before.connectors:
        assert up.problems == ["no DockerApplicationDeployment connector in it: nothing to upgrade"]
        return
    if any(p.startswith("/") and "names no version" in p for p in up.problems):
        return  # an ARN of a version that does not exist: nothing to move from
    assert not up.problems, up.problems
    after = validate_bytes(case.name, up.new_text.encode(), version=7 if version else None)
    old = {(f.rule, f.pointer) for f in before.findings if f.severity == "error"}
    new = {(f.rule, f.pointer) for f in after.findings if f.severity == "error"}
    assert new <= old, new - old
    if not old:
        assert after.valid
    for c in after.connectors:
        assert c.ref is None or c.ref.version == 7


def test_upgrade_changes_the_version_digits_and_nothing_else() -> None:
    text = definition(4, DockerUserId="1000")
    up = plan_upgrade("d.json", text.encode(), 7)
    assert up.new_text == text.replace("/versions/4", "/versions/7")
    assert any("images are now pulled before the running application is stopped" in line for line in up.report)


def test_check_exits_1_only_when_a_file_would_change(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    old, new = tmp_path / "old.json", tmp_path / "new.json"
    old.write_text(definition(5))
    new.write_text(definition(7))
    assert cli.main(["upgrade", "--check", "--to", "latest", str(new)]) == 0
    assert cli.main(["upgrade", "--check", "--to", "latest", str(old), str(new)]) == 1
    assert old.read_text() == definition(5)  # --check writes nothing
    assert "would change" in capsys.readouterr().out
    assert cli.main(["upgrade", "--to", "7", str(old)]) == 0
    assert old.read_text() == definition(7)


def test_a_downgrade_says_what_is_lost_and_refuses_without_force(tmp_path: Path,
                                                                 capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "d.json"
    path.write_text(definition(7, DockerOfflineMode="true", ForceDeploy="true"))
    assert cli.main(["upgrade", "--to", "5", str(path)]) == 1
    assert "version 5 has no DockerOfflineMode" in capsys.readouterr().err
    assert "/versions/7" in path.read_text()
    assert cli.main(["upgrade", "--to", "5", "--force", str(path)]) == 0
    assert "drops DockerOfflineMode='true'" in capsys.readouterr().out
    assert path.read_text() == definition(5, ForceDeploy="true")  # the same layout, less one member
    path.write_text(definition(7, DockerUserId="100000"))
    assert cli.main(["upgrade", "--to", "6", "--force", str(path)]) == 1  # a 32-bit UID has no v6 equivalent
    assert "would not validate under version 6" in capsys.readouterr().err


def test_a_bare_parameters_object_and_a_bom(tmp_path: Path) -> None:
    path = tmp_path / "p.json"
    path.write_bytes(b"\xef\xbb\xbf" + json.dumps({**BASE, "DockerOfflineMode": "false"}).encode())
    assert cli.main(["upgrade", "--to", "6", "--version", "7", "--force", str(path)]) == 0
    assert path.read_bytes() == b"\xef\xbb\xbf" + json.dumps(BASE).encode()


@pytest.mark.parametrize(("text", "remove", "expected"), [
    ('{"a": 1, "b": 2, "c": 3}', {"b"}, '{"a": 1, "c": 3}'),
    ('{"a": 1, "b": 2, "c": 3}', {"c"}, '{"a": 1, "b": 2}'),
    ('{"a": 1, "b": 2, "c": 3}', {"a"}, '{"b": 2, "c": 3}'),
    ('{"a": 1, "b": 2, "c": 3}', {"b", "c"}, '{"a": 1}'),
    ('{"a": 1, "b": 2, "c": 3}', {"a", "b", "c"}, '{}'),
    ('{\n  "a": 1,\n  "b": [1, 2],\n  "c": {"x": 1}\n}', {"b"}, '{\n  "a": 1,\n  "c": {"x": 1}\n}'),
    ('{\n  "a": 1,\n  "b": [1, 2],\n  "c": {"x": 1}\n}', {"c"}, '{\n  "a": 1,\n  "b": [1, 2]\n}'),
    ('{"a":1,"b":"x,y}"}', {"a"}, '{"b":"x,y}"}'),
])
def test_removing_members_keeps_the_rest_byte_for_byte(text: str, remove: set[str], expected: str) -> None:
    positions = PositionMap(text)
    edits = jsonedit.remove_members(positions, "", {f"/{k}" for k in remove})
    out = jsonedit.apply(text, edits)
    assert out == expected and json.loads(out) == {k: v for k, v in json.loads(text).items() if k not in remove}
