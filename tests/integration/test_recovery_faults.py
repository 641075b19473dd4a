"""A device ends on a good release whatever fails, on the real engine: a failed up or pull after
down, a tag pushed again, a changed .env, damaged records, a full disk, two dadc on one engine, a
killed `dadc run`, a signal to `dadc stop` (docs/reliability.md lists each, with these tests)."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from tests.integration.bed import Bed, compose_text, containers, statuses
from tests.integration.conftest import docker
from tests.integration.faults import under_ci, wait_for
from tests.integration.test_faults import lines_of, next_status

GATE = ("--health-gate", "30", "--health-stable", "2")
LOOP = '["sh", "-c", "trap \'exit 0\' TERM; while true; do sleep 1 & wait $$!; done"]'


def image_ids() -> set[str]:
    return {c["image"] for c in containers(running_only=True)}


def push(bed: Bed, ref: str, broken: bool = False) -> str:
    """The base image under ref, or (broken) one whose entrypoint exits 3 whatever the command; its id."""
    if broken:
        dockerfile = f"FROM {bed.env['DADC_BASE_IMAGE']}\nENTRYPOINT [\"sh\", \"-c\", \"exit 3\", \"--\"]\n"
        subprocess.run(["docker", "build", "-q", "-t", ref, "-"], input=dockerfile, text=True, check=True,
                       capture_output=True, timeout=300)
    else:
        docker("tag", bed.env["DADC_BASE_IMAGE"], ref)
    docker("push", ref)
    return docker("image", "inspect", "--format", "{{.Id}}", ref).stdout.strip()


def fail_message(proc: subprocess.CompletedProcess[str]) -> str:
    assert proc.returncode == 1, proc.stderr[-3000:]
    status = statuses(proc.stdout)[-1]
    assert status["status"] == "fail", status
    return str(status["error_message"])


@pytest.mark.parametrize("version", [7, 4])
def test_a_failed_up_after_down_is_rolled_back(bed: Bed, version: int) -> None:
    """Release 2's container cannot start (its host port is taken): with the gate, the failed up
    carries the recovery, whatever the version's order of down and pull."""
    import socket
    bed.put(compose_text({"web": bed.open_image}))
    definition = bed.definition(version)
    assert bed.dadc("deploy", "--definition", str(definition), *GATE).returncode == 0
    good = {c["id"] for c in containers(running_only=True)}
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        bed.put(compose_text({"web": bed.open_image, "api": bed.open_image})
                + f"    ports: ['127.0.0.1:{taken.getsockname()[1]}:80']\n")
        message = fail_message(bed.dadc("deploy", "--definition", str(definition), *GATE))
    assert "rolled back to" in message and "running again" in message, message
    assert [c["name"].rsplit("-", 2)[-2] for c in containers(running_only=True)] == ["web"]
    assert {c["id"] for c in containers(running_only=True)} != good  # brought back, not left as it was
    status = bed.dadc("status", "--definition", str(definition)).stdout
    assert "# failed:" in status and "# current:" in status


def test_a_v4_pull_that_fails_after_down_is_rolled_back(bed: Bed) -> None:
    bed.put(compose_text({"web": bed.open_image}))
    definition = bed.definition(4)
    assert bed.dadc("deploy", "--definition", str(definition), *GATE).returncode == 0
    bed.put(compose_text({"web": f"{bed.env['DADC_OPEN_REGISTRY']}/missing/app:1"}))
    message = fail_message(bed.dadc("deploy", "--definition", str(definition), *GATE))
    assert "rolled back to" in message, message
    assert len(containers(running_only=True)) == 1


def test_a_tag_pushed_again_is_another_release_and_the_good_image_comes_back(bed: Bed, unique: str) -> None:
    ref = f"{bed.env['DADC_OPEN_REGISTRY']}/dadc/moving:{unique}"
    good = push(bed, ref)
    bed.put(compose_text({"web": ref}))
    definition = bed.definition(7)
    assert bed.dadc("deploy", "--definition", str(definition), *GATE).returncode == 0
    assert image_ids() == {good}
    broken = push(bed, ref, broken=True)
    assert broken != good
    message = fail_message(bed.dadc("deploy", "--definition", str(definition), *GATE))  # a restart, say
    assert "rolled back to" in message and "it is the last good release" not in message, message
    assert image_ids() == {good}  # the recorded image, though the tag names another
    out = bed.dadc("status", "--definition", str(definition), "--format", "json")
    history = json.loads(out.stdout)["history"]
    assert [e["outcome"] for e in history[:2]] == ["failed", "good"]
    assert history[0]["release"]["images"]["web"]["id"] == broken
    assert history[1]["release"]["images"]["web"]["id"] == good


def test_a_rollback_restores_the_env_file_and_checks_what_runs(bed: Bed, unique: str) -> None:
    good_ref = f"{bed.env['DADC_OPEN_REGISTRY']}/dadc/envtag:good-{unique}"
    bad_ref = f"{bed.env['DADC_OPEN_REGISTRY']}/dadc/envtag:bad-{unique}"
    good, _ = push(bed, good_ref), push(bed, bad_ref, broken=True)
    text = "services:\n  web:\n    image: ${APP_IMAGE}\n    command: " + LOOP + "\n"
    (bed.dest / ".env").write_text(f"APP_IMAGE={good_ref}\n")
    bed.put(text)
    definition = bed.definition(7)
    assert bed.dadc("deploy", "--definition", str(definition), *GATE).returncode == 0
    (bed.dest / ".env").write_text(f"APP_IMAGE={bad_ref}\n")  # the operator's change, with a new file
    bed.put(text + "# release 2\n")
    message = fail_message(bed.dadc("deploy", "--definition", str(definition), *GATE))
    assert "rolled back to" in message, message
    assert (bed.dest / ".env").read_text() == f"APP_IMAGE={good_ref}\n"  # what the good release read
    assert image_ids() == {good}
    # a rollback by hand now records what really runs, with the .env it read
    proc = bed.dadc("rollback", "--definition", str(definition))
    assert proc.returncode == 1 and "no good deployment" in proc.stderr, proc.stderr


@pytest.mark.parametrize("damage", [b"", b'{"format": 2, "releases": [{"n": ', b"[]"])
def test_damaged_records_are_a_loud_refusal_never_an_empty_history(bed: Bed, damage: bytes, tmp_path: Path) -> None:
    state = tmp_path / "state"
    bed.put(compose_text({"web": bed.open_image}))
    definition = bed.definition(7)
    args = ("--definition", str(definition), "--state-dir", str(state))
    assert bed.dadc("deploy", *args, *GATE).returncode == 0
    (folder,) = (state / "projects").iterdir()
    for name in ("records.json", "records.json.1"):
        if (folder / name).exists() or name == "records.json":
            (folder / name).write_bytes(damage)
    status = bed.dadc("status", *args)
    assert status.returncode == 1 and "CANNOT BE READ" in status.stdout, status.stdout
    assert [p.name for p in folder.iterdir() if p.name.startswith("records.json.corrupt-")]  # kept aside
    bed.put(compose_text({"web": bed.open_image}) + "    entrypoint: ['sh', '-c', 'exit 3']\n")
    message = fail_message(bed.dadc("deploy", *args, *GATE))
    assert "history cannot be read" in message and "nothing more was taken down" in message, message
    assert "running: greengrassdockerapplicationdeployment-web-1" in message  # the failed release, said so


def test_a_history_cut_short_falls_back_on_the_generation_before(bed: Bed, tmp_path: Path) -> None:
    state = tmp_path / "state"
    definition = bed.definition(7)
    args = ("--definition", str(definition), "--state-dir", str(state))
    for n in (1, 2):
        bed.put(compose_text({"web": bed.open_image}) + f"# release {n}\n")
        assert bed.dadc("deploy", *args, *GATE).returncode == 0
    (folder,) = (state / "projects").iterdir()
    raw = (folder / "records.json").read_bytes()
    (folder / "records.json").write_bytes(raw[: len(raw) // 2])
    status = bed.dadc("status", *args)
    assert status.returncode == 0 and "the generation before it is used" in status.stdout, status.stdout
    assert "# last good:" in status.stdout and "none recorded" not in status.stdout


def test_a_full_disk_while_recording_is_logged_and_a_recovery_goes_on(bed: Bed, tmp_path: Path) -> None:
    """The bodies folder on a one-page tmpfs that the first release's body fills: every later body
    fails with ENOSPC. A good start still succeeds (the record's failure is logged, exit 0); a
    failed release's recovery, which cannot record it as failed, still brings the good one back."""
    state = tmp_path / "state"
    definition = bed.definition(7)
    args = ("--definition", str(definition), "--state-dir", str(state))
    bed.put(compose_text({"web": bed.open_image}))
    assert bed.dadc("deploy", *args, *GATE).returncode == 0
    (folder,) = (state / "projects").iterdir()
    bodies = folder / "bodies"
    kept = {p.name: p.read_bytes() for p in bodies.iterdir()}
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4k,mode=0700", "tmpfs", str(bodies)],
                             capture_output=True, text=True)
    if mounted.returncode != 0:
        if under_ci():
            pytest.fail(f"cannot mount a tmpfs: {mounted.stderr}")
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr}")
    try:
        for name, raw in kept.items():
            (bodies / name).write_bytes(raw)
        bed.put(compose_text({"web": bed.open_image}) + "# release 2\n")
        proc = bed.dadc("deploy", *args, *GATE)
        assert proc.returncode == 0 and statuses(proc.stdout)[-1]["status"] == "success", proc.stderr[-2000:]
        assert "No space left on device" in proc.stderr and "Traceback" not in proc.stderr
        bed.put(compose_text({"web": bed.open_image}) + "    entrypoint: ['sh', '-c', 'exit 3']\n")
        failed = bed.dadc("deploy", *args, *GATE)
        message = fail_message(failed)
        assert "rolled back to" in message and "running again" in message, message
        assert "recording it as failed failed" in failed.stderr and "the recovery goes on" in failed.stderr
        assert len(containers(running_only=True)) == 1
    finally:
        subprocess.run(["umount", str(bodies)], capture_output=True)


def test_two_dadc_on_one_engine_cannot_both_own_the_compose_project(bed: Bed, tmp_path: Path) -> None:
    """The project's name is the connector's, one per engine: a second dadc, on another destination,
    is refused, naming the first (its pid and destination), and removes nothing of it."""
    bed.put(compose_text({"web": bed.open_image}))
    first = bed.spawn("run", "--definition", str(bed.definition(7)))
    out = lines_of(first.stdout)
    try:
        assert next_status(out)["status"] == "success"
        running = containers(running_only=True)
        other = tmp_path / "other"
        other.mkdir(mode=0o700)
        second = bed.definition(7, name="second.json", DockerComposeFileDestinationPath=str(other),
                                ForceDeploy="true")
        proc = bed.dadc("deploy", "--definition", str(second))
        message = fail_message(proc)
        assert f"another dadc (pid {first.pid}, destination {bed.dest})" in message, message
        assert containers(running_only=True) == running
        assert bed.dadc("stop", "--definition", str(second)).returncode == 1  # nor may it stop them
        assert containers(running_only=True) == running
    finally:
        first.send_signal(signal.SIGTERM)
        first.wait(timeout=120)


def _children(pid: int) -> list[int]:
    found = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout.split()
    return [int(p) for p in found]


def test_a_killed_dadc_run_leaves_no_deploying_child_without_the_lock(bed: Bed) -> None:
    """SIGKILL of `dadc run` (the OOM killer, a supervisor's hard kill) mid-start: its deploy child
    holds the project's lock with it (the same open file), so no other dadc deploys meanwhile, and
    it ends as soon as it sees its parent gone."""
    bed.put(compose_text({"web": bed.open_image})
            + "    healthcheck: {test: [CMD, sleep, '300'], interval: 1s, timeout: 400s}\n")
    run = bed.spawn("run", "--definition", str(bed.definition(7)), "--health-gate", "120")
    err = lines_of(run.stderr)
    log: list[str] = []

    def gating() -> bool:
        while not err.empty():
            log.append(err.get())
        return any("step: gate" in line for line in log)
    assert wait_for(gating, 120), "".join(log)[-3000:]
    (child,) = [p for p in _children(run.pid) if "deploy" in Path(f"/proc/{p}/cmdline").read_text()]
    os.kill(child, signal.SIGSTOP)  # frozen: it cannot notice its parent's death until let go
    run.kill()
    run.wait(timeout=30)
    try:
        second = bed.dadc("deploy", "--definition", str(bed.definition(7, name="second.json")))
        assert "owns compose project" in fail_message(second)  # the orphan still holds the lock
    finally:
        os.kill(child, signal.SIGCONT)
    assert wait_for(lambda: not Path(f"/proc/{child}").exists() or
                    "Z" in Path(f"/proc/{child}/stat").read_text().split()[2], 30), "the orphan went on"
    proc = bed.dadc("stop", "--definition", str(bed.definition(7)))
    assert proc.returncode == 0, proc.stderr[-2000:]


def test_sigterm_to_dadc_stop_ends_its_down_and_leaves_no_compose_running(bed: Bed) -> None:
    """A container that ignores SIGTERM makes down wait its grace period: SIGTERM to `dadc stop`
    ends the down's whole process group at once, says so (exit 143) and frees the lock."""
    bed.put(f"services:\n  web:\n    image: {bed.open_image}\n    command: ['sleep', '600']\n"
            "    stop_grace_period: 120s\n")
    definition = bed.definition(7)
    assert bed.dadc("deploy", "--definition", str(definition)).returncode == 0
    stop = bed.spawn("stop", "--definition", str(definition))
    err = lines_of(stop.stderr)
    log: list[str] = []

    def downing() -> bool:
        while not err.empty():
            log.append(err.get())
        return any(" down" in line and "run:" in line for line in log)
    assert wait_for(downing, 60), "".join(log)  # the down is under way: it waits out the grace period
    began = time.monotonic()
    stop.send_signal(signal.SIGTERM)
    assert stop.wait(timeout=60) == 143
    assert time.monotonic() - began < 15
    left = subprocess.run(["pgrep", "-f", "compose -p greengrassdockerapplicationdeployment"],
                          capture_output=True, text=True).stdout.split()
    assert left == [], left
    status = bed.dadc("status", "--definition", str(definition))
    assert status.returncode == 0  # the lock is free
    docker("rm", "-f", *[c["id"] for c in containers()], check=False)
