"""Who docker and compose run as: DockerUserId, as the documentation requires it (a member of the
docker group), read the one way for a start (which refuses what does not hold) and for `dadc plan`
(which says so, on any host)."""
from __future__ import annotations

import grp
import os
import pwd
from dataclasses import dataclass

from dadc.errors import InvalidParameter
from dadc.runtime.seams import process


@dataclass(frozen=True)
class DockerUser:
    run_as: process.RunAs | None  # None: dadc's own user
    text: str  # who, for `dadc plan`
    problem: str = ""  # why a start here refuses it ('' it does not)


def resolve(user_id: str | None, grant_docker_group: bool = False) -> DockerUser:
    """DockerUserId: as root, docker runs as that user with its own groups, which must include the
    docker group (or --grant-docker-group adds it: an extension, since the docker group is
    root-equivalent); otherwise the uid must be dadc's own. Never raises: `problem` says why not."""
    if user_id is None:
        return DockerUser(None, f"dadc's own user (uid {os.geteuid()}) (no DockerUserId)")
    uid = int(user_id)
    if os.geteuid() != 0:
        if uid != os.geteuid():
            return DockerUser(None, f"DockerUserId {uid}", f"DockerUserId is {uid} but dadc runs as uid {os.geteuid()}: "
                              f"run dadc as root (it then runs docker as {uid}) or as uid {uid}")
        return DockerUser(None, f"dadc's own user (uid {uid}, the DockerUserId)")
    try:
        entry = pwd.getpwuid(uid)
        name, gid, groups = entry.pw_name, entry.pw_gid, tuple(os.getgrouplist(entry.pw_name, entry.pw_gid))
    except KeyError:
        name, gid, groups = "no such user here", uid, ()
    if uid == 0:
        return DockerUser(process.RunAs(uid, gid, groups), "DockerUserId 0 (root)")
    try:
        docker_gid: int | None = grp.getgrnam("docker").gr_gid
    except KeyError:
        docker_gid = None
    if docker_gid is not None and docker_gid in groups:
        return DockerUser(process.RunAs(uid, gid, groups), f"DockerUserId {uid} ({name}), a member of the docker group")
    if grant_docker_group and docker_gid is not None:
        return DockerUser(process.RunAs(uid, gid, groups + (docker_gid,)),
                          f"DockerUserId {uid} ({name}), the docker group granted (--grant-docker-group)")
    fix = (f"usermod -aG docker {name}" if docker_gid is not None
           else "groupadd docker, make it own the Docker socket, then usermod -aG docker " + name)
    return DockerUser(process.RunAs(uid, gid, groups), f"DockerUserId {uid} ({name})",
                      f"DockerUserId {uid} ({name}) is not a member of the docker group, which the connector "
                      f"requires: {fix} (or run dadc with --grant-docker-group)")


def run_as_for(user_id: str | None, grant_docker_group: bool = False) -> process.RunAs | None:
    """The user a start runs docker as; InvalidParameter when the connector's rule does not hold."""
    user = resolve(user_id, grant_docker_group)
    if user.problem:
        raise InvalidParameter(user.problem)
    return user.run_as
