from __future__ import annotations

import pytest

from dadc import arn, profiles
from dadc.errors import InvalidParameter

ARN = "arn:aws:greengrass:us-west-2::/connectors/DockerApplicationDeployment/versions/{}"


def test_seven_versions_registered_from_data() -> None:
    assert profiles.known_versions() == [1, 2, 3, 4, 5, 6, 7]
    assert profiles.latest().version == 7


@pytest.mark.parametrize(("version", "sequence"), [
    (1, ["down", "up"]), (2, ["down", "up"]), (3, ["down", "up"]),
    (4, ["down", "pull", "up"]), (5, ["pull", "down", "up"]), (6, ["pull", "down", "up"]),
])
def test_start_sequence_follows_the_changelog(version: int, sequence: list[str]) -> None:
    commands = [s.command for s in profiles.get(version).start_sequence]
    assert commands[:2] == ["fetch", "login"]  # every version fetches the file, then logs in
    assert commands[2:] == sequence


@pytest.mark.parametrize(("name", "since"), [
    ("ForceDeploy", 2), ("DockerPullBeforeUp", 5), ("StopContainersOnNewDeployment", 6),
    ("DockerComposeFileS3Bucket", 1),
])
def test_parameters_appear_in_the_version_that_introduced_them(name: str, since: int) -> None:
    for v in profiles.known_versions():
        assert (profiles.get(v).parameter(name) is not None) == (v >= since), (name, v)


def test_defaults_and_flags() -> None:
    v6, v4 = profiles.get(6), profiles.get(4)
    assert v6.effective({})["DockerContainerStatusLogFrequency"] == "300"
    assert v6.flag({}, "DockerPullBeforeUp") and v6.flag({}, "StopContainersOnNewDeployment")
    assert not v6.flag({}, "ForceDeploy")
    assert v6.flag({"ForceDeploy": "True"}, "ForceDeploy")  # the documented example's spelling
    assert not v6.flag({"DockerPullBeforeUp": "false"}, "DockerPullBeforeUp")
    # a version without the parameter ignores it and reads the catalogue default
    assert v4.flag({"DockerPullBeforeUp": "false"}, "DockerPullBeforeUp")


@pytest.mark.parametrize(("ident", "version", "partition", "region"), [
    (ARN.format(5), 5, "aws", "us-west-2"),
    ("arn:aws-cn:greengrass:cn-northwest-1::/connectors/DockerApplicationDeployment/versions/2", 2, "aws-cn", "cn-northwest-1"),
    ("arn:aws-us-gov:greengrass:us-gov-east-1::/connectors/DockerApplicationDeployment/versions/6", 6, "aws-us-gov", "us-gov-east-1"),
    ("DockerApplicationDeployment/versions/3", 3, None, None),
    ("4", 4, None, None), ("v1", 1, None, None), ("V6", 6, None, None), ("latest", 7, None, None),
])
def test_resolve(ident: str, version: int, partition: str | None, region: str | None) -> None:
    ref = arn.resolve(ident)
    assert (ref.version, ref.partition, ref.region) == (version, partition, region)


@pytest.mark.parametrize(("ident", "reason"), [
    (ARN.format(8), "version"), ("8", "version"), ("v0", "version"), (ARN.format("05"), "version"),
    (ARN.replace("us-west-2", "region").format(5), "region"),
    (ARN.replace("us-west-2", "cn-north-1").format(5), "region"),
    (ARN.replace(":aws:", ":aws-xx:").format(5), "partition"),
    ("arn:aws:greengrass:us-west-2::/connectors/SNS/versions/1", "connector"),
    ("Kinesis/versions/1", "connector"),
    ("arn:aws:greengrass:us-west-2:123456789012:/connectors/DockerApplicationDeployment/versions/1", "account"),
    ("arn:aws:s3:::bucket", "syntax"), ("five", "syntax"),
])
def test_resolve_errors_say_what_is_wrong(ident: str, reason: str) -> None:
    with pytest.raises(arn.ArnError) as info:
        arn.resolve(ident)
    assert info.value.reason == reason
    assert isinstance(info.value, InvalidParameter)
    if reason == "version":  # says which versions exist, or how the service writes the number
        assert "1-7" in str(info.value) or "the service knows it only as 5" in str(info.value)


def test_every_profile_matches_the_profile_schema_and_names_known_parameters() -> None:
    """The schema lists exactly the members the code reads: anything else in a profile fails."""
    import json
    from pathlib import Path

    import jsonschema
    folder = Path(__file__).resolve().parents[2] / "versions"
    schema = json.loads((folder / "profile.schema.json").read_text())
    for path in sorted(folder.glob("v*.json")):
        raw = json.loads(path.read_text())
        jsonschema.validate(raw, schema)
        profile = profiles.get(raw["version"])
        for command in profile.start_sequence + profile.stop_sequence:
            for name in filter(None, (command.when, command.fallback and command.fallback.when)):
                assert profile.parameter(name) is not None, (path.name, name)
                assert profile.parameter(name).kind == "boolean", (path.name, name)
