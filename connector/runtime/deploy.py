"""The start and stop sequences, executed step by step as the version's plan says."""
from __future__ import annotations

import dataclasses
import logging
from typing import Any

from connector.errors import CommandFailed, DadcError, InternalError, InvalidParameter
from connector.plan import Observed, PlannedStep, plan_start
from connector.runtime import composefile, credentials, monitor, process, sources
from connector.runtime.background import Background
from connector.runtime.context import Context
from connector.runtime.localstate import atomic_write
from connector.runtime.stopping import compose as _compose
from connector.runtime.stopping import force_remove
from connector.runtime.status import Sink, failure, success

log = logging.getLogger("dadc.deploy")


class Aws:
    """boto3 clients, created once and only when a deployment needs them."""

    _shared: dict[tuple[str | None, ...], "Aws"] = {}

    def __init__(self, region: str | None) -> None:
        import boto3
        self.session = boto3.session.Session(region_name=region)
        self._clients: dict[tuple[str, str | None], Any] = {}

    @classmethod
    def for_region(cls, region: str | None) -> "Aws":
        """One session per region, endpoint and credentials: loading botocore's models is the
        expensive part, and a process that deploys again (the harness, a retry) reuses them."""
        import os
        key = (region, os.environ.get("AWS_ENDPOINT_URL"), os.environ.get("AWS_ACCESS_KEY_ID"),
               os.environ.get("AWS_PROFILE"))
        if key not in cls._shared:
            cls._shared[key] = cls(region)
        return cls._shared[key]

    def client(self, service: str, region: str | None = None) -> Any:
        key = (service, region)
        if key not in self._clients:
            from botocore.config import Config
            # a device on a flaky link: fail within seconds, so a local copy or a retry can take over
            config = Config(connect_timeout=5, read_timeout=30, retries={"mode": "standard", "max_attempts": 3})
            self._clients[key] = self.session.client(service, region_name=region or self.session.region_name,
                                                     config=config)
        return self._clients[key]


def observe(ctx: Context) -> Observed:
    running = bool(monitor.containers(ctx.docker, ctx.env, ctx.run_as))
    return Observed(previous_file=ctx.dest.compose_file.is_file(), project_running=running)


def _fetch(ctx: Context, aws: Aws) -> tuple[bytes, str | None, bool]:
    """The compose file to deploy, its S3 version, and whether it is the local copy standing in."""
    p = ctx.config
    bucket, key, version = p.params["DockerComposeFileS3Bucket"], p.params["DockerComposeFileS3Key"], p.value("DockerComposeFileS3Version")
    try:
        fetched = sources.fetch(aws.client("s3"), bucket, key, version)
    except sources.SourceUnreachable as exc:
        state = ctx.dest.read_state()
        if (state.get("bucket"), state.get("key"), state.get("requested_version")) == (bucket, key, version) \
                and ctx.dest.compose_file.is_file():
            log.warning("%s; deploying the local copy of s3://%s/%s (version %s)", exc, bucket, key,
                        state.get("version_id"))
            return ctx.dest.compose_file.read_bytes(), state.get("version_id"), True
        raise
    return fetched.raw, fetched.version_id, False


def _logins(ctx: Context, aws: Aws, images: tuple[str, ...]) -> None:
    logins = credentials.from_secrets(aws.client("secretsmanager"), ctx.config.secret_arns()) if ctx.config.secret_arns() else []
    ecr = credentials.ecr_registries(images)
    if ecr:
        logins += credentials.from_ecr(lambda region: aws.client("ecr", region), ecr)
    for login in logins:
        credentials.docker_login(ctx.docker, ctx.dest.docker_config, login, ctx.run_as)


def _check_images(ctx: Context, images: tuple[str, ...]) -> None:
    """compose v2 exits 0 when a pull finds no manifest: ask the engine whether the images are here."""
    if images:
        found = process.run([ctx.docker, "image", "inspect", "--format", "{{.Id}}", *images], env=ctx.env,
                            run_as=ctx.run_as, check=False, timeout=60)
        if found.returncode != 0:
            raise CommandFailed(f"pull did not fetch every image: {found.stderr.strip().splitlines()[-1:]}")


def _check_services(ctx: Context, services: tuple[str, ...]) -> None:
    """compose v2 exits 0 when up cannot create a container: ask the engine which services have one."""
    have = {c.service for c in monitor.containers(ctx.docker, ctx.env, ctx.run_as)}
    missing = [s for s in services if s not in have]
    if missing:
        raise CommandFailed(f"up created no container for {', '.join(missing)}")


def _resolve_images(ctx: Context, project: composefile.ComposeProject, which: str) -> composefile.ComposeProject:
    """Image names with ${VAR} in them, as compose resolves them (environment, defaults, .env):
    compose's own `config` says, so ECR detection and the pull check see the real names."""
    if not any("$" in image for image in project.images):
        return project
    resolved = process.run(ctx.compose_argv("config", which), env=ctx.env, run_as=ctx.run_as, timeout=60,
                           cwd=str(ctx.dest.root)).stdout
    return dataclasses.replace(project, images=composefile.parse(resolved.encode()).images)


def _execute(ctx: Context, step: PlannedStep, install: Any, project: composefile.ComposeProject) -> None:
    log.info("step: %s", step)
    if step.action == "abort":
        raise InternalError(step.reason)
    if step.action == "force-remove":
        log.warning("ForceDeploy: removed containers %s", force_remove(ctx))
    elif step.action == "down":
        try:
            _compose(ctx, "down", step.file, timeout=ctx.stop_timeout)
            # compose v2 exits 0 on a file it cannot parse: trust the engine, not the exit code
            left = monitor.containers(ctx.docker, ctx.env, ctx.run_as)
            if left:
                raise CommandFailed(f"down left {len(left)} container(s): {', '.join(c.name for c in left)}")
        except DadcError as exc:
            if not (ctx.config.profile.parameter("ForceDeploy") and ctx.config.flag("ForceDeploy")):
                hint = "; set ForceDeploy to force" if ctx.config.profile.parameter("ForceDeploy") else ""
                raise InternalError(f"cleaning up the previous deployment failed: {exc}{hint}") from None
            log.warning("cleanup failed (%s); ForceDeploy: removing the project's containers", exc)
            force_remove(ctx)
    elif step.action == "pull":
        _compose(ctx, "pull", step.file)
        _check_images(ctx, project.images)
    elif step.action == "install":
        install()
    elif step.action == "up":
        _compose(ctx, "up", step.file)
        _check_services(ctx, project.services)


def start(ctx: Context, sink: Sink) -> bool:
    """The start sequence; publishes one status message; True on success."""
    p = ctx.config.params
    try:
        for warning in ctx.dest.check():
            log.warning("%s", warning)
        observed = Background(observe, ctx)  # overlaps boto3's start-up and the fetch
        aws = Aws.for_region(ctx.config.region)
        raw, version_id, local = _fetch(ctx, aws)
        try:
            project = composefile.parse(raw)
        except InvalidParameter as exc:
            raise type(exc)(f"s3://{p['DockerComposeFileS3Bucket']}/{p['DockerComposeFileS3Key']}: {exc}") from None
        if not local:
            atomic_write(ctx.dest.incoming, raw, owner=ctx.dest.owner)
        ctx.compose  # noqa: B018 -- a missing compose CLI fails here, before any login
        project = _resolve_images(ctx, project, "current" if local else "new")
        _logins(ctx, aws, project.images)
        steps = plan_start(ctx.config.profile, p, observed.result())
        state = {"bucket": p["DockerComposeFileS3Bucket"], "key": p["DockerComposeFileS3Key"],
                 "requested_version": ctx.config.value("DockerComposeFileS3Version"), "version_id": version_id}
        for step in steps:
            if local and step.file == "new":
                step = PlannedStep(step.action, "current", step.reason)
            _execute(ctx, step, lambda: local or ctx.dest.install(raw, state), project)
    except DadcError as exc:
        log.error("deployment failed (%s): %s", exc.error, exc)
        sink.publish(failure(str(exc), exc.error))
        return False
    except Exception as exc:  # an unexpected fault still ends in a status message
        log.exception("deployment failed")
        sink.publish(failure(f"{type(exc).__name__}: {exc}", "InternalError"))
        return False
    sink.publish(success(p["DockerComposeFileS3Bucket"], p["DockerComposeFileS3Key"],
                         ctx.config.value("DockerComposeFileS3Version") or version_id))
    log.info("deployment succeeded")
    return True
