"""Connector identifiers (ARN, name/versions/N, N, vN, latest) and secret ARNs."""
from __future__ import annotations

import re
from dataclasses import dataclass

from dadc import profiles
from dadc.errors import InvalidParameter

_CONNECTOR_ARN = re.compile(
    r"arn:(?P<partition>[^:]*):greengrass:(?P<region>[^:]*):(?P<account>[^:]*):"
    r"/connectors/(?P<name>[^/]+)/versions/(?P<version>[^/]+)"
)
_SHORT = re.compile(r"(?P<name>[A-Za-z]+)/versions/(?P<version>\d+)")
_NUMBER = re.compile(r"[vV]?(?P<version>\d+)")
PLACEHOLDERS = frozenset({"region", "account-id", "account", "hash", "secret-name"})
# an ECR registry host: ACCOUNT.dkr.ecr[-fips].REGION.amazonaws.com[.cn]


class ArnError(InvalidParameter):
    """``reason`` says which part is wrong: syntax, partition, region, account, connector, version."""

    def __init__(self, message: str, reason: str) -> None:
        super().__init__(message)
        self.reason = reason


@dataclass(frozen=True)
class ConnectorRef:
    version: int
    partition: str | None = None
    region: str | None = None
    arn: str | None = None


def partition_of(region: str) -> str | None:
    """The partition a region belongs to (botocore's patterns, in parameters.json)."""
    for partition, pattern in profiles.settings()["partitions"].items():
        if re.fullmatch(pattern, region):
            return str(partition)
    return None


def region_ok(partition: str, region: str) -> bool:
    pattern = profiles.settings()["partitions"].get(partition)
    return pattern is not None and re.fullmatch(pattern, region) is not None


def _version(text: str) -> int:
    if not text.isdigit():
        raise ArnError(f"version {text!r} is not a number", "version")
    number = int(text)
    if text != str(number):  # the service matches the ARN as text: /versions/05 is no connector
        raise ArnError(f"version {text!r} has a leading zero; the service knows it only as {number}", "version")
    if number not in profiles.known_versions():
        raise ArnError(
            f"unknown version {number} of DockerApplicationDeployment; "
            f"versions {profiles.versions_text()} exist",
            "version",
        )
    return number


def parse_connector_arn(arn: str) -> ConnectorRef:
    """Parse a full connector ARN, checking every field; raise ArnError naming the bad part."""
    m = _CONNECTOR_ARN.fullmatch(arn)
    if not m:
        raise ArnError(
            f"{arn!r} is not a connector ARN "
            "(arn:aws:greengrass:<region>::/connectors/DockerApplicationDeployment/versions/<N>)",
            "syntax",
        )
    partition, region = m["partition"], m["region"]
    if partition not in profiles.settings()["partitions"]:
        raise ArnError(f"unknown partition {partition!r} (aws, aws-cn, aws-us-gov)", "partition")
    if region in PLACEHOLDERS:
        raise ArnError(f"the region is the placeholder {region!r}; put a real region", "region")
    if not region_ok(partition, region):
        raise ArnError(f"{region!r} is not a region of partition {partition}", "region")
    if m["account"]:
        raise ArnError("connector ARNs have an empty account field ('::')", "account")
    if m["name"] != profiles.settings()["connector_name"]:
        raise ArnError(f"{m['name']} is another connector, not DockerApplicationDeployment", "connector")
    return ConnectorRef(_version(m["version"]), partition, region, arn)


def is_this_connector(arn: str) -> bool:
    m = _CONNECTOR_ARN.fullmatch(arn)
    name = m["name"] if m else arn.split("/connectors/")[-1].split("/")[0]
    return name == profiles.settings()["connector_name"]


def resolve(ident: str) -> ConnectorRef:
    """Resolve any accepted identifier to a version."""
    ident = ident.strip()
    if ident.lower() == "latest":
        return ConnectorRef(profiles.latest().version)
    if ident.startswith("arn:"):
        return parse_connector_arn(ident)
    m = _SHORT.fullmatch(ident)
    if m:
        if m["name"] != profiles.settings()["connector_name"]:
            raise ArnError(f"{m['name']} is another connector, not DockerApplicationDeployment", "connector")
        return ConnectorRef(_version(m["version"]))
    m = _NUMBER.fullmatch(ident)
    if m:
        return ConnectorRef(_version(m["version"]))
    raise ArnError(
        f"cannot resolve {ident!r}: give an ARN, DockerApplicationDeployment/versions/N, N, vN "
        f"or latest (versions {profiles.versions_text()})",
        "syntax",
    )
