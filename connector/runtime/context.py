"""What every runtime command shares: the config, the options, the destination, the outside
systems (docker, compose, AWS) and the user docker runs as."""
from __future__ import annotations

import grp
import os
import pwd
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Callable

from connector.errors import InvalidParameter, UnsafeFile
from connector.options import RuntimeOptions
from connector.runtime import definitions
from connector.runtime.seams import aws, compose, process
from connector.runtime.seams.aws import Cloud
from connector.runtime.seams.docker import Docker
from connector.runtime.seams.local import Destination
from connector.runtime.settings import Config

if TYPE_CHECKING:
    from connector.runtime.composefile import ComposeProject


@dataclass
class Context:
    config: Config
    options: RuntimeOptions
    dest: Destination
    docker: Docker
    compose_cli: "Future[compose.ComposeCli]"  # detected while other work goes on
    make_cloud: Callable[[], Cloud]
    env: dict[str, str]
    run_as: process.RunAs | None
    pause: Callable[[float], None] = process.sleep  # between attempts and looks (an interrupt cuts it short); the recorded engine's is virtual
    clock: Callable[[], float] = time.monotonic
    _cloud: Cloud | None = field(default=None, repr=False)

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
        """incoming: the file just fetched; current: the local copy."""
        return self.dest.incoming if which == "incoming" else self.dest.compose_file

    def compose_argv(self, action: str, file: Path, *extra: str) -> list[str]:
        return self.compose.command(action, file, self.dest.root, *extra)

    def run_compose(self, action: str, file: Path, *extra: str, timeout: float | None = None,
                    check: bool = True) -> process.Result:
        if action == "up" and file == self.dest.compose_file:
            wrong = self.dest.installed_unchanged()  # the folder is the DockerUserId user's to write
            if wrong:
                raise UnsafeFile(f"{wrong}: refused to run it; nothing was changed", path=str(file))
        return self.compose.run(action, file, self.dest.root, *extra, env=self.env, run_as=self.run_as,
                                timeout=timeout, check=check)

    def read_project(self, file: Path, where: str, timeout: float | None = None,
                     needs: tuple[str, ...] = ()) -> "ComposeProject":
        from connector.plan import limit
        return self.compose.read_project(file, self.dest.root, where, env=self.env, run_as=self.run_as,
                                         timeout=timeout or limit("config"), needs=needs,
                                         dotenv=self.dest.read(".env") if self.compose.generation == 1 else None)


def run_as_for(user_id: str | None, grant_docker_group: bool = False) -> process.RunAs | None:
    """DockerUserId: as root, run docker as that user with its own groups, which must include the
    docker group as the documentation requires (or --grant-docker-group adds it: an extension, since
    the docker group is root-equivalent); otherwise the uid must be dadc's own."""
    if user_id is None:
        return None
    uid = int(user_id)
    if os.geteuid() != 0:
        if uid != os.geteuid():
            raise InvalidParameter(f"DockerUserId is {uid} but dadc runs as uid {os.geteuid()}: run dadc as "
                                   f"root (it then runs docker as {uid}) or as uid {uid}")
        return None
    try:
        entry = pwd.getpwuid(uid)
        name, gid, groups = entry.pw_name, entry.pw_gid, tuple(os.getgrouplist(entry.pw_name, entry.pw_gid))
    except KeyError:
        name, gid, groups = str(uid), uid, ()
    if uid == 0:
        return process.RunAs(uid, gid, groups)
    try:
        docker_gid: int | None = grp.getgrnam("docker").gr_gid
    except KeyError:
        docker_gid = None
    if docker_gid is not None and docker_gid in groups:
        return process.RunAs(uid, gid, groups)
    if grant_docker_group and docker_gid is not None:
        return process.RunAs(uid, gid, groups + (docker_gid,))
    fix = (f"usermod -aG docker {name}" if docker_gid is not None
           else "groupadd docker, make it own the Docker socket, then usermod -aG docker " + name)
    raise InvalidParameter(f"DockerUserId {uid} ({name}) is not a member of the docker group, which the connector "
                           f"requires: {fix} (or run dadc with --grant-docker-group)")


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


def build(config: Config, options: RuntimeOptions, cloud: Cloud | None = None,
          pause: Callable[[float], None] | None = None, clock: Callable[[], float] | None = None) -> Context:
    run_as = run_as_for(config.value("DockerUserId"), options.grant_docker_group)
    dest = Destination(Path(options.destination) if options.destination else config.destination,
                       owner=run_as.uid if run_as else None)
    env = docker_environment(dict(os.environ), options.compose_env, dest.docker_config, _home(run_as, dest))
    # the compose CLI answers while boto3 loads and the engine is asked what runs
    detection = ThreadPoolExecutor(max_workers=1, thread_name_prefix="dadc-compose")
    compose_cli = detection.submit(compose.detect, options.compose_command, env, run_as)
    detection.shutdown(wait=False)
    return Context(config, options, dest, Docker.find(env, run_as), compose_cli,
                   aws.factory(config.region, cloud), env, run_as, pause or process.sleep, clock or time.monotonic)


def load(options: RuntimeOptions, cloud: Cloud | None = None) -> Config:
    """The definition the options name, read and validated (resolved once, whatever form it takes,
    through the same cloud the start uses): InvalidParameter names the first error and its place."""
    return definitions.resolve(options, aws.factory(None, cloud)).read_config()


def for_options(options: RuntimeOptions, cloud: Cloud | None = None, pause: Callable[[float], None] | None = None,
                clock: Callable[[], float] | None = None, config: Config | None = None) -> Context:
    return build(config or load(options, cloud), options, cloud, pause, clock)
