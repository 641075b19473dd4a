"""The validator never crashes: every input ends in findings or exit 2."""
from __future__ import annotations

import json
import time

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dadc.validation.engine import exit_code, validate_bytes

JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=30),
    lambda children: st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=12), children, max_size=5),
    max_leaves=30)
KEYS = st.sampled_from(["Connectors", "Id", "ConnectorArn", "Parameters", "InitialVersion", "Name",
                        "DockerComposeFileS3Bucket", "AWSSecretsArnList", "ForceDeploy", "DockerUserId"])
ARNS = st.sampled_from(["arn:aws:greengrass:us-west-2::/connectors/DockerApplicationDeployment/versions/6",
                        "arn:aws:greengrass:region::/connectors/DockerApplicationDeployment/versions/9",
                        "arn:aws:greengrass:us-west-2::/connectors/SNS/versions/1", "arn:", "[\"x\"]"])
SHAPED = st.recursive(JSON | ARNS, lambda c: st.lists(c, max_size=4) | st.dictionaries(KEYS, c, max_size=6),
                      max_leaves=40)


def check(raw: bytes) -> None:
    result = validate_bytes("x.json", raw)
    code = exit_code([result], strict=False)
    assert code in (0, 1, 2)
    if code == 2:
        assert result.fatal and result.findings
    for f in result.findings:
        assert f.line >= 1 and f.column >= 1 and f.rule[0] in "EWI"


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(JSON)
def test_arbitrary_json(value: object) -> None:
    check(json.dumps(value).encode())


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(SHAPED)
def test_definition_shaped_json(value: object) -> None:
    check(json.dumps(value, indent=1).encode())


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=300))
def test_arbitrary_bytes(raw: bytes) -> None:
    check(raw)


def test_a_10_mb_definition_finishes_in_bounded_time() -> None:
    connector = {"Id": "x", "ConnectorArn": "arn:aws:greengrass:us-west-2::/connectors/SNS/versions/1",
                 "Parameters": {"A": "b" * 100}}
    doc = {"Connectors": [dict(connector, Id=f"c{i}") for i in range(60_000)]}
    raw = json.dumps(doc, indent=2).encode()
    assert len(raw) > 10_000_000
    started = time.monotonic()
    result = validate_bytes("big.json", raw)
    assert time.monotonic() - started < 30
    assert not result.fatal and all(f.rule == "I1006" for f in result.findings)


def test_deep_nesting_is_a_parse_error_not_a_crash() -> None:
    result = validate_bytes("deep.json", b"[" * 100_000 + b"]" * 100_000)
    assert result.fatal and result.findings[0].rule == "E0001"
