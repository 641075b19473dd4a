"""dadc fleet rollout / status / rollback: releases to thing groups through AWS IoT Jobs."""
from __future__ import annotations

import argparse
import json
import sys
from typing import TYPE_CHECKING, Any

from dadc import rollout
from dadc.errors import DadcError

if TYPE_CHECKING:  # the CLI builds every parser at start: `dadc run` must not load the operator's side
    from dadc.fleet import control


def add_parsers(sub: Any, formats: tuple[str, ...]) -> None:
    p = sub.add_parser("fleet", help="roll a release out to thing groups with AWS IoT Jobs, watch it, roll it back")
    actions = p.add_subparsers(dest="action", required=True, metavar="ACTION")
    r = actions.add_parser("rollout", help="validate a definition and create the job(s) that deploy it")
    r.add_argument("definition", metavar="DEFINITION", help="a definition file ('-': stdin)")
    r.add_argument("--target", action="append", default=[], metavar="THING-GROUP-ARN",
                   help="a thing group; several are waves, in order: one job each, the next created once the "
                        "one before completed with no failure")
    r.add_argument("--upload", metavar="s3://BUCKET/PREFIX/", help="put the definition here (a versioned bucket) "
                   "and point the job at its version (default: inline in the job, when it fits)")
    r.add_argument("--retries", type=int, metavar="N", help="try a device that timed out again, N times (0-10)")
    r.add_argument("--health-gate", type=float, metavar="SECONDS", help="the devices' --health-gate for this release")
    r.add_argument("--health-stable", type=float, metavar="SECONDS", help="... and --health-stable")
    r.add_argument("--role-policy", metavar="POLICY", help="check the group role's IAM policy against the definition "
                   "first (as dadc validate --role-policy)")
    rollout.add_arguments(r.add_argument_group("the rollout (default: the service's own: every device at once, "
                                               "no abort, no timeout)"))
    r.add_argument("--wave-poll", type=float, default=10.0, metavar="SECONDS", help="between waves: how often to "
                   "read the running job (default 10)")
    r.add_argument("--dry-run", action="store_true", help="print the requests, send nothing")
    r.add_argument("--format", choices=formats, default="text")
    r.set_defaults(handler="fleet:rollout_command")

    s = actions.add_parser("status", help="a job's counts and every device's status and statusDetails")
    s.add_argument("job", metavar="JOB", nargs="?", help="the job id")
    s.add_argument("--ggv2", metavar="DEPLOYMENT-ID", help="the job behind a Greengrass V2 deployment")
    s.add_argument("--watch", action="store_true", help="print progress until the job ends")
    s.add_argument("--details", choices=("all", "unsucceeded", "none"), default="all",
                   help="whose statusDetails to read, one DescribeJobExecution each (default all; "
                        "unsucceeded: a large job's failures quickly; none: the statuses alone)")
    s.add_argument("--poll", type=float, default=5.0, metavar="SECONDS", help="--watch: how often (default 5)")
    s.add_argument("--format", choices=formats, default="text")
    s.set_defaults(handler="fleet:status_command")

    b = actions.add_parser("rollback", help="cancel a release's job and send the things that took it back to "
                           "the deployment they ran before")
    b.add_argument("job", metavar="JOB")
    rollout.add_arguments(b.add_argument_group("the rollback's own pace (default: every device at once)"))
    b.add_argument("--dry-run", action="store_true", help="print the requests, send nothing")
    b.add_argument("--format", choices=formats, default="text")
    b.set_defaults(handler="fleet:rollback_command")


def _fail(exc: DadcError) -> int:
    from dadc.fleet import control
    print(f"dadc: {exc}", file=sys.stderr)
    return 2 if not isinstance(exc, control.FleetError) else 1


def _validated(args: argparse.Namespace) -> bytes | int:
    from dadc.validation.engine import exit_code, validate_bytes
    from dadc.validation.reporters import REPORTERS
    try:
        raw = sys.stdin.buffer.read() if args.definition == "-" else open(args.definition, "rb").read()
    except OSError as exc:
        print(f"dadc: {args.definition}: {exc.strerror}", file=sys.stderr)
        return 2
    result = validate_bytes(args.definition, raw)
    if args.role_policy and not result.fatal:
        from dadc.commands.validate import _preflight, _with_role_policy
        preflight = _preflight(argparse.Namespace(role_policy=args.role_policy, compose=None))
        if isinstance(preflight, int):
            return preflight
        if preflight is not None:
            result = _with_role_policy(result, raw, *preflight, strict=False)
    code = exit_code([result], False)
    if code or result.findings:
        print(REPORTERS["text"]().render([result]), file=sys.stderr)
    if code:
        print("dadc: the definition does not validate: no job was created", file=sys.stderr)
        return code
    return raw


def rollout_command(args: argparse.Namespace) -> int:
    from dadc.fleet import control
    raw = _validated(args)
    if isinstance(raw, int):
        return raw
    try:
        plan = control.plan_rollout(raw, args.target, rollout.from_arguments(args), upload=args.upload,
                                    retries=args.retries, gate=args.health_gate, stable=args.health_stable)
    except DadcError as exc:
        return _fail(exc)
    if args.dry_run:
        requests = ([plan.upload] if plan.upload else []) + plan.jobs
        _print(args.format, {"release": plan.release, "requests": [r.to_json() for r in requests]},
               "\n".join(json.dumps(r.to_json(), default=str) for r in requests))
        return 0
    try:
        return _roll(args, plan, raw)
    except DadcError as exc:
        return _fail(exc)


def _roll(args: argparse.Namespace, plan: control.RolloutPlan, raw: bytes) -> int:
    from dadc.fleet import control
    fleet = control.Fleet()
    if plan.upload:
        put = fleet.send(plan.upload)
        if not put.get("VersionId") or put["VersionId"] == "null":
            print(f"dadc: {plan.upload.params['Bucket']} has no versioning: a job must point at one version "
                  "(aws s3api put-bucket-versioning ... Status=Enabled)", file=sys.stderr)
            return 1
        plan = control.plan_rollout(raw, args.target, rollout.from_arguments(args), upload=args.upload,
                                    retries=args.retries, gate=args.health_gate, stable=args.health_stable,
                                    version_id=put["VersionId"])
    made = []
    for number, req in enumerate(plan.jobs, 1):
        job = req.params["jobId"]
        try:
            got = fleet.send(req)
            arn = got["jobArn"]
        except control.FleetError as exc:
            if exc.code != "ResourceAlreadyExistsException":
                raise
            arn = fleet.job(job)["jobArn"]  # this rollout ran before: its job goes on
        made.append({"jobId": job, "jobArn": arn})
        if args.format == "text":
            print(f"{job} {arn}", flush=True)
        if number < len(plan.jobs):
            ended = fleet.wait(job, args.wave_poll)
            counts = ended.get("jobProcessDetails", {})
            failed = sum(counts.get(k, 0) for k in ("numberOfFailedThings", "numberOfRejectedThings",
                                                    "numberOfTimedOutThings"))
            if ended["status"] != "COMPLETED" or failed:
                print(f"dadc: wave {number} ({job}) ended {ended['status']} with {failed} failed: the next waves "
                      f"were not started; dadc fleet status {job}, dadc fleet rollback {job}", file=sys.stderr)
                if args.format == "json":
                    print(json.dumps({"release": plan.release, "jobs": made}, indent=2))
                return 1
    if args.format == "json":
        print(json.dumps({"release": plan.release, "jobs": made}, indent=2))
    return 0


def status_command(args: argparse.Namespace) -> int:
    from dadc.fleet import control
    from dadc.fleet import report
    try:
        fleet = control.Fleet()
        job = fleet.ggv2_job(args.ggv2) if args.ggv2 else args.job
        if not job:
            print("dadc fleet status: give JOB or --ggv2 DEPLOYMENT-ID", file=sys.stderr)
            return 2
        if args.watch:
            ended = fleet.wait(job, args.poll, on_change=lambda got: print(report.progress(got), flush=True))
            print(report.progress(ended), file=sys.stderr) if args.format == "json" else None
        described = fleet.job(job)
        executions = fleet.executions(job, details=args.details)
    except DadcError as exc:
        return _fail(exc)
    if args.format == "json":
        print(json.dumps(report.as_json(described, executions), indent=2, default=str))
    else:
        print(report.text(described, executions))
    return 0 if report.failed(executions) == 0 else 1


def rollback_command(args: argparse.Namespace) -> int:
    from dadc.fleet import control
    try:
        fleet = control.Fleet()
        job = fleet.job(args.job)
        executions = fleet.executions(args.job, details="none")
        reqs, things = control.rollback_requests(job, fleet.document(args.job), executions, rollout.from_arguments(args))
    except DadcError as exc:
        return _fail(exc)
    if args.dry_run:
        _print(args.format, {"things": things, "requests": [r.to_json() for r in reqs]},
               "\n".join(json.dumps(r.to_json(), default=str) for r in reqs))
        return 0
    made = None
    try:
        for req in reqs:
            got = fleet.send(req)
            if req.operation == "CreateJob":
                made = {"jobId": got["jobId"], "jobArn": got["jobArn"]}
    except DadcError as exc:
        return _fail(exc)
    if args.format == "json":
        print(json.dumps({"things": things, "job": made}, indent=2))
    elif made:
        print(f"{made['jobId']} {made['jobArn']}: {len(things)} thing(s) back to their previous release")
    else:
        print(f"{args.job}: no thing took the release; nothing to roll back")
    return 0


def _print(fmt: str, data: dict[str, Any], text: str) -> None:
    print(json.dumps(data, indent=2, default=str) if fmt == "json" else text)
