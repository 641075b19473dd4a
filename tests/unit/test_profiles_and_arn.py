from __future__ import annotations

import pytest

from connector import arn, profiles
from connector.errors import InvalidParameter

ARN = "arn:aws:greengrass:us-west-2::/connectors/DockerApplicationDeployment/versions/{}"


def test_six_versions_registered_from_data() -> None:
    assert profiles.known_versions() == [1, 2, 3, 4, 5, 6]
    assert profiles.latest().version == 6


@pytest.mark.parametrize(("version", "sequence"), [
    (1, ["down", "up"]), (2, ["down", "up"]), (3, ["down", "up"]),
    (4, ["down", "pull", "up"]), (5, ["pull", "down", "up"]), (6, ["pull", "down", "up"]),
])
def test_start_sequence_follows_the_changelog(version: int, sequence: list[str]) -> None:
    assert [s.command for s in profiles.get(version).start_sequence] == sequence


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
    ("4", 4, None, None), ("v1", 1, None, None), ("V6", 6, None, None), ("latest", 6, None, None),
])
def test_resolve(ident: str, version: int, partition: str | None, region: str | None) -> None:
    ref = arn.resolve(ident)
    assert (ref.version, ref.partition, ref.region) == (version, partition, region)


@pytest.mark.parametrize(("ident", "reason"), [
    (ARN.format(7), "version"), ("7", "version"), ("v0", "version"),
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
    if reason == "version":
        assert "1-6" in str(info.value)
