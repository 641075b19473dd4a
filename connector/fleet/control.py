"""The operator's side: a rollout's requests (the definition uploaded where it needs to be, one
job per wave), a job's status, and the fleet rollback. dadc keeps no state of its own: a job's id
comes from its release and group, so running the same rollout again finds the job it made."""
from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Callable

from dadc import rollout
from dadc.errors import DadcError, InvalidParameter
from dadc.fleet import document, requests

ENDED = ("COMPLETED", "CANCELED", "DELETION_IN_PROGRESS")
TERMINAL = ("SUCCEEDED", "FAILED", "TIMED_OUT", "REJECTED", "REMOVED", "CANCELED")


@dataclass
class Request:
    """One request dadc sends: what --dry-run prints, what a real run sends in order."""

    service: str
    operation: str
    params: dict[str, Any]

    def to_json(self) -> dict[str, Any]:
        shown = dict(self.params)
        if self.operation == "PutObject":
            shown["Body"] = f"<{len(self.params['Body'])} bytes>"
        return {"service": self.service, "operation": self.operation, "request": shown}


@dataclass
class RolloutPlan:
    release: str
    upload: Request | None
    jobs: list[Request] = field(default_factory=list)


def plan_rollout(raw: bytes, targets: list[str], plan: rollout.Rollout, *, upload: str | None,
                 retries: int | None, gate: float | None, stable: float | None,
                 version_id: str = "<the version id PutObject returns>") -> RolloutPlan:
    """The requests of a rollout, every one checked. raw: the definition's bytes, already valid."""
    if not targets:
        raise InvalidParameter("give --target THING-GROUP-ARN (several: waves, in order)")
    groups = [requests.group_name(t) for t in targets]
    release = document.release_of(raw)
    put = None
    inline: str | None = None
    s3 = None
    if upload:
        if not upload.startswith("s3://") or "/" not in upload[5:].strip("/") + "/":
            raise InvalidParameter(f"--upload {upload!r}: give s3://BUCKET/PREFIX/")
        bucket, _, prefix = upload[5:].partition("/")
        key = f"{prefix.rstrip('/') + '/' if prefix.strip('/') else ''}{release}.json"
        put = Request("s3", "PutObject", {"Bucket": bucket, "Key": key, "Body": raw,
                                          "ContentType": "application/json", "ChecksumAlgorithm": "SHA256"})
        s3 = f"s3://{bucket}/{key}"
    elif len(raw) <= document.INLINE_LIMIT:
        inline = raw.decode("utf-8")
    else:
        raise InvalidParameter(f"the definition is {len(raw)} bytes: more than a job document carries inline "
                               f"({document.INLINE_LIMIT}); give --upload s3://BUCKET/PREFIX/ (a versioned bucket)")
    doc = document.JobDocument("deploy", release, s3, version_id if s3 else None, inline, gate, stable)
    out = RolloutPlan(release, put)
    for number, (target, group) in enumerate(zip(targets, groups), 1):
        out.jobs.append(Request("iot", "CreateJob", requests.create_job(
            requests.job_id(release, group), [target], doc.to_json(), plan, retries=retries,
            description=f"dadc release {release[:12]}, wave {number} of {len(targets)}: {group}")))
    return out


class Fleet:
    """The AWS calls (boto3, endpoints from the usual environment, AWS_ENDPOINT_URL_IOT included)."""

    def __init__(self, region: str | None = None) -> None:
        from dadc.runtime.seams.aws import AwsCloud
        self.cloud = AwsCloud.for_region(region)

    def send(self, req: Request) -> dict[str, Any]:
        from botocore.exceptions import BotoCoreError, ClientError
        client = self.cloud.client(req.service)
        method = getattr(client, _snake(req.operation))
        try:
            return method(**req.params)
        except ClientError as exc:
            error = exc.response.get("Error", {})
            raise FleetError(f"{req.service} {req.operation}: {error.get('Code')}: {error.get('Message')}",
                             str(error.get("Code"))) from None
        except BotoCoreError as exc:
            raise FleetError(f"{req.service} {req.operation}: {exc}", type(exc).__name__) from None

    def job(self, job: str) -> dict[str, Any]:
        return self.send(Request("iot", "DescribeJob", requests.describe_job(job)))["job"]

    def document(self, job: str) -> str:
        """The job's document: DescribeJob does not carry it."""
        return str(self.send(Request("iot", "GetJobDocument", requests.get_job_document(job))).get("document") or "")

    def executions(self, job: str, details: str = "all") -> list[dict[str, Any]]:
        """Every execution of the job (all pages), with statusDetails: of all that reported (all),
        of those that did not succeed (unsucceeded), of none. One DescribeJobExecution each."""
        rows: list[dict[str, Any]] = []
        token = None
        while True:
            page = self.send(Request("iot", "ListJobExecutionsForJob", requests.list_executions(job, token)))
            for item in page.get("executionSummaries", []):
                summary = item.get("jobExecutionSummary", {})
                rows.append({"thing": item["thingArn"].rsplit("/", 1)[-1], "thingArn": item["thingArn"],
                             "status": summary.get("status"), "executionNumber": summary.get("executionNumber"),
                             "statusDetails": {}})
            token = page.get("nextToken")
            if not token:
                break
        if details != "none":
            def read(row: dict[str, Any]) -> None:
                if row["status"] in ("QUEUED", "CANCELED"):
                    return  # nothing reported yet, or never will be
                if details == "unsucceeded" and row["status"] == "SUCCEEDED":
                    return
                got = self.send(Request("iot", "DescribeJobExecution", requests.describe_execution(job, row["thing"])))
                row["statusDetails"] = got["execution"].get("statusDetails", {}).get("detailsMap", {})
            with ThreadPoolExecutor(max_workers=16) as pool:
                list(pool.map(read, rows))
        return sorted(rows, key=lambda r: r["thing"])

    def ggv2_job(self, deployment: str) -> str:
        got = self.send(Request("greengrassv2", "GetDeployment", requests.get_deployment(deployment)))
        if not got.get("iotJobId"):
            raise FleetError(f"GGv2 deployment {deployment} has no IoT job (yet)", "NoJob")
        return str(got["iotJobId"])

    def wait(self, job: str, poll: float, on_change: Callable[[dict[str, Any]], None] | None = None,
             stop: Callable[[], bool] = lambda: False) -> dict[str, Any]:
        """The job's description once it ended (COMPLETED or CANCELED)."""
        last = None
        while True:
            got = self.job(job)
            counts = got.get("jobProcessDetails", {})
            if on_change and (got["status"], counts) != last:
                on_change(got)
                last = (got["status"], counts)
            if got["status"] in ENDED or stop():
                return got
            time.sleep(poll)  # a poll interval between DescribeJob calls, not a signal


class FleetError(DadcError):
    def __init__(self, message: str, code: str) -> None:
        super().__init__(message)
        self.code = code


def _snake(name: str) -> str:
    import re
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def rollback_requests(job: dict[str, Any], text: str, executions: list[dict[str, Any]],
                      plan: rollout.Rollout) -> tuple[list[Request], list[str]]:
    """The fleet rollback of a job: cancel it if it still runs (no more devices take the release),
    then one job for exactly the things whose execution SUCCEEDED, each back to the good
    deployment it ran before (its own history: dadc rollback on the device)."""
    doc = document.parse(text or "{}")
    if doc.operation != "deploy":
        raise InvalidParameter(f"job {job['jobId']} is a {doc.operation}, not a release")
    things = [e["thingArn"] for e in executions if e["status"] == "SUCCEEDED"]
    out: list[Request] = []
    if job["status"] not in ENDED:
        out.append(Request("iot", "CancelJob", requests.cancel_job(job["jobId"], "dadc fleet rollback")))
    if not things:
        return out, []
    back = document.JobDocument("rollback", doc.release, health_gate=doc.health_gate, health_stable=doc.health_stable)
    out.append(Request("iot", "CreateJob", requests.create_job(
        requests.rollback_id(job["jobId"]), things, back.to_json(), plan, retries=None,
        description=f"dadc rollback of {job['jobId']}: release {doc.release[:12]} left on {len(things)} things")))
    return out, [requests.thing_name(t) for t in things]
