"""A jobs stand-in: moto's IoT control plane (CreateJob, DescribeJob, CancelJob, ListJobExecutionsForJob,
DescribeJobExecution, served by moto in this process) with what moto leaves inert made to happen as
AWS IoT Jobs documents it: executions for the things of the target groups, the rollout's pace, the
device side over MQTT ($aws/things/THING/jobs/...), abort, timeout and retry. Each rule is a method
named after it, and docs/fleet.md quotes the AWS sentence each follows.

Time: the stand-in's minute is `minute` seconds (60 by default), so a test of a 1-minute timeout or
a rate per minute waits for the event, bounded, without a real minute passing."""
from __future__ import annotations

import json
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

TERMINAL = ("SUCCEEDED", "FAILED", "TIMED_OUT", "REJECTED", "REMOVED", "CANCELED")
FAILURES = {"FAILED": ("FAILED",), "REJECTED": ("REJECTED",), "TIMED_OUT": ("TIMED_OUT",),
            "ALL": ("FAILED", "REJECTED", "TIMED_OUT")}
COUNT = {"QUEUED": "numberOfQueuedThings", "IN_PROGRESS": "numberOfInProgressThings",
         "SUCCEEDED": "numberOfSucceededThings", "FAILED": "numberOfFailedThings",
         "REJECTED": "numberOfRejectedThings", "CANCELED": "numberOfCanceledThings",
         "TIMED_OUT": "numberOfTimedOutThings", "REMOVED": "numberOfRemovedThings"}
DEFAULT_RATE = 1000  # things notified per minute without a rollout config (the service's default maximum)


@dataclass
class Execution:
    job: str
    thing: str
    thing_arn: str
    status: str = "QUEUED"
    version: int = 1
    number: int = 1
    details: dict[str, str] = field(default_factory=dict)
    queued_at: float = 0.0
    started_at: float | None = None
    step_deadline: float | None = None
    retries: int = 0
    mirrored: tuple[str, int, int] | None = None  # what moto was last told


@dataclass
class Job:
    id: str
    document: str
    pending: list[tuple[str, str]]  # (thing, arn) not yet rolled out, in order
    rollout: dict[str, Any]
    abort: list[dict[str, Any]]
    timeout_minutes: int | None
    retry: list[dict[str, Any]]
    created: float
    notified: int = 0
    canceled: bool = False
    rate: float = DEFAULT_RATE
    credit: float = 0.0
    last_tick: float = 0.0
    execs: dict[str, Execution] = field(default_factory=dict)  # by thing: the current execution


class JobsBed:
    def __init__(self, broker_port: int, minute: float = 60.0, region: str = "us-east-1") -> None:
        from moto.server import ThreadedMotoServer

        from tests.integration.faults import free_port
        self.minute, self.region, self.broker_port = minute, region, broker_port
        self.port = free_port()
        self.server = ThreadedMotoServer(ip_address="127.0.0.1", port=self.port)
        self.server.start()
        self.backend.reset()  # moto's state is per process: each bed starts with an empty account
        self._refuse_reused_job_ids()
        self.endpoint = f"http://127.0.0.1:{self.port}"
        self.jobs: dict[str, Job] = {}
        self.executions: dict[tuple[str, str], Execution] = {}
        self.lock = threading.RLock()
        self.requests = 0  # jobs requests devices sent over MQTT
        self.topics: list[str] = []  # ... and their topics, in order
        self.muted = False  # notifications lost on their way (a device offline when they were sent)
        self.ended: list[tuple[str, str, int, str]] = []  # (job, thing, executionNumber, status), in order
        self._stop = threading.Event()
        self.mqtt = self._client()
        self.thread = threading.Thread(target=self._loop, name="jobsbed", daemon=True)
        self.thread.start()

    # --- the control plane: moto, read and advanced here -------------------------------------------
    @property
    def backend(self) -> Any:
        from moto.iot.models import iot_backends
        return iot_backends["123456789012"][self.region]

    def _refuse_reused_job_ids(self) -> None:
        """Rule: a job id is unique in the account; CreateJob with one in use is refused with
        ResourceAlreadyExistsException (moto silently replaces the job and its executions)."""
        from moto.iot.exceptions import ResourceAlreadyExistsException
        backend = self.backend
        create = backend.create_job

        def create_job(job_id: str, *args: Any, **kwargs: Any) -> Any:
            if job_id in backend.jobs:
                raise ResourceAlreadyExistsException(
                    f"Job with id {job_id} already exists", job_id, backend.jobs[job_id].job_arn)
            return create(job_id, *args, **kwargs)
        backend.create_job = create_job

    def client(self) -> Any:
        import boto3
        return boto3.client("iot", region_name=self.region, endpoint_url=self.endpoint,
                            aws_access_key_id="testing", aws_secret_access_key="testing")

    def env(self) -> dict[str, str]:
        """What a `dadc fleet` command needs to reach this control plane."""
        return {"AWS_ENDPOINT_URL_IOT": self.endpoint}

    def group(self, name: str, things: list[str]) -> str:
        iot = self.client()
        arn = iot.create_thing_group(thingGroupName=name)["thingGroupArn"]
        for thing in things:
            iot.create_thing(thingName=thing)
            iot.add_thing_to_thing_group(thingGroupName=name, thingName=thing)
        return str(arn)

    def close(self) -> None:
        self._stop.set()
        self.thread.join(timeout=10)
        self.mqtt.disconnect()
        self.mqtt.loop_stop()
        self.server.stop()

    def now(self) -> float:
        return time.monotonic()

    def _loop(self) -> None:
        while not self._stop.wait(0.02):
            with self.lock:
                self.take_new_jobs()
                for job in list(self.jobs.values()):
                    self.rule_cancel_job(job)
                    self.rule_rollout(job)
                    self.rule_timeout(job)
                    self.rule_completion(job)
                self._mirror()

    def take_new_jobs(self) -> None:
        """Rule: a job's targets are its things and the things of its thing groups (SNAPSHOT)."""
        for job_id, fake in list(self.backend.jobs.items()):
            if job_id in self.jobs:
                continue
            things: list[tuple[str, str]] = []
            for target in fake.targets:
                if ":thinggroup/" in target:
                    group = target.rsplit("/", 1)[-1]
                    things += [(t.thing_name, t.arn) for t in self.backend.list_things_in_thing_group(group)]
                else:
                    things.append((target.rsplit("/", 1)[-1], target))
            for key in [k for k in self.backend.job_executions if k[0] == job_id]:
                del self.backend.job_executions[key]  # moto's own: one per target ARN, never advanced
            config = fake.job_executions_rollout_config or {}
            job = Job(job_id, fake.document, things, config, (fake.abort_config or {}).get("criteriaList", []),
                      (fake.timeout_config or {}).get("inProgressTimeoutInMinutes"),
                      (fake.job_execution_retry_config or {}).get("criteriaList", []), self.now())
            exponential = config.get("exponentialRate")
            job.rate = exponential["baseRatePerMinute"] if exponential else config.get("maximumPerMinute", DEFAULT_RATE)
            job.last_tick = self.now()
            fake.status = "IN_PROGRESS"
            self.jobs[job_id] = job

    def rule_rollout(self, job: Job) -> None:
        """Rule: at most maximumPerMinute things are notified a minute; with exponentialRate the
        rate starts at baseRatePerMinute and is multiplied by incrementFactor each time
        numberOfNotifiedThings (or numberOfSucceededThings) more things were notified (succeeded),
        never above maximumPerMinute."""
        now = self.now()
        job.credit = min(job.credit + (now - job.last_tick) * job.rate / self.minute, max(job.rate, 1.0))
        job.last_tick = now
        if job.canceled:
            return
        while job.pending and (job.credit >= 1.0 or job.notified == 0):
            thing, arn = job.pending.pop(0)
            job.credit -= 1.0
            job.notified += 1
            execution = Execution(job.id, thing, arn, queued_at=now)
            self.executions[(job.id, thing)] = job.execs[thing] = execution
            self._notify_next(thing)
            self._ramp(job)

    def _ramp(self, job: Job) -> None:
        exponential = job.rollout.get("exponentialRate")
        if not exponential:
            return
        criteria = exponential["rateIncreaseCriteria"]
        if "numberOfNotifiedThings" in criteria:
            done, step = job.notified, criteria["numberOfNotifiedThings"]
        else:
            done = sum(1 for e in self._of(job) if e.status == "SUCCEEDED")
            step = criteria["numberOfSucceededThings"]
        steps = done // step
        rate = exponential["baseRatePerMinute"] * exponential["incrementFactor"] ** steps
        job.rate = min(rate, job.rollout.get("maximumPerMinute", DEFAULT_RATE))

    def rule_timeout(self, job: Job) -> None:
        """Rule: an execution IN_PROGRESS longer than inProgressTimeoutInMinutes (or its step
        timeout) is TIMED_OUT."""
        now = self.now()
        for e in self._of(job):
            if e.status != "IN_PROGRESS" or e.started_at is None:
                continue
            limit = e.step_deadline
            if job.timeout_minutes:
                limit = min(limit or float("inf"), e.started_at + job.timeout_minutes * self.minute)
            if limit is not None and now >= limit:
                self._end(job, e, "TIMED_OUT")

    def rule_abort(self, job: Job) -> None:
        """Rule: the job is canceled when, of at least minNumberOfExecutedThings executed (terminal)
        things, thresholdPercentage percent failed in the criterion's failureType; QUEUED
        executions are canceled, IN_PROGRESS ones go on."""
        if job.canceled:
            return
        executed = [e for e in self._of(job) if e.status in TERMINAL and e.status != "CANCELED"]
        for criterion in job.abort:
            failed = [e for e in executed if e.status in FAILURES[criterion["failureType"]]]
            if len(executed) >= criterion["minNumberOfExecutedThings"] and \
                    100.0 * len(failed) / len(executed) >= criterion["thresholdPercentage"]:
                fake = self.backend.jobs[job.id]
                fake.status, fake.reason_code = "CANCELED", f"{criterion['failureType']}_THRESHOLD_EXCEEDED"
                fake.comment = "Job aborted by the abort config"
                self._cancel(job, force=False)
                return

    def rule_cancel_job(self, job: Job) -> None:
        """Rule: CancelJob cancels the QUEUED executions, and with force the IN_PROGRESS ones too."""
        fake = self.backend.jobs.get(job.id)
        if fake is not None and fake.status == "CANCELED" and not job.canceled:
            self._cancel(job, force=bool(fake.force))

    def _cancel(self, job: Job, force: bool) -> None:
        job.canceled = True
        job.pending.clear()
        for e in self._of(job):
            if e.status == "QUEUED" or (force and e.status == "IN_PROGRESS"):
                e.status, e.version = "CANCELED", e.version + 1
                self._notify_next(e.thing)

    def rule_retry(self, job: Job, e: Execution) -> bool:
        """Rule: a FAILED or TIMED_OUT execution (per failureType) is queued again as a new
        execution, at most numberOfRetries times."""
        for criterion in job.retry:
            if e.status in FAILURES[criterion["failureType"]] and e.retries < criterion["numberOfRetries"]:
                again = Execution(job.id, e.thing, e.thing_arn, number=e.number + 1, retries=e.retries + 1,
                                  queued_at=self.now())
                self.executions[(job.id, e.thing)] = job.execs[e.thing] = again
                self._notify_next(e.thing)
                return True
        return False

    def rule_completion(self, job: Job) -> None:
        """Rule: a SNAPSHOT job is COMPLETED when every execution is in a terminal state."""
        fake = self.backend.jobs.get(job.id)
        if fake is None or fake.status != "IN_PROGRESS" or job.pending:
            return
        if all(e.status in TERMINAL for e in self._of(job)):
            fake.status = "COMPLETED"

    def _end(self, job: Job, e: Execution, status: str) -> None:
        e.status, e.version = status, e.version + 1
        self.ended.append((job.id, e.thing, e.number, status))
        if status in ("FAILED", "TIMED_OUT") and self.rule_retry(job, e):
            return
        self.rule_abort(job)
        self._ramp(job)
        self._notify_next(e.thing)

    def _of(self, job: Job) -> list[Execution]:
        return list(job.execs.values())

    def _mirror(self) -> None:
        """moto answers DescribeJob, ListJobExecutionsForJob and DescribeJobExecution from its own
        objects: they are kept equal to the stand-in's."""
        from moto.iot.models import FakeJobExecution
        for job in self.jobs.values():
            fake = self.backend.jobs.get(job.id)
            if fake is None:
                continue
            counts = {v: 0 for v in COUNT.values()}
            for e in self._of(job):
                counts[COUNT[e.status]] += 1
                if e.mirrored == (e.status, e.version, e.number):
                    continue
                e.mirrored = (e.status, e.version, e.number)
                got = self.backend.job_executions.get((job.id, e.thing))
                if got is None:
                    got = FakeJobExecution(job.id, e.thing_arn)
                    self.backend.job_executions[(job.id, e.thing)] = got
                got.status, got.status_details_map = e.status, dict(e.details)
                got.version_number, got.execution_number = e.version, e.number
            fake.job_process_details = {"processingTargets": [], **counts}

    # --- the data plane: MQTT ------------------------------------------------------------------------
    def _client(self) -> Any:
        import paho.mqtt.client as mqtt
        client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"jobsbed-{uuid.uuid4().hex[:8]}")
        client.on_connect = lambda c, *a: c.subscribe([("$aws/things/+/jobs/start-next", 1),
                                                        ("$aws/things/+/jobs/+/update", 1),
                                                        ("$aws/things/+/jobs/+/get", 1)])
        client.on_message = self._on_message
        client.reconnect_delay_set(0.1, 1)
        client.connect("127.0.0.1", self.broker_port)
        client.loop_start()
        return client

    def _answer(self, thing: str, what: str, ok: bool, body: dict[str, Any], token: Any) -> None:
        body = {**body, "timestamp": int(time.time())}
        if token is not None:
            body["clientToken"] = token
        self.mqtt.publish(f"$aws/things/{thing}/jobs/{what}/{'accepted' if ok else 'rejected'}",
                          json.dumps(body), qos=1)

    def _reject(self, thing: str, what: str, code: str, message: str, token: Any,
                e: Execution | None = None) -> None:
        body: dict[str, Any] = {"code": code, "message": message}
        if e is not None:
            body["executionState"] = {"status": e.status, "statusDetails": e.details, "versionNumber": e.version}
        self._answer(thing, what, False, body, token)

    def _on_message(self, client: Any, userdata: Any, message: Any) -> None:
        parts = message.topic.split("/")
        thing = parts[2]
        try:
            body = json.loads(message.payload or b"{}")
        except ValueError:
            self._reject(thing, "/".join(parts[4:]), "InvalidJson", "the payload is not JSON", None)
            return
        token = body.get("clientToken")
        with self.lock:
            self.requests += 1
            self.topics.append(message.topic)
            if parts[4] == "start-next":
                self.start_next(thing, body, token)
            elif parts[-1] == "update":
                self.update(thing, parts[4], body, token)
            elif parts[-1] == "get":
                e = self.executions.get((parts[4], thing))
                if e is None:
                    self._reject(thing, f"{parts[4]}/get", "ResourceNotFound", "no such execution", token)
                else:
                    self._answer(thing, f"{parts[4]}/get", True, {"execution": self._view(e)}, token)
            self._mirror()

    def _next(self, thing: str) -> Execution | None:
        """The next pending execution: one IN_PROGRESS first, else the oldest QUEUED."""
        mine = [e for (_, t), e in self.executions.items() if t == thing and e.status in ("IN_PROGRESS", "QUEUED")]
        mine.sort(key=lambda e: (e.status != "IN_PROGRESS", e.queued_at))
        return mine[0] if mine else None

    def _view(self, e: Execution) -> dict[str, Any]:
        return {"jobId": e.job, "thingName": e.thing, "status": e.status, "statusDetails": e.details,
                "versionNumber": e.version, "executionNumber": e.number,
                "jobDocument": json.loads(self.jobs[e.job].document), "queuedAt": int(e.queued_at)}

    def _notify_next(self, thing: str) -> None:
        """Rule: notify-next is sent when the thing's next pending execution changes (never again:
        a device away when it was sent has lost it; `muted` plays that)."""
        if self.muted:
            return
        e = self._next(thing)
        body = {"timestamp": int(time.time())}
        if e is not None:
            body["execution"] = self._view(e)
        self.mqtt.publish(f"$aws/things/{thing}/jobs/notify-next", json.dumps(body), qos=1)

    def start_next(self, thing: str, body: dict[str, Any], token: Any) -> None:
        """Rule: start-next returns the thing's IN_PROGRESS execution, else starts its next QUEUED one."""
        e = self._next(thing)
        if e is None:
            self._answer(thing, "start-next", True, {}, token)
            return
        if e.status == "QUEUED":
            e.status, e.version, e.started_at = "IN_PROGRESS", e.version + 1, self.now()
            e.details.update(body.get("statusDetails") or {})
            if body.get("stepTimeoutInMinutes"):
                e.step_deadline = self.now() + body["stepTimeoutInMinutes"] * self.minute
        self._answer(thing, "start-next", True, {"execution": self._view(e)}, token)

    def update(self, thing: str, job_id: str, body: dict[str, Any], token: Any) -> None:
        """Rules: expectedVersion must be the current version (VersionMismatch); a terminal execution
        does not change (TerminalStateReached); statusDetails at most 10 pairs (InvalidRequest)."""
        what = f"{job_id}/update"
        e = self.executions.get((job_id, thing))
        if e is None:
            self._reject(thing, what, "ResourceNotFound", "no such execution", token)
            return
        if e.status in TERMINAL:
            self._reject(thing, what, "TerminalStateReached", f"the execution is {e.status}", token, e)
            return
        if body.get("expectedVersion") is not None and body["expectedVersion"] != e.version:
            self._reject(thing, what, "VersionMismatch", f"the version is {e.version}", token, e)
            return
        status = body.get("status")
        details = {**e.details, **(body.get("statusDetails") or {})}
        if status not in ("IN_PROGRESS", "SUCCEEDED", "FAILED", "REJECTED") or len(details) > 10:
            self._reject(thing, what, "InvalidRequest", f"status {status!r}, {len(details)} statusDetails", token)
            return
        e.details = details
        if status == "IN_PROGRESS":
            e.version += 1
        else:
            self._end(self.jobs[job_id], e, status)
        state = {"status": e.status, "statusDetails": e.details, "versionNumber": e.version}
        self._answer(thing, what, True, {"executionState": state} if body.get("includeJobExecutionState") else {},
                     token)
