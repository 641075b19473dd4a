"""What every runtime command shares: the config, the destination, the CLIs, the user to run as."""
from __future__ import annotations

import grp
import os
import pwd
from dataclasses import dataclass

from connector.errors import InvalidParameter
from connector.runtime import compose, process
from connector.runtime.background import Background
from connector.runtime.localstate import Destination
from connector.runtime.settings import Config

DEFAULT_STOP_TIMEOUT = 600.0


@dataclass
class Context:
    config: Config
    dest: Destination
    docker: str
    compose_cli: Background[compose.ComposeCli]  # detected while the deployment fetches
    env: dict[str, str]
    run_as: process.RunAs | None
    stop_timeout: float

    @property
    def compose(self) -> compose.ComposeCli:
        return self.compose_cli.result()

    def compose_argv(self, action: str, which: str) -> list[str]:
        file = self.dest.incoming if which == "new" else self.dest.compose_file
        return self.compose.command(action, file, self.dest.root)


def run_as_for(user_id: str | None) -> process.RunAs | None:
    """DockerUserId: as root, run docker as that user with its groups; otherwise it must be us."""
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
        gid, groups = entry.pw_gid, tuple(os.getgrouplist(entry.pw_name, entry.pw_gid))
    except KeyError:
        gid, groups = uid, ()
    try:
        docker_gid = grp.getgrnam("docker").gr_gid
        groups = groups if docker_gid in groups else groups + (docker_gid,)
    except KeyError:
        pass
    return process.RunAs(uid, gid, groups)


def build(config: Config, compose_command: str | None, stop_timeout: float | None) -> Context:
    run_as = run_as_for(config.value("DockerUserId"))
    dest = Destination(config.destination, owner=run_as.uid if run_as else None)
    env = dict(os.environ, DOCKER_CONFIG=str(dest.docker_config))
    if run_as and run_as.uid != 0:
        env["HOME"] = str(dest.root)  # compose v1 reads ~; the user may have no home of its own
    return Context(config, dest, compose.docker_binary(), Background(compose.detect, compose_command, env, run_as), env, run_as,
                   stop_timeout if stop_timeout is not None else DEFAULT_STOP_TIMEOUT)
