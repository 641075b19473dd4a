"""CloudFormation and CDK templates: every DockerApplicationDeployment connector of an
AWS::Greengrass::ConnectorDefinition (under InitialVersion.Connectors) or
AWS::Greengrass::ConnectorDefinitionVersion (under Connectors) is checked as in a definition, its
findings placed in the template and naming the resource's logical id. Intrinsics are judged as far
as they can be and never guessed: a connector ARN through !Sub or Fn::Join with pseudo parameters,
a !Ref of a template parameter through its Default and AllowedValues, a !Sub's literal parts where
the rule allows; what is set at deploy time is an info. Other resources and connectors are left alone.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass, replace
from typing import Any, Iterator

from dadc import arn, profiles
from dadc.validation import rules_connectors as rc
from dadc.validation.findings import Finding, rule
from dadc.validation.intrinsics import (NO_VALUE, UNDEFINED, Template, _candidates, _if, _literal,
                                        _sub_literals, _text)
from dadc.validation.positions import PositionMap, join, raw_index
from dadc.validation.rules_parameters import PATTERN, Deferred, check_parameters
from dadc.validation.rules_secrets import check_secrets

CFN = "https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/aws-resource-greengrass-connectordefinition.html"
RESOURCE = rule("E8001", "template-resource-shape", "AWS::Greengrass::ConnectorDefinition needs Name (and its "
                "InitialVersion holds Connectors, an array); AWS::Greengrass::ConnectorDefinitionVersion needs "
                "ConnectorDefinitionId and Connectors.", CFN)
UNDECIDED = rule("I8002", "template-set-at-deploy-time", "A value CloudFormation decides at deploy time (a Ref to a "
                 "template parameter with neither Default nor AllowedValues, an import, a condition, an attribute): "
                 "it cannot be judged here, and is not guessed.", CFN)
PARAMETERS_JSON = rule("E8003", "template-parameters-json", "Parameters written as a string must hold a JSON "
                       "object (CloudFormation passes it on as JSON).", CFN)
TYPES = {"AWS::Greengrass::ConnectorDefinition": ("InitialVersion", "Connectors"),
         "AWS::Greengrass::ConnectorDefinitionVersion": ("Connectors",)}
REQUIRED = {"AWS::Greengrass::ConnectorDefinition": ("Name",),
            "AWS::Greengrass::ConnectorDefinitionVersion": ("ConnectorDefinitionId", "Connectors")}
_BUCKET_CHARS = re.compile(r"[a-zA-Z0-9.\-]*")


def is_template(data: Any) -> bool:
    return isinstance(data, dict) and isinstance(data.get("Resources"), dict)


def _partial(name: str, value: Any, here: str) -> Iterator[Finding]:
    """A !Sub judged on its literal parts, where the rule allows; an info for what is left."""
    literals = _sub_literals(value)
    if literals is not None and name == "DockerComposeFileS3Bucket":
        bad = [part for part in literals if not _BUCKET_CHARS.fullmatch(part)]
        if bad:
            yield PATTERN(here, f"{name}: the literal part {bad[0]!r} of its !Sub has characters a bucket name "
                                "cannot have ([a-zA-Z0-9.-])")
            return
    if literals is not None and name == "DockerComposeFileDestinationPath" and literals[0]:
        if not literals[0].startswith("/"):
            yield PATTERN(here, f"{name}: its !Sub starts with {literals[0]!r}; the path must be absolute")
            return
    yield UNDECIDED(here, f"{name}: set at deploy time ({'its !Sub' if literals is not None else 'an intrinsic'}"
                          f"{', its literal parts checked' if literals is not None else ''}); not judged here")


def _parameters(raw: Any, here: str, positions: Any) -> tuple[Any, list[Finding], dict[str, tuple[int, int]]]:
    """Parameters as an object: written as one, or as a JSON string (located inside the string)."""
    if not isinstance(raw, str):
        return raw, [], {}
    try:
        value = json.loads(raw)
    except ValueError as exc:
        return None, [PARAMETERS_JSON(here, f"Parameters is a string that is not JSON: {exc}")], {}
    if not isinstance(value, dict):
        return None, [PARAMETERS_JSON(here, "Parameters is a string whose JSON is not an object")], {}
    inner = PositionMap(raw)
    places = {}
    for pointer, offset in inner.keys.items():
        line, column = inner.line_column(offset)
        if isinstance(positions, PositionMap):  # JSON template: through the string literal's escapes
            literal = positions.raw_string(here)
            outer = positions.offsets[here] + raw_index(literal, offset) if literal else positions.offsets[here]
            places[here + pointer] = positions.line_column(outer)
        else:
            places[here + pointer] = positions.inside(here, line, column)
    return value, [], places


def _connector(entry: dict[str, Any], here: str, template: Template, positions: Any,
               assumed: dict[str, bool]) -> tuple[Any, list[Finding], Any]:
    """(the ARN as read, the connector's findings, its parameters as the runtime would take them)."""
    findings: list[Finding] = list(template.undefined(entry, here))
    carn, exact = _text(entry.get("ConnectorArn"), template.pseudo)
    if "ConnectorArn" in entry and carn is None:
        findings.append(UNDECIDED(join(here, "ConnectorArn"), "ConnectorArn is set at deploy time: not checked"))
        return None, findings, None
    if not isinstance(carn, str) or "/connectors/" not in carn or not arn.is_this_connector(carn):
        return carn, findings, None  # another connector: none of this connector's rules judge it
    ref, found = rc.check_arn(carn, join(here, "ConnectorArn"))
    findings += [f for f in found if exact or f.rule not in ("E2002", "E2003")]
    if ref is None:
        return carn, findings, None
    stack = arn.partition_of(template.region) if template.region else None
    if exact and stack and ref.partition and ref.partition != stack:
        findings.append(rc.ARN_PARTITION(join(here, "ConnectorArn"), f"the ARN's partition {ref.partition} is not "
                                         f"{stack}, the partition of {template.region} the stack deploys to"))
    if not exact:  # a pseudo parameter's stand-in: the stack's region and partition when it is known
        ref = replace(ref, region=template.region, partition=stack)
    profile = profiles.get(ref.version)
    pointer = join(here, "Parameters")
    raw_params, found, places = _parameters(entry.get("Parameters"), pointer, positions)
    findings += found
    if raw_params is None and "Parameters" in entry:
        return carn, findings, None
    resolved: dict[str, Any] | Any = raw_params
    extra: list[Finding] = []
    suffixes: dict[str, str] = {}  # a value that is a template parameter's: said in its findings
    if isinstance(raw_params, dict):
        resolved = {}
        for name, value in raw_params.items():
            at = join(pointer, name)
            options, later = _candidates(value, template, assumed)
            if options:
                resolved[name] = options[0][0]
                for other, what in options[1:]:
                    extra += [replace(f, message=f.message + what) for f in
                              check_parameters({name: other}, pointer, profile, here) if f.pointer == at]
                if options[0][1]:
                    suffixes[at] = options[0][1]
            elif later:
                resolved[name] = Deferred(later[0])
            else:
                resolved[name] = value
            if later:
                extra += list(_partial(name, value, at)) if _sub_literals(value) is not None else \
                    [UNDECIDED(at, f"{name}: {reason}; not judged here") for reason in later]
    checked = list(check_parameters(resolved, pointer, profile, here))
    if isinstance(resolved, dict) and isinstance(resolved.get("AWSSecretsArnList"), str) \
            and not isinstance(resolved["AWSSecretsArnList"], Deferred) and profile.parameter("AWSSecretsArnList"):
        checked += list(check_secrets(resolved["AWSSecretsArnList"], join(pointer, "AWSSecretsArnList"), ref,
                                      lambda: positions))
    for f in checked:
        findings.append(replace(f, message=f.message + suffixes.get(f.pointer, "")))
    findings += extra
    refused = [f.pointer.rsplit("/", 1)[0] for f in findings if f.rule == UNDEFINED.id]
    findings = [f for f in findings if not (f.rule == UNDECIDED.id and f.pointer in refused)]  # said once
    for i, f in enumerate(findings):  # inside a JSON string: its own place there
        if f.pointer in places:
            line, column = places[f.pointer]
            findings[i] = replace(f, line=line, column=column)
    if isinstance(raw_params, dict):  # to run it, only literals: a Default may not be what was deployed
        resolved = {name: _literal(value) if _literal(value) is not None else
                    Deferred("set by CloudFormation at deploy time") for name, value in raw_params.items()}
    return carn, findings, resolved


@dataclass
class TemplateConnector:
    logical_id: str
    pointer: str
    id: str | None
    ref: arn.ConnectorRef | None
    parameters: Any


def check(data: dict[str, Any], positions: Any, region: str | None = None) -> tuple[
        list[Finding], list[TemplateConnector], list[tuple[str, str]], dict[str, tuple[str, ...]]]:
    """(findings, our connectors, junit units, suppressions by resource pointer). region: the one the
    stack deploys to, when known (cfn-lint's --regions)."""
    template = Template(data, region)
    findings: list[Finding] = []
    ours: list[TemplateConnector] = []
    units: list[tuple[str, str]] = []
    suppressed: dict[str, tuple[str, ...]] = {}
    for logical_id, resource in data["Resources"].items():
        if not isinstance(resource, dict) or resource.get("Type") not in TYPES:
            continue
        at = join("/Resources", logical_id)
        kind = resource["Type"]
        metadata = resource.get("Metadata")
        ignore = metadata.get("dadc", {}).get("ignore_checks") if isinstance(metadata, dict) and \
            isinstance(metadata.get("dadc"), dict) else None
        if isinstance(ignore, list):
            suppressed[at] = tuple(str(i) for i in ignore)
        mine: list[Finding] = []
        props = resource.get("Properties")
        props_at = join(at, "Properties")
        if not isinstance(props, dict):
            mine.append(RESOURCE(at, f"{kind} needs Properties"))
            props = {}
        for member in REQUIRED[kind]:
            if member not in props:
                mine.append(RESOURCE(props_at, f"{kind} needs {member}"))
        holder, path = props, props_at
        for token in TYPES[kind][:-1]:
            holder = holder.get(token) if isinstance(holder, dict) else None
            path = join(path, token)
        connectors = holder.get("Connectors") if isinstance(holder, dict) else None
        list_at = join(path, "Connectors")
        units.append((logical_id, at))
        if connectors is None:
            if kind == "AWS::Greengrass::ConnectorDefinition" and "InitialVersion" in props:
                mine.append(RESOURCE(path, "InitialVersion must hold Connectors"))
            findings += _named(mine, logical_id)
            continue
        read: list[Any] = []
        counted: set[int] = set()  # one entry per element for the list's own rules (Ids, one connector)
        own = resource.get("Condition")  # the resource exists only where its condition holds
        assumed = {own: True} if isinstance(own, str) else {}
        for index, entry, here, branch, fixed in _entries(connectors if isinstance(connectors, list) else [], list_at,
                                                          assumed):
            first = index not in counted
            counted.add(index)
            if not isinstance(entry, dict):
                if first:
                    read.append(entry)
                continue
            carn, found, params = _connector(entry, here, template, positions, fixed)
            mine += [replace(f, message=f"{f.message} ({branch})") for f in found] if branch else found
            # as read; one set at deploy time stands as another connector
            if first:
                read.append({**entry, "ConnectorArn": carn if carn is not None else _OTHER} if "ConnectorArn" in entry
                            else entry)
            if isinstance(carn, str) and arn.is_this_connector(carn) and params is not None:
                cid = entry.get("Id")
                ref, _ = rc.check_arn(carn, "")
                if ref is not None and not _text(entry.get("ConnectorArn"), template.pseudo)[1]:
                    ref = replace(ref, region=None, partition=None)  # stand-ins: boto3's chain decides
                ours.append(TemplateConnector(logical_id, here, cid if isinstance(cid, str) else None, ref, params))
        mine += [f for f in rc.check_connector_list(read if isinstance(connectors, list) else connectors, list_at)
                 if not (f.rule == "I1006" and _OTHER in f.message)]
        findings += _named(mine, logical_id)
    return findings, ours, units, suppressed


_OTHER = "arn:aws:greengrass:us-east-1::/connectors/SetAtDeployTime/versions/1"


def _entries(connectors: list[Any], list_at: str, assumed: dict[str, bool]) -> Iterator[
        tuple[int, Any, str, str, dict[str, bool]]]:
    """(index, connector, its pointer, which branch, the conditions that branch fixes) of each
    connector as CloudFormation may see it: an Fn::If element gives each branch that is a connector
    (AWS::NoValue: none) and can be reached under the resource's own Condition."""
    for index, entry in enumerate(connectors):
        here = join(list_at, index)
        branches = _if(entry)
        if branches is None:
            yield index, entry, here, "", assumed
            continue
        condition, yes, no = branches
        for k, (branch, word) in enumerate(((yes, "true"), (no, "false")), 1):
            if branch != NO_VALUE and assumed.get(condition, k == 1) == (k == 1):
                yield index, branch, join(join(here, "Fn::If"), k), f"when condition {condition} is {word}", \
                    {**assumed, condition: k == 1}


def _named(findings: list[Finding], logical_id: str) -> list[Finding]:
    """Every finding names its resource's logical id (text, JSON, JUnit and SARIF alike)."""
    return [replace(f, message=f"{logical_id}: {f.message}") for f in findings]
