"""The connector runtime on the real engine, S3, Secrets Manager, registries and broker."""
from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.integration.bed import Bed, Events, compose_text, containers, first, statuses
from tests.integration.conftest import docker
from tests.integration.faults import wait_for


def deploy_ok(bed: Bed, definition: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    proc = bed.dadc("deploy", "--definition", str(definition), *extra)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert statuses(proc.stdout)[-1]["status"] == "success"
    return proc


@pytest.mark.parametrize("version", [1, 4, 5])
def test_redeploy_sequence_observed_on_the_engine(bed: Bed, version: int) -> None:
    """v1-v3: down, up (no pull); v4: down, pull, up; v5-v6: pull, down, up. One version of each
    sequence on the engine; the recorded conformance holds every version to its sequence."""
    bed.put(compose_text({"web": bed.open_image}))
    definition = bed.definition(version)
    deploy_ok(bed, definition)
    before = containers()
    assert [c["name"] for c in before] == ["greengrassdockerapplicationdeployment-web-1"]
    events = Events().start()
    proc = deploy_ok(bed, definition)
    seen = events.stop()
    pull, destroy, create = (first(seen, "image", "pull"), first(seen, "container", "destroy"),
                             first(seen, "container", "create"))
    assert destroy >= 0 and create > destroy, seen
    if version <= 3:
        assert pull == -1, seen
    elif version == 4:
        assert destroy < pull < create, seen
    else:
        assert 0 <= pull < destroy, seen
    status = statuses(proc.stdout)[-1]
    assert status == {"status": "success", "GreengrassDockerApplicationDeploymentStatus":
                      "Successfully triggered docker-compose up", "S3Bucket": bed.bucket,
                      "ComposeFileName": bed.key, "ComposeFileVersion": status["ComposeFileVersion"]}
    assert [c["id"] for c in containers()] != [c["id"] for c in before]


def test_pull_before_up_false_skips_the_pull(bed: Bed) -> None:
    bed.put(compose_text({"web": bed.open_image}))
    definition = bed.definition(6, DockerPullBeforeUp="false")
    deploy_ok(bed, definition)
    events = Events().start()
    proc = deploy_ok(bed, definition)
    seen = events.stop()
    assert first(seen, "image", "pull") == -1 and " pull" not in proc.stderr.replace("--password", "")


def test_v6_stop_containers_false_leaves_them_running(bed: Bed) -> None:
    bed.put(compose_text({"web": bed.open_image}))
    definition = bed.definition(6, StopContainersOnNewDeployment="false")
    deploy_ok(bed, definition)
    before = containers(running_only=True)
    assert bed.dadc("stop", "--definition", str(definition)).returncode == 0
    assert containers(running_only=True) == before
    deploy_ok(bed, definition)  # no down: up reconciles and keeps the same container
    assert containers(running_only=True) == before


def test_stop_runs_down_and_restart_deploys_again(bed: Bed) -> None:
    bed.put(compose_text({"web": bed.open_image, "db": bed.open_image}))
    definition = bed.definition(5)
    deploy_ok(bed, definition)
    assert len(containers(running_only=True)) == 2
    assert bed.dadc("stop", "--definition", str(definition)).returncode == 0
    assert containers() == []
    deploy_ok(bed, definition)
    assert len(containers(running_only=True)) == 2


def test_cleanup_failure_without_and_with_force_deploy(bed: Bed) -> None:
    bed.put(compose_text({"web": bed.open_image}))
    deploy_ok(bed, bed.definition(6))
    running = containers(running_only=True)
    (bed.dest / "docker-compose.yml").write_text("services: [broken\n")  # the previous file is broken
    proc = bed.dadc("deploy", "--definition", str(bed.definition(6, name="nf.json")))
    assert proc.returncode == 1
    status = statuses(proc.stdout)[-1]
    assert status["status"] == "fail" and status["error"] == "InternalError" and "ForceDeploy" in status["error_message"]
    assert containers(running_only=True) == running
    deploy_ok(bed, bed.definition(6, name="f.json", ForceDeploy="true"))
    after = containers(running_only=True)
    assert len(after) == 1 and after[0]["id"] != running[0]["id"]


def test_image_updated_under_the_same_tag(bed: Bed, docker_config: dict[str, str], unique: str) -> None:
    """v5 pulls and picks the new image up; v1 never pulls and keeps the cached one."""
    ref = f"{bed.env['DADC_OPEN_REGISTRY']}/dadc/moving:{unique}"
    docker("tag", bed.env["DADC_BASE_IMAGE"], ref)
    docker("push", ref)
    bed.put(compose_text({"web": ref}))
    deploy_ok(bed, bed.definition(1, name="v1.json"))
    old_image = containers()[0]["image"]
    # a new image under the same tag, pushed from elsewhere (the local cache keeps the old one)
    subprocess.run(["docker", "build", "-q", "-t", ref, "-"], input=f"FROM {bed.env['DADC_BASE_IMAGE']}\nLABEL v={unique}\n",
                   text=True, check=True, capture_output=True)
    docker("push", ref)
    docker("tag", old_image, ref)
    deploy_ok(bed, bed.definition(1, name="v1.json"))
    assert containers()[0]["image"] == old_image
    deploy_ok(bed, bed.definition(5, name="v5.json"))
    assert containers()[0]["image"] != old_image


@pytest.mark.parametrize("bad", [b"services:\n  web:\n    image: a\n    image: b\n", b"- just a list\n",
                                 b"\xff\xfe", b"services: {}\n"])
def test_bad_compose_file_leaves_the_app_untouched(bed: Bed, bad: bytes) -> None:
    bed.put(compose_text({"web": bed.open_image}))
    deploy_ok(bed, bed.definition(5))
    running, good = containers(running_only=True), (bed.dest / "docker-compose.yml").read_bytes()
    bed.put(bad)
    proc = bed.dadc("deploy", "--definition", str(bed.definition(5)))
    assert proc.returncode == 1
    assert statuses(proc.stdout)[-1]["error"] == "InvalidParameter"
    assert containers(running_only=True) == running
    assert (bed.dest / "docker-compose.yml").read_bytes() == good
    assert " pull" not in proc.stderr and " down" not in proc.stderr


def test_missing_object_and_version(bed: Bed) -> None:
    for params in ({"DockerComposeFileS3Key": "nope.yml"}, {"DockerComposeFileS3Version": "no-such-version"}):
        bed.put(compose_text({"web": bed.open_image}))
        proc = bed.dadc("deploy", "--definition", str(bed.definition(5, **params)))
        assert proc.returncode == 1
        assert statuses(proc.stdout)[-1]["error"] == "InvalidParameter", proc.stdout
    assert containers() == []


def test_invalid_parameters_run_no_docker_command(bed: Bed) -> None:
    proc = bed.dadc("deploy", "--definition", str(bed.definition(4, DockerPullBeforeUp="true")))
    assert proc.returncode == 1
    status = statuses(proc.stdout)[-1]
    assert status["error"] == "InvalidParameter" and "introduced in version 5" in status["error_message"]
    assert "run: " not in proc.stderr


def test_private_registry_with_secret_and_wrong_password(bed: Bed, pushed_image: str, registry_secret: str,
                                                         aws_clients: dict[str, Any], unique: str) -> None:
    bed.put(compose_text({"web": pushed_image}))
    deploy_ok(bed, bed.definition(5, AWSSecretsArnList=json.dumps([registry_secret])))
    running = containers(running_only=True)
    config = bed.dest / ".docker" / "config.json"
    assert config.stat().st_mode & 0o777 == 0o600 and (bed.dest / ".docker").stat().st_mode & 0o777 == 0o700
    wrong = aws_clients["secretsmanager"].create_secret(Name=f"greengrass-wrong-{unique}", SecretString=json.dumps(
        {"username": bed.env["DADC_REGISTRY_USER"], "password": "not-the-password-" + unique,
         "registryUrl": bed.env["DADC_REGISTRY"]}))["ARN"]
    proc = bed.dadc("deploy", "--definition", str(bed.definition(5, name="w.json", AWSSecretsArnList=json.dumps([wrong]))))
    assert proc.returncode == 1 and statuses(proc.stdout)[-1]["status"] == "fail"
    assert "not-the-password-" not in proc.stdout + proc.stderr
    assert containers(running_only=True) == running


def test_ecr_image_logs_in_with_a_fresh_token(bed: Bed) -> None:
    bed.put(compose_text({"web": f"{bed.env['DADC_ECR_HOST']}/{bed.env['DADC_BASE_IMAGE']}"}))
    proc = deploy_ok(bed, bed.definition(6))
    assert f"logged in to {bed.env['DADC_ECR_HOST']} as AWS (ECR)" in proc.stderr
    assert "123456789012-auth-token" not in proc.stdout + proc.stderr


@pytest.mark.parametrize("flavour", ["v1", "v2"])
def test_both_compose_generations(bed: Bed, flavour: str) -> None:
    cli = bed.env["DADC_COMPOSE_V1" if flavour == "v1" else "DADC_COMPOSE_V2"]
    bed.put(compose_text({"web": bed.open_image}))
    definition = bed.definition(5)
    deploy_ok(bed, definition, "--compose-command", cli)
    sep = "_" if flavour == "v1" else "-"
    assert [c["name"] for c in containers()] == [f"greengrassdockerapplicationdeployment{sep}web{sep}1"]
    status = bed.dadc("status", "--definition", str(definition), "--compose-command", cli)
    assert "running" in status.stdout
    assert bed.dadc("stop", "--definition", str(definition), "--compose-command", cli).returncode == 0
    assert containers() == []


def test_broker_down_never_blocks_a_deployment(bed: Bed) -> None:
    bed.put(compose_text({"web": bed.open_image}))
    proc = deploy_ok_mqtt = bed.dadc("deploy", "--definition", str(bed.definition(5)), "--mqtt", "mqtt://127.0.0.1:1")
    assert proc.returncode == 0, deploy_ok_mqtt.stderr[-2000:]
    assert "not delivered" in proc.stderr
    assert len(containers(running_only=True)) == 1


def test_status_over_mqtt_and_a_second_instance_is_locked_out(bed: Bed, mqtt_subscriber: Any) -> None:
    bed.put(compose_text({"web": bed.open_image}))
    definition = bed.definition(6, DockerContainerStatusLogFrequency="1")
    run = bed.spawn("run", "--definition", str(definition), "--mqtt", bed.env["DADC_MQTT"],
                    "--log-file", str(bed.tmp / "dadc.log"))
    try:
        topic, payload, qos = mqtt_subscriber.get(timeout=120)
        assert topic == "dockerapplicationdeploymentconnector/message/status" and qos == 1
        assert payload["status"] == "success" and payload["S3Bucket"] == bed.bucket
        second = bed.dadc("deploy", "--definition", str(definition))
        assert second.returncode == 1 and f"pid {run.pid}" in second.stdout
        log = bed.tmp / "dadc.log"
        line = "container greengrassdockerapplicationdeployment-web-1 image="
        assert wait_for(lambda: log.read_text().count(line) >= 2, timeout=60)  # two 1-second cycles
        assert "state=running health=none" in log.read_text()
    finally:
        run.terminate()
        run.communicate(timeout=120)
    assert run.returncode == 0
    assert containers() == []


def test_s3_unreachable_fails_by_default_and_the_offline_fallback_deploys_the_local_copy(bed: Bed) -> None:
    """v5 as documented: S3 down is a fail status and nothing is touched; --offline-fallback
    (v7's DockerOfflineMode, for any version) deploys the local copy."""
    bed.put(compose_text({"web": bed.open_image}))
    definition = bed.definition(5)
    deploy_ok(bed, definition)
    running = containers(running_only=True)
    offline = dict(bed.env, AWS_ENDPOINT_URL="http://127.0.0.1:9", PATH=__import__("os").environ["PATH"])
    proc = bed.dadc("deploy", "--definition", str(definition), env=offline)
    assert proc.returncode == 1 and statuses(proc.stdout)[-1]["error"] == "InternalError"
    assert "unreachable" in statuses(proc.stdout)[-1]["error_message"]
    assert containers(running_only=True) == running and " down" not in proc.stderr
    proc = bed.dadc("deploy", "--definition", str(definition), "--offline-fallback", env=offline)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "offline fallback: deploying the local copy" in proc.stderr
    assert len(containers(running_only=True)) == 1


@pytest.mark.parametrize("version", [1, 6])
def test_compose_sees_the_environment_for_interpolation(bed: Bed, version: int) -> None:
    """Every version passes the variables the operator names to compose (v3's fix, applied to all;
    the rest of dadc's environment stays with dadc: compatibility B5)."""
    bed.put("services:\n  web:\n    image: ${DADC_TEST_IMAGE}\n"
            "    command: [\"sh\", \"-c\", \"trap 'exit 0' TERM; while true; do sleep 1 & wait $$!; done\"]\n")
    env = dict(__import__("os").environ, DADC_TEST_IMAGE=bed.open_image)
    proc = bed.dadc("deploy", "--definition", str(bed.definition(version)), "--compose-env", "DADC_TEST_IMAGE", env=env)
    assert proc.returncode == 0, proc.stderr[-2000:]
    (web,) = containers(running_only=True)
    assert docker("inspect", "--format", "{{.Config.Image}}", web["id"]).stdout.strip() == bed.open_image


def test_v7_retries_docker_login_with_the_registrys_answer_and_never_the_password(
        bed: Bed, pushed_image: str, aws_clients: dict[str, Any], unique: str) -> None:
    password = "not-the-password-" + unique
    wrong = aws_clients["secretsmanager"].create_secret(Name=f"greengrass-wrong-{unique}", SecretString=json.dumps(
        {"username": bed.env["DADC_REGISTRY_USER"], "password": password, "registryUrl": bed.env["DADC_REGISTRY"]}))["ARN"]
    bed.put(compose_text({"web": pushed_image}))
    for version, attempts in ((6, 1), (7, 3)):
        proc = bed.dadc("deploy", "--definition", str(bed.definition(version, AWSSecretsArnList=json.dumps([wrong]))))
        assert proc.returncode == 1 and statuses(proc.stdout)[-1]["status"] == "fail"
        failures = [line for line in proc.stderr.splitlines() if f"docker login to {bed.env['DADC_REGISTRY']}" in line
                    and "failed" in line]
        assert len([f for f in failures if f"of {attempts}, next in" in f]) == attempts - 1, proc.stderr[-3000:]
        assert all("unauthorized" in f.lower() or "incorrect" in f.lower() for f in failures), failures
        assert password not in proc.stdout + proc.stderr
    assert containers() == []


def test_status_and_rollback_by_hand(bed: Bed, docker_config: dict[str, str], unique: str) -> None:
    """A release that deployed (no gate) but is not wanted: `dadc rollback` brings the one before
    back, on its recorded image though the tag moved; the next start does not redeploy it."""
    ref = f"{bed.env['DADC_OPEN_REGISTRY']}/dadc/by-hand:{unique}"
    docker("tag", bed.env["DADC_BASE_IMAGE"], ref)
    docker("push", ref)
    definition = bed.definition(7)
    bed.put(compose_text({"web": ref}))
    deploy_ok(bed, definition)
    (first,) = containers(running_only=True)
    subprocess.run(["docker", "build", "-q", "-t", ref, "-"], input=f"FROM {bed.env['DADC_BASE_IMAGE']}\nLABEL v={unique}\n",
                   text=True, check=True, capture_output=True)
    docker("push", ref)  # the tag moves
    bed.put(compose_text({"web": ref, "extra": ref}))
    deploy_ok(bed, definition)
    assert len(containers(running_only=True)) == 2 and containers()[0]["image"] != first["image"]
    status = bed.dadc("status", "--definition", str(definition)).stdout
    assert "# last good: s3://" in status and "# failed:" not in status
    proc = bed.dadc("rollback", "--definition", str(definition))
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "rolled back to s3://" in proc.stdout
    (back,) = containers(running_only=True)
    assert back["image"] == first["image"]  # the recorded image, not what the tag points at now
    status = bed.dadc("status", "--definition", str(definition)).stdout
    assert "# failed:" in status and "rolled back by hand" in status
    proc = bed.dadc("deploy", "--definition", str(definition))  # the same definition: not redeployed
    assert proc.returncode == 1 and "failed its health gate" not in proc.stdout  # rolled back by hand, said so
    assert "rolled back by hand" in statuses(proc.stdout)[-1]["error_message"]
    assert [c["image"] for c in containers(running_only=True)] == [first["image"]]


def test_rollback_to_a_release_further_back_from_the_history(bed: Bed) -> None:
    """Three good releases: `dadc status` numbers them; `dadc rollback --to N` brings the first back
    (more than one step), the current one is marked failed, and a failed one cannot be a target."""
    definition = bed.definition(7)
    for service in ("first", "second", "third"):
        bed.put(compose_text({service: bed.open_image}))
        deploy_ok(bed, definition)
    status = bed.dadc("status", "--definition", str(definition)).stdout
    rows = [line.split() for line in status.splitlines() if line.startswith("#   ")]
    assert [r[2] for r in rows] == ["good", "good", "good"], status
    first_n = rows[-1][1]
    proc = bed.dadc("rollback", "--definition", str(definition), "--to", first_n)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert {c["name"].split("-")[1] if "-" in c["name"] else c["name"].split("_")[1]
            for c in containers(running_only=True)} == {"first"}
    status = bed.dadc("status", "--definition", str(definition)).stdout
    failed_n = next(line.split()[1] for line in status.splitlines() if line.startswith("#   ") and " failed " in line)
    proc = bed.dadc("rollback", "--definition", str(definition), "--to", failed_n)
    assert proc.returncode == 1 and "only a good release can be rolled back to" in proc.stderr
    proc = bed.dadc("rollback", "--definition", str(definition), "--to", "zz")
    assert proc.returncode == 1 and "history number or a sha256 prefix" in proc.stderr
