"""Every request dadc sends to AWS IoT Jobs, built here and checked before it is sent (or printed
by --dry-run): botocore's ParamValidator plus the maxima, patterns and enums of the model it
skips (rollout.check), plus the limits only the API reference states."""
from __future__ import annotations

import hashlib
import re
from typing import Any

from dadc import rollout
from dadc.errors import InvalidParameter

THING_GROUP = re.compile(r"arn:aws(?:-[a-z]+)*:iot:[a-z0-9-]+:\d{12}:thinggroup/([a-zA-Z0-9:_-]{1,128})")
THING = re.compile(r"arn:aws(?:-[a-z]+)*:iot:[a-z0-9-]+:\d{12}:thing/([a-zA-Z0-9:_-]{1,128})")
# UpdateJobExecution's statusDetails, from the API reference (the model states only the key
# pattern and length): at most 10 name/value pairs, each value at most 1,024 characters.
DETAILS_MAX_KEYS, DETAILS_MAX_VALUE = 10, 1024
# A device that never reported (TIMED_OUT) is tried again; one whose health gate failed (FAILED)
# is not: the same release would fail the same way, and each try costs a stop and a start.
RETRY_FAILURE_TYPE = "TIMED_OUT"
ABORT_REASON = "DADC_ROLLBACK"  # CancelJob's reasonCode when `dadc fleet rollback` stops a job first


def group_name(arn: str) -> str:
    m = THING_GROUP.fullmatch(arn)
    if not m:
        raise InvalidParameter(f"--target {arn!r}: not a thing group ARN "
                               "(arn:aws:iot:REGION:ACCOUNT:thinggroup/NAME)")
    return m[1]


def thing_name(arn: str) -> str:
    m = THING.fullmatch(arn)
    if not m:
        raise InvalidParameter(f"{arn!r}: not a thing ARN")
    return m[1]


def job_id(release: str, group: str) -> str:
    """dadc-RELEASE12-GROUP: the same rollout run again finds its job instead of making another
    (dadc keeps no state of its own); a long group name is shortened with a hash."""
    name = re.sub(r"[^a-zA-Z0-9_-]", "_", group)
    if len(name) > 40:
        name = name[:31] + "-" + hashlib.sha256(group.encode()).hexdigest()[:8]
    return f"dadc-{release[:12]}-{name}"


def rollback_id(of: str) -> str:
    return f"rollback-{of}"[:64]


def checked(service: str, operation: str, request: dict[str, Any]) -> dict[str, Any]:
    rollout.check(service, operation, None, request)
    return request


def create_job(job: str, targets: list[str], document: str, plan: rollout.Rollout, *, retries: int | None,
               description: str) -> dict[str, Any]:
    request: dict[str, Any] = {"jobId": job, "targets": targets, "document": document,
                               "description": description, "targetSelection": "SNAPSHOT",
                               **plan.configuration()}
    if retries:
        request["jobExecutionsRetryConfig"] = {"criteriaList": [
            {"failureType": RETRY_FAILURE_TYPE, "numberOfRetries": retries}]}
    return checked("iot", "CreateJob", request)


def cancel_job(job: str, comment: str) -> dict[str, Any]:
    return checked("iot", "CancelJob", {"jobId": job, "reasonCode": ABORT_REASON, "comment": comment})


def describe_job(job: str) -> dict[str, Any]:
    return checked("iot", "DescribeJob", {"jobId": job})


def get_deployment(deployment: str) -> dict[str, Any]:
    return checked("greengrassv2", "GetDeployment", {"deploymentId": deployment})


def get_job_document(job: str) -> dict[str, Any]:
    return checked("iot", "GetJobDocument", {"jobId": job})


def list_executions(job: str, token: str | None = None) -> dict[str, Any]:
    request: dict[str, Any] = {"jobId": job, "maxResults": 250}
    if token:
        request["nextToken"] = token
    return checked("iot", "ListJobExecutionsForJob", request)


def describe_execution(job: str, thing: str) -> dict[str, Any]:
    return checked("iot", "DescribeJobExecution", {"jobId": job, "thingName": thing})


def details(values: dict[str, Any]) -> dict[str, str]:
    """statusDetails within the service's limits: keys of [a-zA-Z0-9:_-], values cut to 1,024
    characters, control characters (a compose message's newlines) made spaces, as the value's
    pattern [^\\p{C}]+ requires; empty ones left out; more than 10 is a programming error."""
    out = {k: CONTROL.sub(" ", str(v))[:DETAILS_MAX_VALUE].strip() for k, v in values.items() if v is not None}
    out = {k: v for k, v in out.items() if v}
    if len(out) > DETAILS_MAX_KEYS:
        raise InvalidParameter(f"statusDetails: {len(out)} keys; the service takes at most {DETAILS_MAX_KEYS}")
    return out


# UpdateJobExecution's model, held here so a device checks its updates without loading botocore
# (tests/unit/test_fleet.py holds these to the model): the statuses a device may set, the key pattern.
DEVICE_STATUSES = ("IN_PROGRESS", "SUCCEEDED", "FAILED", "REJECTED")
CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u200b-\u200f\u2028-\u202e\ufeff]+")  # Java's \p{C}, as rollout.py has it
DETAILS_KEY = re.compile(r"[a-zA-Z0-9:_-]{1,128}")


def update_execution(thing: str, job: str, status: str, status_details: dict[str, str],
                     expected_version: int | None, token: str) -> dict[str, Any]:
    """The payload of $aws/things/THING/jobs/JOB/update: iot-jobs-data UpdateJobExecution's
    input without its URI members (thingName, jobId travel in the topic), plus the clientToken."""
    if status not in DEVICE_STATUSES:
        raise InvalidParameter(f"status {status!r}: a device sets one of {', '.join(DEVICE_STATUSES)}")
    bad = [k for k in status_details if not DETAILS_KEY.fullmatch(k)]
    if bad or len(status_details) > DETAILS_MAX_KEYS or \
            any(not v or len(v) > DETAILS_MAX_VALUE or CONTROL.search(v) for v in status_details.values()):
        raise InvalidParameter(f"statusDetails: at most {DETAILS_MAX_KEYS} keys of {DETAILS_KEY.pattern}, values of "
                               f"1-{DETAILS_MAX_VALUE} characters ({', '.join(map(repr, bad)) or 'a value'})")
    payload: dict[str, Any] = {"status": status, "statusDetails": status_details}
    if expected_version is not None:
        payload["expectedVersion"] = expected_version
    payload["clientToken"] = token
    return payload
