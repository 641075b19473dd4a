"""DockerUserId runs docker and compose as that user; a 30-service project deploys and is monitored."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

from tests.integration.bed import Bed, compose_text, containers, remove_project

UID = 4321


@pytest.fixture
def docker_user() -> int:
    if subprocess.run(["getent", "passwd", str(UID)], capture_output=True).returncode != 0:
        subprocess.run(["useradd", "-u", str(UID), "-M", "-s", "/usr/sbin/nologin", "-G", "docker", "dadcdocker"],
                       check=True, capture_output=True)
    return UID


def test_docker_user_id_runs_docker_and_compose_as_that_user(bed: Bed, docker_user: int, registry_secret: str,
                                                              pushed_image: str) -> None:
    # pytest's tmp folders are root-only: the user needs a folder it can reach
    shared = Path(tempfile.mkdtemp(prefix="dadc-uid-"))
    try:
        shared.chmod(0o755)
        dest = shared / "dest"
        dest.mkdir(mode=0o700)
        os.chown(dest, docker_user, -1)
        record = shared / "ids"
        record.touch()
        record.chmod(0o666)
        wrapper = shared / "compose-as"
        wrapper.write_text(f"#!/bin/sh\necho \"$(id -u) $(id -G)\" >> {record}\nexec {bed.env['DADC_COMPOSE_V1']} \"$@\"\n")
        wrapper.chmod(0o755)
        bed.put(compose_text({"web": pushed_image}))
        definition = bed.definition(5, DockerUserId=str(docker_user), DockerComposeFileDestinationPath=str(dest),
                                    AWSSecretsArnList=json.dumps([registry_secret]))
        proc = bed.dadc("deploy", "--definition", str(definition), "--compose-command", str(wrapper),
                        "--state-dir", str(shared / "dadc-state"))
        assert proc.returncode == 0, proc.stderr[-3000:]
        docker_gid = int(subprocess.run(["getent", "group", "docker"], capture_output=True, text=True).stdout.split(":")[2])
        for line in record.read_text().splitlines():
            uid, *groups = map(int, line.split())
            assert uid == docker_user and docker_gid in groups
        for path in (dest / "docker-compose.yml", dest / ".docker" / "config.json"):
            assert path.stat().st_uid == docker_user, path
        state = shared / "dadc-state" / "projects"
        folder = next(state.iterdir())  # dadc's own, out of the user's reach: root's, readable by its group
        assert (folder.stat().st_uid, folder.stat().st_mode & 0o777) == (0, 0o750)
        assert (folder / "records.json").stat().st_uid == 0 and (folder / "records.json").stat().st_mode & 0o077 == 0
        assert len(containers(running_only=True)) == 1
    finally:
        remove_project()
        shutil.rmtree(shared, ignore_errors=True)


def test_thirty_services_deploy_and_are_monitored(bed: Bed) -> None:
    bed.put(compose_text({f"svc{i:02d}": bed.open_image for i in range(30)}))
    definition = bed.definition(6)
    proc = bed.dadc("deploy", "--definition", str(definition))
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert len(containers(running_only=True)) == 30
    status = bed.dadc("status", "--definition", str(definition))
    assert status.stdout.count("\trunning\t") == 30
