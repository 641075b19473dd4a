"""What every runtime command shares: the config, the options, the destination, the outside
systems (docker, compose, AWS) and the user docker runs as."""
from __future__ import annotations

import os
import pwd
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Callable

from dadc.domain.release import Source
from dadc.errors import InvalidParameter
from dadc.options import RuntimeOptions
from dadc.plan import PlanOptions
from dadc.runtime import definitions, dockeruser
from dadc.runtime.seams import aws, compose, process
from dadc.runtime.seams.aws import Cloud
from dadc.runtime.seams.docker import Docker
from dadc.runtime.seams.local import Destination
from dadc.runtime.seams.lock import ProjectLock
from dadc.runtime.seams.state import StateDir
from dadc.runtime.seams.state import default_state_dir
from dadc.runtime.settings import Config
from dadc.runtime.workspace import Workspace

if TYPE_CHECKING:
    from dadc.domain.composefile import ComposeProject


@dataclass(frozen=True)
class Hooks:
    """What a start talks to besides docker and compose, in one place: the cloud (None: boto3),
    the pause between attempts and looks (an interrupt cuts it short) and the clock. The
    conformance harness's recorded engine brings its own: an in-memory cloud, virtual time."""

    cloud: Cloud | None = None
    pause: Callable[[float], None] = process.sleep
    clock: Callable[[], float] = time.monotonic


@dataclass
class Context:
    config: Config
    options: RuntimeOptions
    ws: Workspace
    docker: Docker
    compose_cli: "Future[compose.ComposeCli]"  # detected while other work goes on
    make_cloud: Callable[[], Cloud]
    env: dict[str, str]
    run_as: process.RunAs | None
    pause: Callable[[float], None] = process.sleep
    clock: Callable[[], float] = time.monotonic
    user: dockeruser.DockerUser | None = None
    _cloud: Cloud | None = field(default=None, repr=False)

    @property
    def dest(self) -> Destination:
        return self.ws.dest

    @property
    def plan_options(self) -> PlanOptions:
        return PlanOptions.of(self.options)

    def lock(self) -> ProjectLock:
        """The host-wide lock of the compose project (seams/lock.py)."""
        return ProjectLock(self.project, self.dest.root)

    def source(self, version_id: str | None = None) -> Source:
        """Where the definition's compose file comes from (the version S3 served, when known)."""
        p = self.config.params
        return Source(p["DockerComposeFileS3Bucket"], p["DockerComposeFileS3Key"],
                      self.config.value("DockerComposeFileS3Version"), version_id)

    @property
    def compose(self) -> compose.ComposeCli:
        return self.compose_cli.result()

    @property
    def cloud(self) -> Cloud:
        if self._cloud is None:
            self._cloud = self.make_cloud()
        return self._cloud

    @property
    def project(self) -> str:
        return compose.project_name()

    def file(self, which: str) -> Path:
        """incoming: the file just fetched (in the state directory); current: the local copy."""
        return self.ws.state.incoming if which == "incoming" else self.dest.compose_file

    def compose_argv(self, action: str, file: Path, *extra: str) -> list[str]:
        return self.compose.command(action, file, self.dest.root, *extra)

    def run_compose(self, action: str, file: Path, *extra: str, timeout: float | None = None,
                    check: bool = True) -> process.Result:
        return self.compose.run(action, file, self.dest.root, *extra, env=self.env, run_as=self.run_as,
                                timeout=timeout, check=check)

    def read_project(self, file: Path, where: str, timeout: float | None = None,
                     needs: tuple[str, ...] = ()) -> "ComposeProject":
        from dadc.plan import limit
        return self.compose.read_project(file, self.dest.root, where, env=self.env, run_as=self.run_as,
                                         timeout=timeout or limit("config"), needs=needs,
                                         dotenv=self.dest.read(".env") if self.compose.generation == 1 else None)


# What docker and compose get of dadc's environment: what they need, never dadc's own secrets
# (AWS credentials, the MQTT password): compose would put a ${VAR} of them into a container, and
# the DockerUserId user could read them in /proc/PID/environ. --compose-env passes more by name.
PASSED = frozenset({"PATH", "LANG", "LANGUAGE", "TZ", "HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "ALL_PROXY",
                    "http_proxy", "https_proxy", "no_proxy", "all_proxy", "SSL_CERT_FILE", "SSL_CERT_DIR"})
PASSED_PREFIXES = ("DOCKER_", "COMPOSE_", "LC_")
NEVER = frozenset({"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN",
                   "AWS_CONTAINER_AUTHORIZATION_TOKEN", "AWS_WEB_IDENTITY_TOKEN_FILE", "DADC_MQTT_PASSWORD"})


def docker_environment(environ: dict[str, str], names: tuple[str, ...], docker_config: Path,
                       home: str | None) -> dict[str, str]:
    env = {k: v for k, v in environ.items() if (k in PASSED or k.startswith(PASSED_PREFIXES)) and k not in NEVER}
    env.update({name: environ[name] for name in names if name in environ and name not in NEVER})
    env["DOCKER_CONFIG"] = str(docker_config)
    if home:
        env["HOME"] = home
    return env


def _home(run_as: process.RunAs | None, dest: Destination) -> str | None:
    """The user's home for docker and compose (compose v1 reads ~); the destination when the user
    has none."""
    if run_as is None or run_as.uid == 0:
        return os.environ.get("HOME")
    try:
        home = pwd.getpwuid(run_as.uid).pw_dir
    except KeyError:
        home = ""
    return home if home and os.path.isdir(home) else str(dest.root)


def build(config: Config, options: RuntimeOptions, hooks: Hooks | None = None, lenient: bool = False) -> Context:
    """lenient: for `dadc plan` on any host: a DockerUserId this host would refuse is shown, not
    refused (the start itself still refuses it)."""
    hooks = hooks or Hooks()
    user = dockeruser.resolve(config.value("DockerUserId"), options.grant_docker_group)
    if user.problem and not lenient:
        raise InvalidParameter(user.problem)
    run_as = user.run_as
    dest = Destination(Path(options.destination) if options.destination else config.destination,
                       owner=run_as.uid if run_as else None)
    state = StateDir(Path(options.state_dir or default_state_dir()), dest.root,
                     run_as.gid if run_as and run_as.uid != 0 and run_as.uid != os.geteuid() else None)
    env = docker_environment(dict(os.environ), options.compose_env, dest.docker_config, _home(run_as, dest))
    # the compose CLI answers while boto3 loads and the engine is asked what runs
    detection = ThreadPoolExecutor(max_workers=1, thread_name_prefix="dadc-compose")
    compose_cli = detection.submit(compose.detect, options.compose_command, env, run_as)
    detection.shutdown(wait=False)
    return Context(config, options, Workspace(dest, state), Docker.find(env, run_as), compose_cli,
                   aws.factory(config.region, hooks.cloud), env, run_as, hooks.pause, hooks.clock, user=user)


def load(options: RuntimeOptions, hooks: Hooks | None = None) -> Config:
    """The definition the options name, read and validated (resolved once, whatever form it takes,
    through the same cloud the start uses): InvalidParameter names the first error and its place."""
    return definitions.resolve(options, aws.factory(None, (hooks or Hooks()).cloud)).read_config()


def for_options(options: RuntimeOptions, hooks: Hooks | None = None, config: Config | None = None,
                lenient: bool = False) -> Context:
    return build(config or load(options, hooks), options, hooks, lenient)
