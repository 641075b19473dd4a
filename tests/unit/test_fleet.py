"""The fleet's requests, job document and rollback, offline: every request dadc builds is what the
service's model takes (botocore's ParamValidator, run here on its own, plus the maxima, enums and
patterns it skips), and what the service would refuse is refused before anything is sent."""
from __future__ import annotations

import json
import socket
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from botocore.session import get_session
from botocore.validate import ParamValidator

from dadc import cli, rollout
from dadc.data import load_json
from dadc.errors import InvalidParameter
from dadc.fleet import control, document, requests

ROOT = Path(__file__).resolve().parents[2]
GROUP = "arn:aws:iot:us-east-1:123456789012:thinggroup/canary"
THING = "arn:aws:iot:us-east-1:123456789012:thing/dev{}"
V7 = "arn:aws:greengrass:us-east-1::/connectors/DockerApplicationDeployment/versions/7"
RELEASE = "a" * 64


def shape(service: str, operation: str) -> Any:
    return get_session().get_service_model(service).operation_model(operation).input_shape


def accepted(service: str, operation: str, request: dict[str, Any]) -> None:
    """What botocore itself says of the request (independent of dadc's own check)."""
    report = ParamValidator().validate(request, shape(service, operation))
    assert not report.has_errors(), report.generate_report()


def definition(tmp_path: Path, **extra: str) -> Path:
    path = tmp_path / "release.json"
    path.write_text(json.dumps({"Connectors": [{"Id": "app", "ConnectorArn": V7, "Parameters": {
        "DockerComposeFileS3Bucket": "my-bucket", "DockerComposeFileS3Key": "compose.yml",
        "DockerComposeFileDestinationPath": "/srv/app", "DockerContainerStatusLogFrequency": "30", **extra}}]}))
    return path


def full_rollout() -> rollout.Rollout:
    return rollout.Rollout(rate=1000, exponential=(5, 2.0, "succeeded", 10), abort_percent=12.5, abort_min=8,
                           timeout_minutes=10080)


# --- the job document ------------------------------------------------------------------------------
def test_the_job_document_schema_is_a_valid_draft_2020_12_schema_and_reads_what_dadc_writes() -> None:
    schema = load_json("schemas", "job-document.json")
    jsonschema.Draft202012Validator.check_schema(schema)
    raw = b'{"Connectors": []}'
    for doc in (document.JobDocument("deploy", document.release_of(raw), inline=raw.decode(), health_gate=30.0),
                document.JobDocument("deploy", RELEASE, "s3://b/k.json", "v1"),
                document.JobDocument("rollback", RELEASE, health_gate=5.0, health_stable=1.0)):
        text = doc.to_json()
        jsonschema.validate(json.loads(text), schema)
        assert document.parse(text) == doc


@pytest.mark.parametrize("doc, message", [
    ("not json", "not JSON"),
    ({"dadc": "job/9", "operation": "deploy"}, "format 'job/9'; this dadc reads 'job/1'"),
    ({"dadc": "job/1", "operation": "deploy", "release": RELEASE}, "'definition' is a required property"),
    ({"dadc": "job/1", "operation": "rollback", "release": RELEASE, "definition": {"inline": "{}"}}, "at /"),
    ({"dadc": "job/1", "operation": "deploy", "release": "abc", "definition": {"inline": "{}"}}, "at /release"),
    ({"dadc": "job/1", "operation": "deploy", "release": RELEASE, "definition": {"inline": "{}"}},
     "does not match its release"),
    ({"dadc": "job/1", "operation": "deploy", "release": RELEASE, "definition": {"s3": "s3://b/k"}}, "at /definition"),
])
def test_a_bad_job_document_is_refused_with_where_and_why(doc: Any, message: str) -> None:
    with pytest.raises(InvalidParameter) as info:
        document.parse(doc if isinstance(doc, str) else json.dumps(doc))
    assert message in str(info.value)


def test_a_document_is_never_above_the_services_32768_characters() -> None:
    big = "x" * document.MAX_CHARS
    with pytest.raises(InvalidParameter):
        document.JobDocument("deploy", document.release_of(big.encode()), inline=big).to_json()
    # what fits inline does fit the job, with room for the envelope
    fits = "y" * document.INLINE_LIMIT
    assert len(document.JobDocument("deploy", document.release_of(fits.encode()), inline=fits).to_json()) \
        <= document.MAX_CHARS


# --- every request, as the model takes it -----------------------------------------------------------
def test_every_request_dadc_builds_is_what_the_models_take() -> None:
    doc = document.JobDocument("deploy", RELEASE, "s3://b/k.json", "v1").to_json()
    create = requests.create_job(requests.job_id(RELEASE, "canary"), [GROUP], doc, full_rollout(), retries=10,
                                 description="d")
    accepted("iot", "CreateJob", create)
    assert create["targetSelection"] == "SNAPSHOT"
    assert create["jobExecutionsRetryConfig"] == {"criteriaList": [{"failureType": "TIMED_OUT", "numberOfRetries": 10}]}
    accepted("iot", "CancelJob", requests.cancel_job("dadc-x", "why"))
    accepted("iot", "DescribeJob", requests.describe_job("dadc-x"))
    accepted("iot", "GetJobDocument", requests.get_job_document("dadc-x"))
    accepted("iot", "ListJobExecutionsForJob", requests.list_executions("dadc-x", "token"))
    accepted("iot", "DescribeJobExecution", requests.describe_execution("dadc-x", "dev1"))
    accepted("greengrassv2", "GetDeployment", requests.get_deployment("a1b2c3d4-5678-90ab-cdef-EXAMPLE11111"))
    details = requests.details({"release": RELEASE, "verdict": "failed", "reason": "r" * 5000, "empty": "",
                                "service": "web\nexited 1\r\n"})
    assert "empty" not in details and len(details["reason"]) == 1024 and details["service"] == "web exited 1"
    from dadc.rollout import _walk  # the value's pattern, [^\p{C}]+, as the model states it
    _walk(shape("iot-jobs-data", "UpdateJobExecution"), {"statusDetails": details})
    payload = requests.update_execution("dev1", "dadc-x", "FAILED", details, 3, "token-1")
    # the MQTT payload is the HTTP request's body plus the clientToken the topic API adds
    http = {k: v for k, v in payload.items() if k != "clientToken"}
    accepted("iot-jobs-data", "UpdateJobExecution", {**http, "jobId": "dadc-x", "thingName": "dev1"})
    assert set(payload) == {"status", "statusDetails", "expectedVersion", "clientToken"}
    # the device's own check (no botocore on a device) is the model's: its statuses, key pattern, limits
    model = get_session().get_service_model("iot-jobs-data")
    assert set(requests.DEVICE_STATUSES) <= set(model.shape_for("JobExecutionStatus").enum)
    key = model.shape_for("DetailsKey").metadata
    assert requests.DETAILS_KEY.pattern == f"{key['pattern'][:-1]}{{{key['min']},{key['max']}}}"
    for status in requests.DEVICE_STATUSES:
        accepted("iot-jobs-data", "UpdateJobExecution", {"jobId": "j", "thingName": "t", "status": status})


@pytest.mark.parametrize("build, message", [
    (lambda: requests.create_job("j", [GROUP], "{}", rollout.Rollout(rate=1001), retries=None, description="d"),
     "--rate 1001"),
    (lambda: requests.create_job("j", [GROUP], "{}", rollout.Rollout(rate=0), retries=None, description="d"),
     "--rate 0"),
    (lambda: requests.create_job("j", [GROUP], "{}", rollout.Rollout(timeout_minutes=10081), retries=None,
                                 description="d"), "--timeout-minutes 10081"),
    (lambda: requests.create_job("j", [GROUP], "{}", rollout.Rollout(), retries=11, description="d"), "11"),
    (lambda: requests.create_job("j" * 65, [GROUP], "{}", rollout.Rollout(), retries=None, description="d"), "jobId"),
    (lambda: requests.create_job("j", [GROUP], "x" * 32769, rollout.Rollout(), retries=None, description="d"),
     "document"),
    (lambda: requests.group_name("arn:aws:iot:us-east-1:123456789012:thing/dev1"), "not a thing group ARN"),
    (lambda: requests.group_name("canary"), "not a thing group ARN"),
    (lambda: requests.details({f"k{i}": "v" for i in range(11)}), "at most 10"),
    (lambda: requests.update_execution("dev1", "j", "FAILED", {"a key": "v"}, 1, "t"), "statusDetails"),
    (lambda: requests.update_execution("dev1", "j", "DONE", {}, 1, "t"), "DONE"),
])
def test_what_the_service_would_refuse_is_refused_before_it_is_sent(build: Any, message: str) -> None:
    with pytest.raises(InvalidParameter) as info:
        build()
    assert message in str(info.value)


def test_a_job_id_is_the_same_for_the_same_release_and_group_and_fits_the_model() -> None:
    import re
    pattern = shape("iot", "CreateJob").members["jobId"].metadata["pattern"]
    long_a, long_b = "g" * 128, "g" * 127 + "h"
    ids = {requests.job_id(RELEASE, g) for g in ("canary", "a.b", long_a, long_b)}
    assert len(ids) == 4 and requests.job_id(RELEASE, "canary") == requests.job_id(RELEASE, "canary")
    for job in ids | {requests.rollback_id(requests.job_id(RELEASE, long_a))}:
        assert len(job) <= 64 and re.fullmatch(pattern, job), job


# --- the fleet rollback ---------------------------------------------------------------------------
def executions() -> list[dict[str, Any]]:
    return [{"thingArn": THING.format(i), "status": s} for i, s in
            enumerate(("SUCCEEDED", "FAILED", "CANCELED", "SUCCEEDED", "TIMED_OUT", "IN_PROGRESS", "REJECTED"))]


def test_the_rollback_cancels_a_running_job_first_then_sends_back_exactly_the_things_that_succeeded() -> None:
    deploy = document.JobDocument("deploy", RELEASE, "s3://b/k.json", "v1", health_gate=30.0).to_json()
    job = {"jobId": "dadc-aaaa-canary", "status": "IN_PROGRESS"}
    reqs, things = control.rollback_requests(job, deploy, executions(), rollout.Rollout(rate=10))
    assert [r.operation for r in reqs] == ["CancelJob", "CreateJob"] and things == ["dev0", "dev3"]
    create = reqs[1].params
    accepted("iot", "CreateJob", create)
    assert create["targets"] == [THING.format(0), THING.format(3)]
    assert create["jobExecutionsRolloutConfig"] == {"maximumPerMinute": 10}
    back = document.parse(create["document"])
    assert (back.operation, back.release, back.health_gate) == ("rollback", RELEASE, 30.0)
    # an ended job is not canceled again; nothing succeeded: nothing to send back
    reqs, things = control.rollback_requests({**job, "status": "CANCELED"}, deploy,
                                             [e for e in executions() if e["status"] != "SUCCEEDED"], rollout.Rollout())
    assert reqs == [] and things == []
    with pytest.raises(InvalidParameter, match="is a rollback"):
        control.rollback_requests(job, document.JobDocument("rollback", RELEASE).to_json(), executions(),
                                  rollout.Rollout())


# --- the command, offline ---------------------------------------------------------------------------
@pytest.fixture
def nowhere(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every AWS endpoint is a closed port: a request sent would fail the command."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{port}")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")


def test_a_dry_run_prints_the_requests_it_would_send_and_sends_nothing(
        tmp_path: Path, nowhere: None, capsys: pytest.CaptureFixture[str]) -> None:
    path = definition(tmp_path)
    main = GROUP.replace("canary", "main")
    code = cli.main(["fleet", "rollout", str(path), "--target", GROUP, "--target", main, "--upload",
                     "s3://releases/app/", "--rate", "20", "--abort-failed-percent", "10", "--abort-min-executed", "5",
                     "--timeout-minutes", "30", "--retries", "2", "--health-gate", "60", "--dry-run", "--format", "json"])
    out = json.loads(capsys.readouterr().out)
    assert code == 0
    release = document.release_of(path.read_bytes())
    assert out["release"] == release
    put, *jobs = out["requests"]
    assert put["operation"] == "PutObject" and put["request"]["Key"] == f"app/{release}.json"
    assert put["request"]["Body"] == f"<{len(path.read_bytes())} bytes>"
    assert [j["request"]["jobId"] for j in jobs] == [requests.job_id(release, "canary"), requests.job_id(release, "main")]
    for job in jobs:
        accepted("iot", "CreateJob", job["request"])
        doc = document.parse(job["request"]["document"])
        assert doc.s3 == f"s3://releases/app/{release}.json" and doc.health_gate == 60.0
        assert job["request"]["abortConfig"]["criteriaList"][0]["thresholdPercentage"] == 10


@pytest.mark.parametrize("args, code, message", [
    (["--target", "arn:aws:iot:us-east-1:123456789012:thing/dev1"], 2, "not a thing group ARN"),
    (["--target", GROUP, "--rate", "1001"], 2, "--rate 1001"),
    (["--target", GROUP, "--timeout-minutes", "10081"], 2, "--timeout-minutes 10081"),
    (["--target", GROUP, "--abort-failed-percent", "150", "--abort-min-executed", "1"], 2, "--abort-failed-percent 150"),
    (["--target", GROUP, "--retries", "11"], 2, "11"),
    (["--target", GROUP, "--upload", "releases"], 2, "give s3://BUCKET/PREFIX/"),
    ([], 2, "give --target"),
])
def test_bad_rollout_options_are_refused_before_any_request(
        args: list[str], code: int, message: str, tmp_path: Path, nowhere: None,
        capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["fleet", "rollout", str(definition(tmp_path)), *args]) == code
    assert message in capsys.readouterr().err


def test_an_invalid_definition_creates_no_job(tmp_path: Path, nowhere: None,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    path = definition(tmp_path, DockerContainerStatusLogFrequency="often")
    assert cli.main(["fleet", "rollout", str(path), "--target", GROUP]) == 1
    err = capsys.readouterr().err
    assert "DockerContainerStatusLogFrequency" in err and "no job was created" in err


class PagedFleet(control.Fleet):
    """The two requests `executions` sends, answered from a table (two pages), each one recorded."""

    def __init__(self, statuses: dict[str, str]) -> None:
        self.statuses, self.sent = statuses, []  # type: ignore[var-annotated]

    def send(self, req: "control.Request") -> dict[str, Any]:
        self.sent.append((req.operation, dict(req.params)))
        if req.operation == "ListJobExecutionsForJob":
            things = sorted(self.statuses)
            half = len(things) // 2
            page, token = (things[half:], None) if req.params.get("nextToken") else (things[:half], "p2")
            return {"executionSummaries": [{"thingArn": f"arn:aws:iot:us-east-1:123456789012:thing/{t}",
                                            "jobExecutionSummary": {"status": self.statuses[t], "executionNumber": 1}}
                                           for t in page], **({"nextToken": token} if token else {})}
        assert req.operation == "DescribeJobExecution"
        return {"execution": {"statusDetails": {"detailsMap": {"verdict": req.params["thingName"]}}}}


@pytest.mark.parametrize(("details", "described"), [
    ("all", {"a", "b", "c"}), ("unsucceeded", {"b", "c"}), ("none", set()),
])
def test_status_reads_the_details_it_is_asked_for(details: str, described: set[str]) -> None:
    fleet = PagedFleet({"a": "SUCCEEDED", "b": "FAILED", "c": "TIMED_OUT", "d": "QUEUED", "e": "CANCELED"})
    rows = fleet.executions("dadc-x", details=details)
    assert [r["thing"] for r in rows] == ["a", "b", "c", "d", "e"]  # both pages, in order
    asked = {p["thingName"] for op, p in fleet.sent if op == "DescribeJobExecution"}
    assert asked == described
    assert {r["thing"] for r in rows if r["statusDetails"]} == described
