"""A connector's Parameters against its version's profile."""
from __future__ import annotations

import difflib
import json
import ipaddress
from typing import Any, Iterator

from dadc import profiles
from dadc.profiles import Profile
from dadc.validation.findings import Finding, rule, quoted
from dadc.validation.positions import join

SHAPE = rule("E3001", "parameters-shape", "Parameters is an object (a map of string to string).")
TYPE = rule("E3002", "parameter-type", "Every parameter value is a string: the service takes a map of string to string.")
REQUIRED = rule("E3003", "parameter-required", "Each parameter the version requires is present.")
UNKNOWN = rule("E3004", "parameter-unknown", "The version has no such parameter (it may come with a later version, or be misspelt).")
PATTERN = rule("E3005", "parameter-pattern", "Each value matches its documented pattern, anchored.")
BOOLEAN_CASE = rule("W3006", "boolean-case",
                    "A boolean is documented as ^(true|false)$; other cases (\"True\") work but do not match the pattern. --strict makes this an error.")
NULL_VERSION = rule("I3007", "s3-null-version",
                    "DockerComposeFileS3Version \"null\" is S3's name for the version of an object stored before versioning was enabled.")
KEY_TOO_LONG = rule("E3008", "s3-key-too-long", "An S3 object key is at most 1,024 bytes of UTF-8: a longer "
                    "DockerComposeFileS3Key names no object S3 can hold.",
                    "https://docs.aws.amazon.com/AmazonS3/latest/userguide/object-keys.html")
ROOT = rule("W5001", "docker-user-root", "DockerUserId 0 runs docker as root; the documentation advises against it.",
            "https://docs.aws.amazon.com/greengrass/v1/developerguide/docker-app-connector.html#docker-app-connector-linux-user")
BUCKET_RULES = "https://docs.aws.amazon.com/AmazonS3/latest/userguide/bucketnamingrules.html"
BUCKET_LEGACY = rule("W5002", "bucket-name-legacy",
                     "The bucket name breaks S3's current naming rules (upper case, '..', IP-like, bad first or last character, a reserved prefix xn--, sthree-, amzn-s3-demo-): such buckets can no longer be created.",
                     BUCKET_RULES)
BUCKET_RESERVED = rule("W5003", "bucket-name-reserved-suffix",
                       "The name ends in a suffix S3 reserves for something that is not a general purpose bucket (an access point alias, a directory bucket...): it may work for GetObject, with a role policy for that resource, or not at all.",
                       BUCKET_RULES)
NO_USER = rule("I5004", "docker-user-default",
               "Without DockerUserId the original connector ran docker as ggc_user; dadc runs it as its own user (root under the systemd unit). See the README on running dadc unprivileged.",
               "https://docs.aws.amazon.com/greengrass/v1/developerguide/docker-app-connector.html#docker-app-connector-linux-user")
_RESERVED_PREFIXES = ("xn--", "sthree-", "amzn-s3-demo-")
_RESERVED_SUFFIXES = {"-s3alias": "an S3 access point alias (GetObject works through it, with a policy for the access point)",
                      "--ol-s3": "an S3 Object Lambda access point alias",
                      "--x-s3": "an S3 directory bucket (S3 Express One Zone)",
                      ".mrap": "a Multi-Region Access Point name (GetObject needs its ARN, not this name)",
                      "--table-s3": "an S3 table bucket (it holds tables, not a compose file)"}


class Deferred(str):
    """A value a template leaves to CloudFormation at deploy time (the text says why): present for
    the required-parameter rule, judged by no other."""


def _unknown(name: str, profile: Profile, pointer: str) -> Finding:
    catalogue = profiles.catalogue()
    if name in catalogue:
        return UNKNOWN(pointer, f"{name} is not a parameter of version {profile.version}; "
                                f"it was introduced in version {catalogue[name].since}")
    by_lower = {n.lower(): n for n in profile.parameter_names}
    guess = by_lower.get(name.lower()) or next(
        iter(difflib.get_close_matches(name, profile.parameter_names, n=1, cutoff=0.75)), None)
    hint = f"; did you mean {guess}?" if guess else ""
    return UNKNOWN(pointer, f"{name} is not a parameter of version {profile.version}{hint}")


def _bucket_warnings(value: str, pointer: str) -> Iterator[Finding]:
    problems = []
    if value != value.lower():
        problems.append("upper-case letters")
    if ".." in value:
        problems.append("'..'")
    if not (value[0].isalnum() and value[-1].isalnum()):
        problems.append("a first or last character that is not a letter or digit")
    try:
        ipaddress.IPv4Address(value)
        problems.append("the form of an IP address")
    except ValueError:
        pass
    problems += [f"the reserved prefix {p}" for p in _RESERVED_PREFIXES if value.lower().startswith(p)]
    if problems:
        yield BUCKET_LEGACY(pointer, f"bucket name {quoted(value)} has {', '.join(problems)}; S3 no longer "
                                     "accepts it for new buckets")
    for suffix, what in _RESERVED_SUFFIXES.items():
        if value.lower().endswith(suffix):
            yield BUCKET_RESERVED(pointer, f"{quoted(value)} ends in {suffix}, which S3 reserves: this names {what}")


def check_parameters(params: Any, pointer: str, profile: Profile, connector_pointer: str) -> Iterator[Finding]:
    if params is None:
        params = {}
        pointer = connector_pointer
    elif not isinstance(params, dict):
        yield SHAPE(pointer, "Parameters must be an object")
        return
    for p in profile.parameters:
        if p.required and p.name not in params:
            yield REQUIRED(pointer, f"{p.name} is required by version {profile.version}")
    if profile.parameter("DockerUserId") and "DockerUserId" not in params:
        yield NO_USER(pointer, "no DockerUserId: the original ran docker as ggc_user; dadc runs it as its own "
                               "user (root under the systemd unit)")
    for name, value in params.items():
        here = join(pointer, name)
        spec = profile.parameter(name)
        if spec is None:
            yield _unknown(name, profile, here)
            continue
        if spec.kind == "secret-arn-list" or isinstance(value, Deferred):
            continue  # its own rules (rules_secrets), which also explain a non-string value; or not decidable
        if not isinstance(value, str):
            yield TYPE(here, f"{name} must be a string, not {type(value).__name__} "
                             f"(write {json_string(value)})")
            continue
        if name == "DockerComposeFileS3Key" and len(value.encode("utf-8")) > 1024:
            yield KEY_TOO_LONG(here, f"the key is {len(value.encode('utf-8'))} bytes of UTF-8; S3 keys are at most 1,024")
            continue
        shown = _pattern_text(spec, profile.version)
        if spec.matches(value) and (spec.maximum is None or int(value) <= spec.maximum):
            yield from _value_notes(name, value, here)
        elif spec.matches(value):
            yield PATTERN(here, f"{name} {quoted(value)} is more than {spec.maximum}, the largest version "
                                f"{profile.version} accepts")
        elif spec.kind == "boolean" and spec.matches(value, ignore_case=True):
            yield BOOLEAN_CASE(here, f"{name} {quoted(value)} does not match {shown}; write {value.lower()!r}")
        else:
            yield PATTERN(here, f"{name} {quoted(value)} does not match {shown}{_later_hint(name, value, profile)}")


def _pattern_text(spec: profiles.Parameter, version: int) -> str:
    """The documented pattern, or dadc's where a version changed it (docs/compatibility.md)."""
    changed = [v for v in spec.changed_in() if v <= version]
    return f"{spec.pattern} (version {changed[-1]}; see docs/compatibility.md)" if changed else spec.documented_pattern


def _later_hint(name: str, value: str, profile: Profile) -> str:
    """A value a later version accepts (a 32-bit UID before version 7) says so."""
    for version in profiles.known_versions():
        later = profiles.get(version).parameter(name)
        if version > profile.version and later is not None and later.matches(value) \
                and (later.maximum is None or int(value) <= later.maximum):
            return f"; version {version} accepts it"
    return ""


def _value_notes(name: str, value: str, pointer: str) -> Iterator[Finding]:
    if name == "DockerUserId" and int(value) == 0:
        yield ROOT(pointer, "DockerUserId 0 runs docker and compose as root")
    elif name == "DockerComposeFileS3Bucket":
        yield from _bucket_warnings(value, pointer)
    elif name == "DockerComposeFileS3Version" and value == "null":
        yield NULL_VERSION(pointer, "\"null\" selects S3's null version (stored before versioning was enabled)")


def json_string(value: Any) -> str:
    """How to write a value as the string the service takes: true -> "true", 5 -> "5"."""
    return json.dumps(value if isinstance(value, str) else json.dumps(value))


def check_value_types(params: Any, pointer: str) -> Iterator[Finding]:
    """Any connector's Parameters: the service takes a map of string to string."""
    if params is not None and not isinstance(params, dict):
        yield SHAPE(pointer, "Parameters must be an object")
    elif params:
        for name, value in params.items():
            if not isinstance(value, str):
                yield TYPE(join(pointer, name), f"{name} must be a string, not {type(value).__name__}")
