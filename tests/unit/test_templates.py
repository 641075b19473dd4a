"""CloudFormation and CDK templates: read like definitions, checked inside cfn-lint at the same
lines, selected and suppressed as linters do, upgraded byte for byte, and run when literal."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from dadc import cli
from dadc.commands.migrate import plan_upgrade
from dadc.errors import InvalidParameter
from dadc.runtime import settings
from dadc.validation.cfnlint_ids import LEFT_TO_CFN_LINT, cfn_lint_id
from dadc.validation.engine import validate_bytes
from dadc.validation.selection import Selection, configured

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"
CASES = ROOT / "conformance" / "cases" / "validation"


def _cfn_lint() -> str:
    """cfn-lint's own command (the test extra installs it beside this Python)."""
    found = shutil.which("cfn-lint", path=str(Path(sys.executable).parent)) or shutil.which("cfn-lint")
    assert found, "cfn-lint is in the test extra: pip install '.[test]'"
    return found


def _case_text(name: str) -> str:
    return json.loads((CASES / f"{name}.json").read_text())["text"]


@pytest.mark.parametrize("name", ["template-ref-parameters", "template-sub-literal-parts", "template-resource-shape",
                                  "template-yaml-short-tags", "template-arn-intrinsics"])
def test_cfn_lint_reports_dadcs_findings_at_the_same_lines(tmp_path: Path, name: str) -> None:
    """`cfn-lint TEMPLATE -a dadc.cfnlint`: each dadc finding is a match of its own cfn-lint rule
    (dadc's X#0NN is X9#NN) at dadc's line, but the structural ones cfn-lint's schema reports there
    too, which are left to it; nothing is reported twice at one line."""
    template = tmp_path / "template.yaml"
    template.write_text(_case_text(name))
    mine = validate_bytes(str(template), template.read_bytes())
    done = subprocess.run([_cfn_lint(), str(template), "-a", "dadc.cfnlint",
                           "--include-checks", "I", "--format", "json"], capture_output=True, text=True, cwd=ROOT,
                          env=dict(os.environ, PYTHONPATH=str(ROOT)), timeout=300)
    matches = json.loads(done.stdout or "[]")
    ours = sorted((m["Rule"]["Id"], m["Location"]["Start"]["LineNumber"]) for m in matches
                  if m["Rule"]["Id"][1] == "9")
    expected = sorted((cfn_lint_id(f.rule), f.line) for f in mine.findings if f.rule not in LEFT_TO_CFN_LINT)
    assert ours == expected, done.stderr[-2000:]
    theirs = {(m["Rule"]["Id"], m["Location"]["Start"]["LineNumber"]) for m in matches if m["Rule"]["Id"][1] != "9"}
    for f in mine.findings:  # what dadc leaves to cfn-lint, cfn-lint reports at the same line
        if f.rule in LEFT_TO_CFN_LINT and f.rule != "E8004":
            assert (LEFT_TO_CFN_LINT[f.rule], f.line) in theirs, (f, theirs)


def test_cfn_lint_lets_a_finding_inside_a_json_string_stand_at_the_string(tmp_path: Path) -> None:
    template = tmp_path / "template.yaml"
    template.write_text(_case_text("template-parameters-json-string-yaml"))
    done = subprocess.run([_cfn_lint(), str(template), "-a", "dadc.cfnlint", "--format", "json"], capture_output=True, text=True, cwd=ROOT,
                          env=dict(os.environ, PYTHONPATH=str(ROOT)), timeout=300)
    lines = {m["Rule"]["Id"]: m["Location"]["Start"]["LineNumber"] for m in json.loads(done.stdout)}
    assert lines["E9305"] == 10  # the Parameters string; dadc itself says line 16, inside it


def test_configuration_is_found_from_the_working_folder_upward(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    deep = tmp_path / "repo" / "infra" / "stacks"
    deep.mkdir(parents=True)
    (tmp_path / "repo" / "pyproject.toml").write_text('[project]\nname = "x"\n\n[tool.dadc]\nignore_checks = ["W5"]\n')
    found = configured(deep)
    assert found.ignore == ("W5",) and found.source.endswith("pyproject.toml")
    (tmp_path / "repo" / "infra" / ".dadc.toml").write_text('ignore_checks = ["I5004"]\ninclude_checks = ["W5002"]\n')
    found = configured(deep)  # the nearer file wins
    assert (found.ignore, found.include) == (("I5004",), ("W5002",)) and found.source.endswith(".dadc.toml")
    assert configured(tmp_path) == Selection()
    assert Selection(("W",), ("W4006",)).keeps("W4006") and not Selection(("W",), ("W4006",)).keeps("W4007")
    assert not Selection(("W4006",), ("W",)).keeps("W4006")  # the more specific prefix wins


def test_the_command_line_adds_to_the_configuration(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    template = tmp_path / "t.yaml"
    template.write_text(_case_text("template-ref-parameters"))
    (tmp_path / ".dadc.toml").write_text('ignore_checks = ["I8002"]\n')
    monkeypatch.chdir(tmp_path)
    assert cli.main(["validate", str(template), "--ignore-checks", "E3005", "--format", "json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["files"][0]["findings"] == [] and report["suppressed"] == 3
    assert cli.main(["validate", str(template)]) == 1
    assert "1 suppressed" in capsys.readouterr().out


def test_upgrade_moves_a_yaml_template_and_keeps_every_other_byte() -> None:
    raw = (EXAMPLES / "greengrass-template.yaml").read_bytes()
    up = plan_upgrade("t.yaml", raw, 6, force=True)
    assert not up.problems, up.problems
    before, after = raw.decode().splitlines(keepends=True), up.new_text.splitlines(keepends=True)
    assert [line for line in before if "DockerOfflineMode" not in line] == \
        [line.replace("/versions/6", "/versions/7") for line in after]  # only the version and the dropped line
    assert up.new_text.count("/versions/6") == 2 and "DockerOfflineMode" not in up.new_text
    refused = plan_upgrade("t.yaml", raw, 6)
    assert refused.problems and "--force drops it" in refused.problems[0]


def test_upgrade_moves_a_cdk_template_through_its_fn_join() -> None:
    raw = (EXAMPLES / "cdk" / "cdk.out" / "Line3Stack.template.json").read_bytes()
    up = plan_upgrade("t.json", raw, 6, force=True)
    assert not up.problems, up.problems
    expected = raw.decode().replace("/versions/7", "/versions/6").replace(',\n        "DockerOfflineMode": "true"', "")
    assert up.new_text == expected


def test_the_examples_validate() -> None:
    for path in (EXAMPLES / "greengrass-template.yaml", EXAMPLES / "cdk" / "cdk.out" / "Line3Stack.template.json"):
        result = validate_bytes(str(path), path.read_bytes())
        assert result.errors == 0 and result.template, [f.message for f in result.findings]
        assert all(f.message.split(":")[0] in ("AppConnectors", "NextVersion", "AppConnectors7A3B2C1D")
                   for f in result.findings)


def test_a_template_runs_when_its_connector_is_literal() -> None:
    raw = (EXAMPLES / "cdk" / "cdk.out" / "Line3Stack.template.json").read_bytes()
    config = settings.from_bytes("cdk.json", raw)
    assert config.profile.version == 7 and config.params["DockerComposeFileS3Key"] == "line3/docker-compose.yml"
    assert config.region is None  # ${AWS::Region}: boto3's chain decides, not a stand-in
    with pytest.raises(InvalidParameter, match="sets at deploy time: DockerComposeFileS3Bucket, DockerComposeFileS3Version"):
        settings.from_bytes("t.yaml", (EXAMPLES / "greengrass-template.yaml").read_bytes(),
                            connector_id="AppConnectors/DockerApp")
    with pytest.raises(InvalidParameter, match="LOGICAL-ID/Id names one"):
        settings.from_bytes("t.yaml", (EXAMPLES / "greengrass-template.yaml").read_bytes(), connector_id="DockerApp")
    with pytest.raises(InvalidParameter, match="DockerComposeFileS3Bucket"):  # a Ref with a Default: not a guess
        settings.from_bytes("t.yaml", (EXAMPLES / "greengrass-template.yaml").read_bytes(),
                            connector_id="NextVersion/DockerApp")


def test_a_yaml_file_that_is_not_a_template_is_still_not_a_definition(tmp_path: Path) -> None:
    result = validate_bytes("c.yml", b"services:\n  web:\n    image: a\n")
    assert result.fatal and result.findings[0].rule == "E0001"


_TWO_RULES = """\
Resources:
  Defn:
    Type: AWS::Greengrass::ConnectorDefinition
    Properties:
      Name: d
      InitialVersion:
        Connectors:
          - Id: A
            ConnectorArn: arn:aws:greengrass:us-east-1::/connectors/DockerApplicationDeployment/versions/5
            Parameters:
              DockerComposeFileS3Bucket: Bad_Bucket
              DockerComposeFileS3Key: k
              DockerComposeFileDestinationPath: /d
              DockerUserId: "0"
"""


def _cfn_lint_run(tmp_path: Path, *options: str) -> subprocess.CompletedProcess[str]:
    template = tmp_path / "template.yaml"
    template.write_text(_TWO_RULES)
    return subprocess.run([_cfn_lint(), str(template), "-a", "dadc.cfnlint", *options], capture_output=True,
                          text=True, cwd=tmp_path, timeout=300)


def _ids(done: subprocess.CompletedProcess[str]) -> list[str]:
    return sorted(m["Rule"]["Id"] for m in json.loads(done.stdout or "[]") if m["Rule"]["Id"][1] == "9")


def test_cfn_lint_ignores_and_includes_dadcs_rules_one_by_one(tmp_path: Path) -> None:
    """Each dadc rule is its own cfn-lint rule: --ignore-checks drops that one, the others stay;
    a warning can be ignored by its letter and number like any of cfn-lint's."""
    assert _ids(_cfn_lint_run(tmp_path, "--format", "json")) == ["E9305", "W9501"]
    assert _ids(_cfn_lint_run(tmp_path, "--format", "json", "--ignore-checks", "E9305")) == ["W9501"]
    assert _ids(_cfn_lint_run(tmp_path, "--format", "json", "--ignore-checks", "W95")) == ["E9305"]
    # cfn-lint's exit code is its bit mask: 2 for an error, 4 for a warning
    assert _cfn_lint_run(tmp_path, "--format", "json", "--ignore-checks", "E9305", "W3696").returncode == 4


def test_cfn_lint_judges_the_arn_in_each_region_it_is_asked_for(tmp_path: Path) -> None:
    """--regions: an aws ARN in a stack bound for us-gov-west-1 is an error there (the partition
    differs), not in us-east-1; with both regions it is reported once."""
    assert "E9202" not in _ids(_cfn_lint_run(tmp_path, "--format", "json", "--regions", "us-east-1"))
    gov = _cfn_lint_run(tmp_path, "--format", "json", "--regions", "us-gov-west-1")
    assert _ids(gov).count("E9202") == 1
    assert "aws-us-gov" in next(m["Message"] for m in json.loads(gov.stdout) if m["Rule"]["Id"] == "E9202")
    both = _cfn_lint_run(tmp_path, "--format", "json", "--regions", "us-east-1", "us-gov-west-1")
    assert _ids(both).count("E9202") == 1


def test_cfn_lint_sarif_names_each_dadc_rule_with_its_documentation(tmp_path: Path) -> None:
    done = _cfn_lint_run(tmp_path, "--format", "sarif")
    run = json.loads(done.stdout)["runs"][0]
    rules = {r["id"]: r for r in run["tool"]["driver"]["rules"]}
    assert {"E9305", "W9501"} <= set(rules)
    assert all(rules[i].get("helpUri") for i in ("E9305", "W9501"))
    results = [r for r in run["results"] if r["ruleId"] in ("E9305", "W9501")]
    assert [r["locations"][0]["physicalLocation"]["region"]["startLine"] for r in results] == [11, 14]


@pytest.mark.parametrize("syntax", ["yaml", "json"])
def test_dadc_and_cfn_lint_place_a_finding_at_the_same_line_and_column(tmp_path: Path, syntax: str) -> None:
    """One convention (cfn-lint's): a member's finding at its key, in YAML and in JSON alike."""
    import yaml
    template = tmp_path / f"template.{syntax}"
    data = yaml.safe_load(_TWO_RULES)
    template.write_text(_TWO_RULES if syntax == "yaml" else json.dumps(data, indent=2))
    mine = {(cfn_lint_id(f.rule), f.line, f.column) for f in validate_bytes(str(template), template.read_bytes()).findings
            if f.rule in ("E3005", "W5001")}
    done = subprocess.run([_cfn_lint(), str(template), "-a", "dadc.cfnlint", "--format", "json"], capture_output=True,
                          text=True, cwd=tmp_path, timeout=300)
    theirs = {(m["Rule"]["Id"], m["Location"]["Start"]["LineNumber"], m["Location"]["Start"]["ColumnNumber"])
              for m in json.loads(done.stdout) if m["Rule"]["Id"] in ("E9305", "W9501")}
    assert mine == theirs and len(mine) == 2


def test_cfn_lint_judges_a_secret_against_each_regions_stack(tmp_path: Path) -> None:
    """A connector ARN made of pseudo parameters is in the stack's region: a us-east-1 secret is
    another region's in eu-west-1 (W4005 as W9405) and another partition's in cn-north-1 (E4004 as
    E9404); in us-east-1 neither."""
    template = tmp_path / "template.yaml"
    template.write_text(_TWO_RULES.replace(
        "arn:aws:greengrass:us-east-1::", "!Sub arn:${AWS::Partition}:greengrass:${AWS::Region}::").replace(
        'DockerUserId: "0"', 'DockerUserId: "1000"\n              AWSSecretsArnList: \'["arn:aws:secretsmanager:'
        'us-east-1:123456789012:secret:greengrass-reg-AbCdEf"]\''))

    def ids(region: str) -> list[str]:
        return _ids(subprocess.run([_cfn_lint(), str(template), "-a", "dadc.cfnlint", "--format", "json", "--regions",
                                    region], capture_output=True, text=True, cwd=tmp_path, timeout=300))
    assert ids("us-east-1") == ["E9305"]
    assert ids("eu-west-1") == ["E9305", "W9405"]
    assert ids("cn-north-1") == ["E9305", "E9404"]
