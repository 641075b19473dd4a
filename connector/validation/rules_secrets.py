"""AWSSecretsArnList: a string holding a JSON array of Secrets Manager secret ARNs."""
from __future__ import annotations

import json
import re
import dataclasses
from typing import Any, Callable, Iterator

from dadc import arn, profiles
from dadc.validation.findings import Finding, rule, quoted
from dadc.validation.positions import PositionMap, join, raw_index

SECRETS = "https://docs.aws.amazon.com/greengrass/v1/developerguide/docker-app-connector.html#access-private-repositories"
LIST_FORMAT = rule("E4001", "secrets-list-format",
                   "AWSSecretsArnList is a string that holds a JSON array of strings, e.g. \"[\\\"arn:...\\\"]\".")
ARN_INVALID = rule("E4002", "secret-arn-invalid",
                   "Each element is a Secrets Manager secret ARN: arn:<partition>:secretsmanager:<region>:<account>:secret:<name>-<suffix>.")
PLACEHOLDER = rule("E4003", "secret-arn-placeholder", "An element still holds a documentation placeholder (region, account-id).")
PARTITION = rule("E4004", "secret-partition", "A secret is in the connector's partition.")
REGION = rule("W4005", "secret-region", "A secret in another region than the connector works only with cross-region access.")
PREFIX = rule("W4006", "secret-name-prefix",
              "Greengrass reads secrets whose name starts with greengrass- by default; others need an extra grant in the service role.",
              SECRETS)
PARTIAL = rule("W4007", "secret-arn-partial",
               "A full secret ARN ends in '-' and six random characters; this one may be a partial ARN.")
DUPLICATE = rule("W4008", "secret-arn-duplicate",
                 "An ARN listed twice: the second adds nothing (a copy-paste slip where another secret was meant?).")

_PATTERN = re.compile(profiles.catalogue()["AWSSecretsArnList"].element_pattern.replace("{6}", "+"))


Offset = Callable[[], "int | None"]


def _elements(value: Any, pointer: str, positions: Callable[[], PositionMap]) -> Iterator[tuple[Any, str, Offset] | Finding]:
    if isinstance(value, list):
        yield LIST_FORMAT(pointer, "AWSSecretsArnList must be a string holding the array, not a "
                                   f"JSON array: write {json.dumps(json.dumps(value))}")
        for i, item in enumerate(value):
            yield item, join(pointer, i), lambda: None
        return
    try:
        items = json.loads(value)
    except ValueError:
        yield LIST_FORMAT(pointer, "AWSSecretsArnList is not JSON text; write a JSON array of ARNs "
                                   "as a string, e.g. \"[\\\"arn:aws:secretsmanager:...\\\"]\"")
        return
    if not isinstance(items, list):
        yield LIST_FORMAT(pointer, f"AWSSecretsArnList holds a JSON {type(items).__name__}, not an array")
        return
    cursor = 0
    for i, item in enumerate(items):
        found = value.find(item, cursor) if isinstance(item, str) else -1
        if found >= 0:
            cursor = found + len(item)
        yield item, f"{pointer} element {i}", _offset_of(positions, pointer, found)


def _offset_of(positions: Callable[[], PositionMap], pointer: str, found: int) -> Offset:
    """Where an element sits in the file: computed only when a finding asks (valid files skip it)."""
    def offset() -> int | None:
        if found < 0:
            return None
        raw = positions().raw_string(pointer)
        return positions().offsets[pointer] + raw_index(raw, found) if raw else None
    return offset


def check_secrets(value: Any, pointer: str, ref: arn.ConnectorRef | None,
                  positions: Callable[[], PositionMap]) -> Iterator[Finding]:
    seen: dict[str, str] = {}
    for entry in _elements(value, pointer, positions):
        if isinstance(entry, Finding):
            yield entry
            continue
        item, where, offset = entry
        here = where.split(" element ")[0]
        label = f"element {where.split(' element ')[1]}: " if " element " in where else ""
        if not isinstance(item, str):
            yield ARN_INVALID(here, f"{label}{quoted(item)} is not a string", offset=offset())
            continue
        if item in seen:
            yield DUPLICATE(here, f"{label}{item} is already {seen[item]}", offset=offset())
            continue
        seen[item] = label.rstrip(": ") or "listed"
        for finding in _check_one(item, here, label, ref):
            yield dataclasses.replace(finding, offset=offset())


def _check_one(item: str, here: str, label: str, ref: arn.ConnectorRef | None) -> Iterator[Finding]:
    parts = item.split(":")
    if len(parts) >= 6 and parts[0] == "arn" and parts[2] != "secretsmanager":
        yield ARN_INVALID(here, f"{label}{item} is an ARN of {parts[2]}, not of secretsmanager")
        return
    if len(parts) >= 5 and (parts[3] in arn.PLACEHOLDERS or parts[4] in arn.PLACEHOLDERS):
        yield PLACEHOLDER(here, f"{label}{item} still holds a placeholder; put the real region and account")
        return
    m = _PATTERN.fullmatch(item)
    if not m:
        yield ARN_INVALID(here, f"{label}{quoted(item)} is not a Secrets Manager secret ARN "
                                "(arn:aws:secretsmanager:<region>:<account>:secret:<name>-<suffix>)")
        return
    partition, region, _, name, suffix = m.groups()
    if not arn.region_ok(partition, region):
        yield ARN_INVALID(here, f"{label}{quoted(region)} is not a region of partition {partition}")
    if ref and ref.partition and partition != ref.partition:
        yield PARTITION(here, f"{label}secret is in partition {partition}, the connector in {ref.partition}")
    elif ref and ref.region and region != ref.region:
        yield REGION(here, f"{label}secret is in {region}, the connector in {ref.region}")
    if len(suffix) != 6:  # a partial ARN: what looked like a suffix is part of the name
        name = f"{name}-{suffix}"
        yield PARTIAL(here, f"{label}suffix {quoted(suffix)} is not six characters: a partial or example ARN?")
    if not name.startswith("greengrass-"):
        yield PREFIX(here, f"{label}secret name {quoted(name)} does not start with greengrass-; grant "
                           "secretsmanager:GetSecretValue on it in the service role")
