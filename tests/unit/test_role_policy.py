"""The group role preflight: IAM's evaluation of an identity policy, offline."""
from __future__ import annotations

import json
from pathlib import Path
from urllib.parse import quote

import pytest

from dadc import cli
from dadc.validation.rolepolicy import PolicyError, evaluate, load

OBJ = "arn:aws:s3:::bucket-a/app/compose.yml"


def policy(*statements: dict) -> dict:  # type: ignore[type-arg]
    return load(json.dumps({"Version": "2012-10-17", "Statement": list(statements)}).encode())


def allow(action: object, resource: object, **extra: object) -> dict:  # type: ignore[type-arg]
    return {"Effect": "Allow", "Action": action, "Resource": resource, **extra}


@pytest.mark.parametrize(("statements", "outcome"), [
    ([allow("s3:GetObject", "arn:aws:s3:::bucket-a/*")], "allowed"),
    ([allow("s3:Get*", "arn:aws:s3:::bucket-?/app/*")], "allowed"),
    ([allow("S3:GETOBJECT", OBJ)], "allowed"),  # action names ignore case...
    ([allow("s3:GetObject", "arn:aws:s3:::BUCKET-A/*")], "not-allowed"),  # ...resources do not
    ([allow("s3:GetObject", "arn:aws:s3:::bucket-a")], "not-allowed"),  # the bucket is not its objects
    ([allow("s3:PutObject", "*")], "not-allowed"),
    ([{"Effect": "Allow", "NotAction": "iam:*", "Resource": "*"}], "allowed"),
    ([{"Effect": "Allow", "NotAction": "s3:*", "Resource": "*"}], "not-allowed"),
    ([{"Effect": "Allow", "Action": "*", "NotResource": "arn:aws:s3:::other/*"}], "allowed"),
    ([{"Effect": "Allow", "Action": "*", "NotResource": "arn:aws:s3:::bucket-a/*"}], "not-allowed"),
    ([allow("*", "*"), {"Effect": "Deny", "Action": "s3:GetObject", "Resource": OBJ}], "denied"),  # Deny wins
    ([allow("*", "*"), {"Effect": "Deny", "NotAction": "s3:GetObject", "Resource": "*"}], "allowed"),
    ([allow("*", "*"), {"Effect": "Deny", "Action": "s3:*", "Resource": "*",
                        "Condition": {"Bool": {"aws:SecureTransport": "false"}}}], "undecided"),
    ([{"Effect": "Deny", "Action": "s3:*", "Resource": "*", "Condition": {"x": {}}}], "not-allowed"),
    ([allow("s3:GetObject", OBJ, Condition={"StringEquals": {"s3:ExistingObjectTag/x": "y"}})], "undecided"),
    ([allow("s3:GetObject", OBJ, Condition={"x": {}}), allow("s3:GetObject", "*")], "allowed"),
    ([allow("s3:GetObject", "arn:aws:s3:::bucket-a/${aws:username}/*")], "undecided"),
    ([], "not-allowed"),
])
def test_evaluation_as_iam_does_it(statements: list, outcome: str) -> None:  # type: ignore[type-arg]
    assert evaluate(policy(*statements), "s3:GetObject", OBJ).outcome == outcome


def test_the_shapes_aws_prints_are_read() -> None:
    doc = {"Version": "2012-10-17", "Statement": allow("s3:GetObject", OBJ)}  # one statement, not a list
    assert evaluate(load(json.dumps(doc).encode()), "s3:GetObject", OBJ).outcome == "allowed"
    wrapped = {"RoleName": "r", "PolicyName": "p", "PolicyDocument": doc}  # aws iam get-role-policy
    assert evaluate(load(json.dumps(wrapped).encode()), "s3:GetObject", OBJ).outcome == "allowed"
    encoded = {"PolicyVersion": {"Document": quote(json.dumps(doc))}}  # the API's URL-encoded form
    assert evaluate(load(json.dumps(encoded).encode()), "s3:GetObject", OBJ).outcome == "allowed"
    for bad in (b"not json", b"[]", b'{"Statement": [{"Effect": "Maybe", "Action": "*", "Resource": "*"}]}',
                b'{"Statement": [{"Effect": "Allow", "Resource": "*"}]}'):
        with pytest.raises(PolicyError):
            load(bad)


DOCUMENTED = {  # the reference's two example policies, filled in
    "Version": "2012-10-17",
    "Statement": [
        {"Sid": "AllowAccessToComposeFileS3Bucket", "Action": ["s3:GetObject", "s3:GetObjectVersion"],
         "Effect": "Allow", "Resource": "arn:aws:s3:::bucket-a/*"},
        {"Sid": "AllowGetEcrRepositories", "Effect": "Allow", "Action": ["ecr:GetDownloadUrlForLayer", "ecr:BatchGetImage"],
         "Resource": ["arn:aws:ecr:us-west-2:123456789012:repository/team/app"]},
        {"Sid": "AllowGetEcrAuthToken", "Effect": "Allow", "Action": "ecr:GetAuthorizationToken", "Resource": "*"},
        {"Effect": "Allow", "Action": "secretsmanager:GetSecretValue",
         "Resource": "arn:aws:secretsmanager:us-west-2:123456789012:secret:greengrass-*"}]}
SECRET = "arn:aws:secretsmanager:us-west-2:123456789012:secret:greengrass-reg-AbCdEf"


def write(tmp: Path, version: str | None = "v1", secrets: list[str] | None = None) -> Path:
    params = {"DockerComposeFileS3Bucket": "bucket-a", "DockerComposeFileS3Key": "app/compose.yml",
              "DockerComposeFileDestinationPath": "/d", "DockerUserId": "1000"}
    if version:
        params["DockerComposeFileS3Version"] = version
    if secrets:
        params["AWSSecretsArnList"] = json.dumps(secrets)
    path = tmp / "def.json"
    path.write_text(json.dumps({"Connectors": [{"Id": "a", "ConnectorArn":
        "arn:aws:greengrass:us-west-2::/connectors/DockerApplicationDeployment/versions/7", "Parameters": params}]}, indent=2))
    return path


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, list[dict]]:  # type: ignore[type-arg]
    code = cli.main(["validate", "--format", "json", *args])
    out = capsys.readouterr().out
    return code, json.loads(out)["files"][0]["findings"] if out.strip() else []


def test_the_documented_policy_is_enough(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "policy.json").write_text(json.dumps(DOCUMENTED))
    (tmp_path / "compose.yml").write_text("services:\n  web:\n    image: 123456789012.dkr.ecr.us-west-2.amazonaws.com/team/app:1\n")
    code, findings = run(capsys, str(write(tmp_path, secrets=[SECRET])), "--role-policy", str(tmp_path / "policy.json"),
                         "--compose", str(tmp_path / "compose.yml"))
    assert code == 0 and findings == []


def test_each_missing_permission_is_located_at_the_parameter_that_needs_it(tmp_path: Path,
                                                                           capsys: pytest.CaptureFixture[str]) -> None:
    narrow = {"Version": "2012-10-17", "Statement": [allow("s3:GetObject", "arn:aws:s3:::bucket-a/*")]}
    (tmp_path / "policy.json").write_text(json.dumps({"RoleName": "gg", "PolicyName": "p", "PolicyDocument": narrow}))
    (tmp_path / "compose.yml").write_text("services:\n  web:\n    image: 123456789012.dkr.ecr.eu-west-1.amazonaws.com/x:1\n")
    code, findings = run(capsys, str(write(tmp_path, secrets=[SECRET])), "--role-policy", str(tmp_path / "policy.json"),
                         "--compose", str(tmp_path / "compose.yml"))
    got = sorted((f["rule"], f["pointer"].rsplit("/", 1)[-1]) for f in findings)
    assert code == 1 and got == [("E6001", "0"), ("E6001", "0"), ("E6001", "0"), ("E6001", "AWSSecretsArnList"),
                                 ("E6001", "DockerComposeFileS3Version"), ("W6004", "ConnectorArn")]
    assert all(f["line"] > 1 for f in findings)
    code, findings = run(capsys, str(write(tmp_path, version=None)), "--role-policy", str(tmp_path / "policy.json"))
    assert code == 0 and findings == []  # no pinned version: s3:GetObject alone is enough


def test_usage_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "bad.json").write_text("{}")
    assert cli.main(["validate", str(write(tmp_path)), "--role-policy", str(tmp_path / "bad.json")]) == 2
    assert "no Statement" in capsys.readouterr().err
    assert cli.main(["validate", str(write(tmp_path)), "--compose", str(tmp_path / "c.yml")]) == 2
    assert cli.main(["validate", str(write(tmp_path)), "--role-policy", str(tmp_path / "missing.json")]) == 2
