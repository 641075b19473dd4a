"""Templates synthesized by aws-cdk-lib from the CDK apps in tests/fixtures/cdk (`bash
scripts/cdk-synth tests/fixtures/cdk` makes them again): what people write with the CDK, read as
CloudFormation reads it, by dadc alone and inside cfn-lint."""
from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from dadc.runtime import settings
from dadc.validation.cfnlint_ids import LEFT_TO_CFN_LINT, cfn_lint_id
from dadc.validation.engine import validate_bytes
from tests.unit.test_templates import _cfn_lint

OUT = Path(__file__).resolve().parents[1] / "fixtures" / "cdk" / "cdk.out"
NESTED = next(OUT.glob("NestedDevice*.nested.template.json"))

# (rule, the parameter or member it is about, words of its message) for each synthesized template;
# nothing else may be found there.
EXPECTED: dict[str, set[tuple[str, str, str]]] = {
    "Tokens.template.json": {
        ("I8002", "DockerComposeFileS3Bucket", "Ref ComposeD44D686C: set at deploy time"),
        ("I8002", "AWSSecretsArnList", "Fn::Join: set at deploy time"),
    },
    "Conditional.template.json": {  # the unreachable "True" and "no" are never judged
        ("E3005", "DockerContainerStatusLogFrequency",
         "'0' does not match ^[1-9]{1}[0-9]{0,3}$ (when condition FastLog is false) (when condition AppWanted is true)"),
    },
    "Parameters.template.json": {
        ("W5001", "DockerUserId", "(one of template parameter DockerUser's AllowedValues)"),
        ("I8002", "DockerComposeFileS3Version", "Ref ComposeVersion: a template parameter with neither Default"),
    },
    "Several.template.json": {  # the SNS connector's Fn::Sub is none of this connector's business
        ("I1006", "ConnectorArn", "connectors/SNS/versions/4 is another connector; not checked"),
        ("E1005", "1", "a second DockerApplicationDeployment connector"),
    },
    "Nested.template.json": set(),  # the AWS::CloudFormation::Stack is left alone; its template is read on its own
    NESTED.name: {  # the property overrides, where CDK wrote them
        ("E3005", "DockerComposeFileDestinationPath", "'srv/relative' does not match"),
        ("W3006", "DockerPullBeforeUp", "'True' does not match ^(true|false)$"),
    },
}


def test_the_fixtures_are_what_the_app_makes() -> None:
    """One template per stack of app.js (and one for its nested stack), every one held below."""
    import re
    stacks = re.findall(r'^new \w+\(app, "(\w+)"\);$', (OUT.parent / "app.js").read_text(), re.M)
    assert sorted([f"{s}.template.json" for s in stacks] + [NESTED.name]) == sorted(p.name for p in OUT.iterdir())
    assert sorted(p.name for p in OUT.iterdir()) == sorted(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_dadc_reads_a_synthesized_template_as_cloudformation_would(name: str) -> None:
    path = OUT / name
    result = validate_bytes(str(path), path.read_bytes())
    assert result.template and not result.fatal
    found = [(f.rule, f.pointer.rsplit("/", 1)[-1], f.message) for f in result.findings]
    assert len(found) == len(EXPECTED[name]), found
    for rule, member, words in EXPECTED[name]:
        assert any(r == rule and m == member and words in message for r, m, message in found), (rule, member, found)
    lines = path.read_text().splitlines()
    for f in result.findings:  # each at its key (an item at the item), in the file CDK wrote
        at = f.pointer.rsplit("/", 1)[-1]
        assert lines[f.line - 1][f.column - 1:].startswith(f'"{at}"' if not at.isdigit() else "{"), (f, lines[f.line - 1])


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_cfn_lint_with_dadc_agrees_on_a_synthesized_template(tmp_path: Path, name: str) -> None:
    """Per-rule ids at dadc's own lines and columns, nothing reported twice at one place, what cfn-lint
    reports itself left to it."""
    path = OUT / name
    done = subprocess.run([_cfn_lint(), str(path), "-a", "dadc.cfnlint", "--include-checks", "I", "--format", "json"],
                          capture_output=True, text=True, cwd=tmp_path, timeout=300)
    matches = json.loads(done.stdout or "[]")
    places = [(m["Rule"]["Id"], m["Location"]["Start"]["LineNumber"], m["Location"]["Start"]["ColumnNumber"])
              for m in matches]
    assert len(places) == len(set(places)), places
    ours = sorted(p for p in places if p[0][1] == "9")
    mine = validate_bytes(str(path), path.read_bytes()).findings
    assert ours == sorted((cfn_lint_id(f.rule), f.line, f.column) for f in mine if f.rule not in LEFT_TO_CFN_LINT)


def test_a_synthesized_connector_runs_when_its_parameters_are_literal() -> None:
    raw = (OUT / "Several.template.json").read_bytes()
    config = settings.from_bytes("several.json", raw, connector_id="Connectors/DockerApp")
    assert config.profile.version == 7 and config.params["DockerComposeFileDestinationPath"] == "/srv/line3/compose"
