"""The group role preflight: does an IAM policy document allow what the connector will do?

Evaluated as IAM evaluates an identity policy: an explicit Deny wins, then an Allow, else the
request is implicitly denied. Action and NotAction match with the * and ? wildcards, case
insensitive; Resource and NotResource likewise, case sensitive. A statement with a Condition,
or a resource with a policy variable (${aws:username}), cannot be decided offline: it is
reported as such, never guessed.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any, Iterator
from urllib.parse import unquote

from dadc.domain.images import parse as parse_image
from dadc.validation.engine import LocatedConnector
from dadc.validation.findings import Finding, rule
from dadc.validation.positions import join

REQS = "https://docs.aws.amazon.com/greengrass/v1/developerguide/docker-app-connector.html#docker-app-connector-req"
NOT_ALLOWED = rule("E6001", "role-policy-not-allowed",
                   "The group role's policy must allow what the connector does: s3:GetObject on the compose file "
                   "(and s3:GetObjectVersion for a pinned version), secretsmanager:GetSecretValue on each secret, "
                   "and the three ECR actions for each ECR image (--compose).", REQS)
DENIED = rule("E6002", "role-policy-denied", "A Deny statement of the group role's policy refuses what the connector needs.",
              REQS)
UNDECIDED = rule("W6003", "role-policy-undecided",
                 "A statement with a Condition or a policy variable decides the request: that cannot be checked "
                 "offline, so dadc says so instead of guessing.", REQS)
ECR_REGION = rule("W6004", "ecr-repository-region",
                  "ECR repositories must be in the same AWS Region as the connector.", REQS)


class PolicyError(ValueError):
    """The file is not an IAM policy document (or get-role-policy / get-policy-version output)."""


def load(raw: bytes) -> dict[str, Any]:
    try:
        doc = json.loads(raw.decode("utf-8-sig"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise PolicyError(f"not JSON: {exc}") from None
    if isinstance(doc, dict):
        doc = doc.get("PolicyDocument") or (doc.get("PolicyVersion") or {}).get("Document") or doc
    if isinstance(doc, str):  # the API returns the document URL-encoded
        try:
            doc = json.loads(unquote(doc))
        except ValueError as exc:
            raise PolicyError(f"the embedded policy document is not JSON: {exc}") from None
    if not isinstance(doc, dict) or "Statement" not in doc:
        raise PolicyError("no Statement: give a policy document, or what `aws iam get-role-policy` prints")
    statements = doc["Statement"] if isinstance(doc["Statement"], list) else [doc["Statement"]]
    for i, st in enumerate(statements):
        if not isinstance(st, dict) or st.get("Effect") not in ("Allow", "Deny"):
            raise PolicyError(f"statement {i} has no Effect Allow or Deny")
        if not (("Action" in st) ^ ("NotAction" in st)) or not (("Resource" in st) ^ ("NotResource" in st)):
            raise PolicyError(f"statement {i} needs one of Action/NotAction and one of Resource/NotResource")
    return {"Statement": statements}


def _listed(value: Any) -> list[str]:
    return [str(v) for v in (value if isinstance(value, list) else [value])]


def _wildcard(pattern: str, value: str, *, ignore_case: bool) -> bool:
    regex = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.fullmatch(regex, value, re.IGNORECASE | re.DOTALL if ignore_case else re.DOTALL) is not None


def _applies(st: dict[str, Any], action: str, resource: str) -> bool:
    if "Action" in st:
        hit = any(_wildcard(p, action, ignore_case=True) for p in _listed(st["Action"]))
    else:
        hit = not any(_wildcard(p, action, ignore_case=True) for p in _listed(st["NotAction"]))
    if not hit:
        return False
    if "Resource" in st:
        return any(_wildcard(p, resource, ignore_case=False) for p in _listed(st["Resource"]) if "${" not in p) \
            or any("${" in p for p in _listed(st["Resource"]))
    return not any(_wildcard(p, resource, ignore_case=False) for p in _listed(st["NotResource"]) if "${" not in p)


def _uncertain(st: dict[str, Any]) -> str:
    if "Condition" in st:
        return f"statement {st.get('Sid') or '(no Sid)'} has a Condition"
    if any("${" in p for p in _listed(st.get("Resource", st.get("NotResource", [])))):
        return f"statement {st.get('Sid') or '(no Sid)'} has a policy variable"
    return ""


@dataclass(frozen=True)
class Decision:
    outcome: str  # allowed, denied, not-allowed, undecided
    why: str = ""


def evaluate(policy: dict[str, Any], action: str, resource: str) -> Decision:
    allowed, deny_maybe, allow_maybe = False, [], []
    for st in policy["Statement"]:
        if not _applies(st, action, resource):
            continue
        uncertain = _uncertain(st)
        if st["Effect"] == "Deny":
            if not uncertain:
                return Decision("denied", f"statement {st.get('Sid') or '(no Sid)'} denies it")
            deny_maybe.append(f"a Deny may apply: {uncertain}")
        elif uncertain:
            allow_maybe.append(f"only an Allow with a condition applies: {uncertain}")
        else:
            allowed = True
    if allowed:
        return Decision("undecided", "; ".join(deny_maybe)) if deny_maybe else Decision("allowed")
    return Decision("undecided", "; ".join(allow_maybe)) if allow_maybe else Decision("not-allowed")


@dataclass(frozen=True)
class Need:
    action: str
    resource: str
    pointer: str
    why: str


def needs(connector: LocatedConnector, images: list[str]) -> Iterator[Need | Finding]:
    params = connector.parameters if isinstance(connector.parameters, dict) else {}
    here = join(connector.pointer, "Parameters") if connector.pointer else ""
    partition = (connector.ref.partition if connector.ref else None) or "aws"
    bucket, key = params.get("DockerComposeFileS3Bucket"), params.get("DockerComposeFileS3Key")
    if isinstance(bucket, str) and isinstance(key, str):
        obj = f"arn:{partition}:s3:::{bucket}/{key}"
        yield Need("s3:GetObject", obj, join(here, "DockerComposeFileS3Key"), "the compose file")
        if isinstance(params.get("DockerComposeFileS3Version"), str):
            yield Need("s3:GetObjectVersion", obj, join(here, "DockerComposeFileS3Version"),
                       "the compose file's pinned version")
    raw = params.get("AWSSecretsArnList")
    try:
        secrets = json.loads(raw) if isinstance(raw, str) else []
    except ValueError:
        secrets = []  # its own rules (E4001) say what is wrong with it
    for arn in secrets if isinstance(secrets, list) else []:
        if isinstance(arn, str):
            yield Need("secretsmanager:GetSecretValue", arn, join(here, "AWSSecretsArnList"), "a registry secret")
    for image in images:
        ref = parse_image(image)
        m = ref.ecr
        if not m or not ref.repository:
            continue
        where = connector.pointer or ""
        region = connector.ref.region if connector.ref else None
        if region and m["region"] != region:
            yield ECR_REGION(join(where, "ConnectorArn") if where else "",
                             f"image {image}: repository in {m['region']}, the connector in {region}")
        arn = ref.ecr_arn(partition)
        yield Need("ecr:GetAuthorizationToken", "*", where, f"image {image}")
        for action in ("ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"):
            yield Need(action, arn, where, f"image {image}")


def check(connector: LocatedConnector, policy: dict[str, Any], images: list[str]) -> Iterator[Finding]:
    seen = set()
    for need in needs(connector, images):
        if isinstance(need, Finding):
            yield need
            continue
        if (need.action, need.resource) in seen:
            continue
        seen.add((need.action, need.resource))
        decision = evaluate(policy, need.action, need.resource)
        what = f"{need.action} on {need.resource} ({need.why})"
        if decision.outcome == "denied":
            yield DENIED(need.pointer, f"the role policy denies {what}: {decision.why}")
        elif decision.outcome == "not-allowed":
            yield NOT_ALLOWED(need.pointer, f"the role policy does not allow {what}")
        elif decision.outcome == "undecided":
            yield UNDECIDED(need.pointer, f"cannot decide whether the role policy allows {what}: {decision.why}")
