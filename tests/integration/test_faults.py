"""Faults on the real test bed: dadc keeps working and keeps the running application safe."""
from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from tests.integration.bed import Bed, compose_text, containers, remove_project, statuses
from tests.integration.faults import LateDockerSocket, under_ci, wait_for


def lines_of(stream: Any) -> "queue.Queue[str]":
    q: "queue.Queue[str]" = queue.Queue()
    threading.Thread(target=lambda: [q.put(line) for line in stream], daemon=True).start()
    return q


def next_status(q: "queue.Queue[str]", timeout: float = 120) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = q.get(timeout=max(0.1, deadline - time.monotonic()))
        if line.startswith("{"):
            return json.loads(line)
    raise AssertionError("no status message")


def slow_compose(tmp: Path, action: str, seconds: int = 30) -> str:
    """A compose command that stalls before `action`: a window to send signals in."""
    script = tmp / f"slow-{action}"
    script.write_text(f"#!/bin/sh\ncase \" $* \" in *\" {action} \"*) touch {tmp}/stalling; sleep {seconds};; esac\n"
                      "exec docker compose \"$@\"\n")
    script.chmod(0o755)
    return str(script)


def no_partial_files(dest: Path) -> bool:
    return not [p for p in dest.rglob("*") if p.name.endswith(".tmp")]


def test_docker_daemon_late_then_up(bed: Bed, tmp_path: Path) -> None:
    """A booting device: InternalError, retries with backoff, success once the daemon answers."""
    late = LateDockerSocket(tmp_path / "late-docker.sock")
    bed.put(compose_text({"web": bed.open_image}))
    env = dict(os.environ, DOCKER_HOST=late.url)
    run = bed.spawn("run", "--definition", str(bed.definition(6)), "--retry", "--retry-base", "0.5", "--retry-cap", "2",
                    env=env)
    out = lines_of(run.stdout)
    try:
        first = next_status(out)
        assert first["status"] == "fail" and first["error"] == "InternalError"
        late.start()
        while (status := next_status(out))["status"] != "success":
            assert status["error"] == "InternalError"
        assert len(containers(running_only=True)) == 1
    finally:
        run.terminate()
        run.wait(timeout=120)
        late.stop()
    assert run.returncode == 0


@pytest.mark.parametrize("action", ["pull", "up"])
def test_sigterm_during_a_deployment_still_stops_cleanly(bed: Bed, tmp_path: Path, action: str) -> None:
    bed.put(compose_text({"web": bed.open_image}))
    definition = bed.definition(6)
    run = bed.spawn("run", "--definition", str(definition), "--compose-command", slow_compose(tmp_path, action))
    lines_of(run.stderr)  # keep the pipe drained
    assert wait_for(lambda: (tmp_path / "stalling").exists(), timeout=120)
    run.send_signal(signal.SIGTERM)
    run.wait(timeout=120)
    assert run.returncode == 0
    assert containers() == [] and no_partial_files(bed.dest)
    proc = bed.dadc("deploy", "--definition", str(definition))
    assert proc.returncode == 0 and len(containers(running_only=True)) == 1


def test_sigkill_mid_deployment_then_the_next_start_recovers(bed: Bed, tmp_path: Path) -> None:
    bed.put(compose_text({"web": bed.open_image}))
    definition = bed.definition(5)
    run = bed.spawn("run", "--definition", str(definition), "--compose-command", slow_compose(tmp_path, "pull"),
                    start_new_session=True)
    lines_of(run.stderr)
    assert wait_for(lambda: (tmp_path / "stalling").exists(), timeout=120)
    os.killpg(run.pid, signal.SIGKILL)
    run.wait(timeout=30)
    proc = bed.dadc("deploy", "--definition", str(definition))
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert len(containers(running_only=True)) == 1 and no_partial_files(bed.dest)


def test_a_container_ignoring_sigterm_meets_the_stop_limit(bed: Bed) -> None:
    bed.put(f"services:\n  stubborn:\n    image: {bed.open_image}\n    command: [\"sleep\", \"600\"]\n")
    definition = bed.definition(5)
    assert bed.dadc("deploy", "--definition", str(definition)).returncode == 0
    proc = bed.dadc("stop", "--definition", str(definition), "--stop-timeout", "3")
    assert "did not finish within 3s" in proc.stderr  # dadc's limit ended it, not docker's own 10 s
    assert proc.returncode == 1
    assert "1 container(s) left: greengrassdockerapplicationdeployment-stubborn-1" in proc.stderr
    assert "remove them with: " in proc.stderr and " rm -f greengrassdockerapplicationdeployment-stubborn-1" in proc.stderr


def test_dadc_run_exits_1_when_its_stop_leaves_containers_behind(bed: Bed) -> None:
    """The README's exit code 1 for a failed stop holds for `dadc run` too (it used to exit 0)."""
    bed.put(f"services:\n  stubborn:\n    image: {bed.open_image}\n    command: [\"sleep\", \"600\"]\n")
    run = bed.spawn("run", "--definition", str(bed.definition(5)), "--stop-timeout", "2")
    out = lines_of(run.stdout)
    lines_of(run.stderr)
    assert next_status(out)["status"] == "success"
    run.send_signal(signal.SIGTERM)
    run.wait(timeout=120)
    assert run.returncode == 1
    remove_project()


def test_destination_file_system_full(bed: Bed) -> None:
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=256k,mode=0700", "tmpfs", str(bed.dest)],
                             capture_output=True, text=True)
    if mounted.returncode != 0:
        if under_ci():
            pytest.fail(f"cannot mount a tmpfs: {mounted.stderr}")
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr}")
    try:
        bed.put(compose_text({"web": bed.open_image}))
        definition = bed.definition(5)
        assert bed.dadc("deploy", "--definition", str(definition)).returncode == 0
        good, running = (bed.dest / "docker-compose.yml").read_bytes(), containers(running_only=True)
        bed.put(compose_text({"web": bed.open_image}) + "# padding\n" * 40_000)  # ~400 kB: does not fit
        proc = bed.dadc("deploy", "--definition", str(definition))
        assert proc.returncode == 1 and statuses(proc.stdout)[-1]["status"] == "fail"
        assert "No space left" in statuses(proc.stdout)[-1]["error_message"]
        assert (bed.dest / "docker-compose.yml").read_bytes() == good
        assert containers(running_only=True) == running and no_partial_files(bed.dest)
    finally:
        remove_project()
        subprocess.run(["umount", str(bed.dest)], capture_output=True)


def test_registry_unreachable_during_pull_keeps_the_app_running(bed: Bed) -> None:
    bed.put(compose_text({"web": bed.open_image}))
    definition = bed.definition(5)
    assert bed.dadc("deploy", "--definition", str(definition)).returncode == 0
    running = containers(running_only=True)
    bed.put(compose_text({"web": "127.0.0.1:1/nowhere/app:1"}))
    proc = bed.dadc("deploy", "--definition", str(definition))
    assert proc.returncode == 1
    status = statuses(proc.stdout)[-1]
    assert status["error"] == "InternalError" and "pull" in status["error_message"]
    assert containers(running_only=True) == running
