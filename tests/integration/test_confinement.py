"""DockerUserId confines what it should, as root on the test bed: links planted in the destination
are never followed (nothing outside changes), a stranger's entry is refused, an edited local copy
is not run, docker and compose never see dadc's secrets, the docker group is required, and risky
compose settings are reported through compose's own reading of the file."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest

from tests.integration.bed import Bed, compose_text, containers, remove_project, statuses
from tests.integration.conftest import compose_commands, docker

MEMBER, STRANGER = 4321, 4322  # in the docker group, and not


def _user(uid: int, groups: str) -> int:
    if subprocess.run(["getent", "passwd", str(uid)], capture_output=True).returncode != 0:
        argv = ["useradd", "-u", str(uid), "-M", "-s", "/usr/sbin/nologin", f"dadc{uid}"]
        subprocess.run(argv + (["-G", groups] if groups else []), check=True, capture_output=True)
    return uid


@pytest.fixture
def shared(bed: Bed) -> Iterator[Path]:
    """A folder the DockerUserId users can reach (pytest's are root-only), removed afterwards; the
    destination in it belongs to the docker-group member, mode 0700, as the README says."""
    _user(MEMBER, "docker")
    folder = Path(tempfile.mkdtemp(prefix="dadc-confine-"))
    folder.chmod(0o755)
    dest = folder / "dest"
    dest.mkdir(mode=0o700)
    os.chown(dest, MEMBER, -1)
    try:
        yield folder
    finally:
        remove_project()
        shutil.rmtree(folder, ignore_errors=True)


def _as_user(bed: Bed, command: str, definition: Path, *args: str, env: dict[str, str] | None = None) -> Any:
    """dadc as root, docker as the DockerUserId user: with the v1 CLI in /usr/bin; dadc's state in a
    folder beside the destination that the user can search (pytest's own are root's, mode 0700)."""
    dest = Path(json.loads(definition.read_text())["Connectors"][0]["Parameters"]["DockerComposeFileDestinationPath"])
    return bed.dadc(command, "--definition", str(definition), "--compose-command", bed.env["DADC_COMPOSE_V1"],
                    "--state-dir", str(dest.parent / "dadc-state"), *args, env=env)


def _definition(bed: Bed, dest: Path, uid: int = MEMBER, **params: str) -> Path:
    return bed.definition(7, DockerUserId=str(uid), DockerComposeFileDestinationPath=str(dest), **params)


def _snapshot(*paths: Path) -> list[tuple[Any, ...]]:
    """What must not change outside the destination: mode, owner, size, content, mtime."""
    rows = []
    for p in paths:
        st = os.lstat(p)
        rows.append((str(p), st.st_mode, st.st_uid, st.st_size, st.st_mtime_ns,
                     p.read_bytes() if p.is_file() else sorted(os.listdir(p))))
    return rows


def _outside(folder: Path) -> tuple[Path, Path]:
    """A folder and a file of root's, outside the destination: what a planted link points at."""
    target = folder / "outside"
    target.mkdir(mode=0o755)
    secret = target / "shadow-like"
    secret.write_text("root's data\n")
    secret.chmod(0o640)
    return target, secret


PLANTS: dict[str, Callable[[Path, Path, Path], None]] = {
    ".docker": lambda dest, target, secret: (dest / ".docker").symlink_to(target),
    "compose file": lambda dest, target, secret: (dest / "docker-compose.yml").symlink_to(secret),
    ".env": lambda dest, target, secret: (dest / ".env").symlink_to(secret),
    # where dadc 0.2 kept its state: read once at most, never through a link
    ".dadc": lambda dest, target, secret: (dest / ".dadc").symlink_to(target),
    "history": lambda dest, target, secret: (dest / ".dadc" / "records.json").symlink_to(secret),
}
REFUSED = {".docker", "compose file", ".env"}  # what a start reads or writes


@pytest.mark.parametrize("what", list(PLANTS))
def test_a_link_planted_by_the_docker_user_is_never_followed(bed: Bed, shared: Path, what: str) -> None:
    dest = shared / "dest"
    bed.put(compose_text({"web": bed.open_image}))
    definition = _definition(bed, dest)
    assert _as_user(bed, "deploy", definition).returncode == 0  # dadc's folders exist
    _as_user(bed, "stop", definition)
    target, secret = _outside(shared)
    planted = {"compose file": "docker-compose.yml", ".env": ".env", "history": ".dadc/records.json"}
    if what in planted:
        (dest / planted[what]).parent.mkdir(exist_ok=True)
        (dest / planted[what]).unlink(missing_ok=True)
    else:
        shutil.rmtree(dest / what, ignore_errors=True)
    PLANTS[what](dest, target, secret)
    before = _snapshot(target, secret)
    proc = _as_user(bed, "deploy", definition)
    assert _snapshot(target, secret) == before  # nothing outside the destination changed
    if what not in REFUSED:
        assert proc.returncode == 0, proc.stderr[-2000:]  # dadc keeps nothing there any more
        return
    assert proc.returncode == 1, proc.stderr[-2000:]
    (status,) = statuses(proc.stdout)
    assert status["status"] == "fail" and "refused" in status["error_message"], status
    assert containers() == []


def test_a_folder_of_another_user_is_refused(bed: Bed, shared: Path) -> None:
    _user(STRANGER, "")
    dest = shared / "dest"
    (dest / ".docker").mkdir(mode=0o700)
    os.chown(dest / ".docker", STRANGER, -1)
    bed.put(compose_text({"web": bed.open_image}))
    proc = _as_user(bed, "deploy", _definition(bed, dest))
    assert proc.returncode == 1
    (status,) = statuses(proc.stdout)
    assert f"belongs to uid {STRANGER}" in status["error_message"] and "refused" in status["error_message"]
    assert (dest / ".docker").stat().st_uid == STRANGER and containers() == []


def test_a_local_copy_edited_by_the_docker_user_is_not_run(bed: Bed, shared: Path) -> None:
    """Offline, the local copy runs: not once someone else has changed it since dadc installed it."""
    dest = shared / "dest"
    bed.put(compose_text({"web": bed.open_image}))
    definition = _definition(bed, dest, DockerOfflineMode="true")
    assert _as_user(bed, "deploy", definition).returncode == 0
    running = containers(running_only=True)
    local = dest / "docker-compose.yml"
    local.write_text(compose_text({"web": bed.open_image}) + "    privileged: true\n")
    offline = dict(os.environ, AWS_ENDPOINT_URL="http://127.0.0.1:9")
    proc = _as_user(bed, "deploy", definition, env=offline)
    assert proc.returncode == 1
    (status,) = statuses(proc.stdout)
    assert "changed since dadc installed it" in status["error_message"], status
    assert [c["id"] for c in containers(running_only=True)] == [c["id"] for c in running]  # left as it was
    assert not any(docker("inspect", "--format", "{{.HostConfig.Privileged}}", c["id"]).stdout.strip() == "true"
                   for c in containers(running_only=True))


def test_compose_never_sees_dadcs_secrets_and_sees_what_is_named(bed: Bed) -> None:
    bed.put("services:\n  web:\n    image: " + bed.open_image + "\n"
            "    environment:\n      LEAKED: \"${AWS_SECRET_ACCESS_KEY:-}\"\n      MQTT: \"${DADC_MQTT_PASSWORD:-}\"\n"
            "      NAMED: \"${DADC_TEST_NAMED:-}\"\n      OTHER: \"${DADC_TEST_OTHER:-}\"\n"
            "    command: [\"sh\", \"-c\", \"trap 'exit 0' TERM; while true; do sleep 1 & wait $$!; done\"]\n")
    env = dict(os.environ, DADC_MQTT_PASSWORD="mqtt-secret", DADC_TEST_NAMED="named-value",
               DADC_TEST_OTHER="not-named")
    assert env.get("AWS_SECRET_ACCESS_KEY")  # the test bed's credentials are in dadc's environment
    names = bed.tmp / "names"
    names.write_text("# variables for the compose file\nDADC_TEST_NAMED\n")
    proc = bed.dadc("deploy", "--definition", str(bed.definition(7)), "--compose-env-file", str(names), env=env)
    assert proc.returncode == 0, proc.stderr[-2000:]
    (web,) = containers(running_only=True)
    seen = dict(line.split("=", 1) for line in json.loads(docker("inspect", "--format", "{{json .Config.Env}}",
                                                                   web["id"]).stdout))
    assert seen["LEAKED"] == "" and seen["MQTT"] == "" and seen["OTHER"] == ""
    assert seen["NAMED"] == "named-value"
    refused = bed.dadc("deploy", "--definition", str(bed.definition(7)), "--compose-env", "AWS_SECRET_ACCESS_KEY")
    assert refused.returncode == 2 and "never passes its own secrets" in refused.stderr


def test_a_docker_user_outside_the_docker_group_is_refused_unless_granted(bed: Bed, shared: Path) -> None:
    _user(STRANGER, "")
    dest = shared / "dest"
    os.chown(dest, STRANGER, -1)
    bed.put(compose_text({"web": bed.open_image}))
    definition = _definition(bed, dest, uid=STRANGER)
    proc = _as_user(bed, "deploy", definition)
    assert proc.returncode == 1
    (status,) = statuses(proc.stdout)
    assert status["error"] == "InvalidParameter" and f"usermod -aG docker dadc{STRANGER}" in status["error_message"]
    assert containers() == [] and not (dest / ".docker").exists()  # refused before anything ran
    plan = _as_user(bed, "plan", definition)  # a plan runs on any host: it says what a start would refuse
    assert plan.returncode == 0 and "a start on this host refuses it" in plan.stdout, plan.stdout + plan.stderr
    assert "not a member of the docker group" in plan.stdout
    proc = _as_user(bed, "deploy", definition, "--grant-docker-group")
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert len(containers(running_only=True)) == 1
    plan = _as_user(bed, "plan", definition, "--grant-docker-group")
    assert "the docker group granted (--grant-docker-group)" in plan.stdout
    assert "--grant-docker-group" in plan.stdout.split("# dadc extensions:")[1].splitlines()[0]


RISKY = """x-base: &base
  privileged: true
services:
  web:
    <<: *base
    image: ${DADC_RISKY_IMAGE:-busybox}
    command: ["sh", "-c", "trap 'exit 0' TERM; while true; do sleep 1 & wait $$!; done"]
  child:
    extends: web
    volumes: ["/etc:/host-etc:ro"]
"""


@pytest.mark.parametrize("flavour", ["v1", "v2"])
def test_risky_settings_are_judged_through_compose_and_located_in_the_file(bed: Bed, flavour: str) -> None:
    """A merge key, extends and interpolation cannot hide them: compose's config output is judged."""
    path = bed.tmp / "risky.yml"
    path.write_text(RISKY)
    env = dict(os.environ, PATH=f"{Path(compose_commands(bed.env)[flavour][0]).parent}:{os.environ['PATH']}")
    if flavour == "v1":  # the first docker-compose on PATH is what dadc detects without the plugin
        env["PATH"] = f"{Path(bed.env['DADC_COMPOSE_V1']).parent}:{env['PATH']}"
    proc = bed.dadc("validate", "--compose", str(path), "--format", "json", env=env)
    assert proc.returncode == 0, proc.stderr
    (result,) = json.loads(proc.stdout)["files"]
    got = sorted((f["rule"], f["pointer"], f["line"]) for f in result["findings"])
    assert ("W7001", "/services/web/privileged", 4) in got and ("W7001", "/services/child/privileged", 8) in got
    assert ("W7007", "/services/web/image", 6) in got  # interpolated to busybox: no tag
    assert ("W7004", "/services/child/volumes/0", 10) in got


def test_a_start_logs_the_risky_settings_of_what_it_deploys(bed: Bed) -> None:
    # pid: host runs in this sandbox (cap_add: [ALL] or privileged cannot: runc may not apply caps here,
    # and the real compose then fails the up, as it should)
    bed.put(compose_text({"web": bed.open_image}) + "    pid: host\n")
    proc = bed.dadc("deploy", "--definition", str(bed.definition(7)))
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert f"s3://{bed.bucket}/{bed.key}:5:5: warning W7002 service web shares the host's pid namespace" in proc.stderr
