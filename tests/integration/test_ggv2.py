"""`dadc export ggv2` on the real engine, run by a stand-in as harsh as the Greengrass nucleus
(tests/integration/nucleus.py, each rule beside the source it follows): deployments judged by the
start's own exit, rolled back as a whole; artifacts read-only and owned by the component user;
steps run as that user with sudo; the configuration reset, defaulted and merged; `docker:` URIs in
the nucleus's grammar, pulled only when missing; a nucleus restart; an offline token exchange."""
from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from dadc.conformance.engines.docker import FlakyRegistry
from tests.integration.bed import PROJECT, Bed, compose_text
from tests.integration.faults import wait_for
from tests.integration.nucleus import Nucleus, Result

REGION = "us-east-1"
GGC = "dadcggc"  # the component user: in the docker group
NODOCKER = "dadcnodocker"  # a component user outside it


def services(running_only: bool = True) -> set[str]:
    argv = ["docker", "ps", "-q", "--filter", f"label=com.docker.compose.project={PROJECT}"]
    if not running_only:
        argv.insert(2, "-a")
    ids = subprocess.run(argv, capture_output=True, text=True, check=True).stdout.split()
    if not ids:
        return set()
    out = subprocess.run(["docker", "inspect", "--format", '{{index .Config.Labels "com.docker.compose.service"}}',
                          *ids], capture_output=True, text=True, check=True).stdout
    return set(out.split())


def _user(name: str, docker_group: bool) -> str:
    if subprocess.run(["id", name], capture_output=True).returncode != 0:
        subprocess.run(["useradd", "-M", "-s", "/usr/sbin/nologin", *(["-G", "docker"] if docker_group else []), name],
                       check=True)
    return name


@pytest.fixture
def device(tmp_path: Path) -> Iterator[Path]:
    """The device's folders: reachable by a component user (pytest's own are root's alone)."""
    root = Path(tempfile.mkdtemp(prefix="dadc-device-"))
    root.chmod(0o755)
    yield root
    shutil.rmtree(root, ignore_errors=True)


def _nucleus(device: Path, env: dict[str, str], **kw: Any) -> Nucleus:
    # the device's own environment: no AWS keys (credentials come from the token exchange endpoint)
    own = {k: os.environ[k] for k in ("PATH", "HOME", "LANG") if k in os.environ}
    own["AWS_ENDPOINT_URL"] = env["AWS_ENDPOINT_URL"]
    (device / "greengrass").mkdir(mode=0o755, exist_ok=True)
    return Nucleus(device / "greengrass", REGION, own, **kw)


@pytest.fixture
def nucleus(device: Path, testbed_env: dict[str, str]) -> Iterator[Nucleus]:
    n = _nucleus(device, testbed_env, version="2.18.0")
    yield n
    n.close()


def export(bed: Bed, definition: Path, out: Path, *args: str) -> tuple[dict[str, Any], dict[str, Any]]:
    proc = bed.dadc("export", "ggv2", str(definition), "--out", str(out), "--upload",
                    "--artifacts-prefix", f"s3://{bed.bucket}/artifacts/", *args, timeout=600)
    assert proc.returncode == 0, proc.stderr
    return yaml.safe_load((out / "recipe.yaml").read_text()), json.loads((out / "deployment.json").read_text())


def deploy(nucleus: Nucleus, bed: Bed, definition: Path, out: Path, *args: str) -> tuple[Result, dict[str, Any]]:
    recipe, deployment = export(bed, definition, out, *args)
    nucleus.add_recipe(recipe)
    return nucleus.deploy(deployment), recipe


def container(service: str) -> str:
    return subprocess.run(["docker", "ps", "-q", "--filter", f"label=com.docker.compose.project={PROJECT}",
                           "--filter", f"label=com.docker.compose.service={service}"],
                          capture_output=True, text=True, check=True).stdout.strip()


def logs(nucleus: Nucleus) -> str:
    return "\n".join(p.read_text(errors="replace")[-3000:] for p in (nucleus.root / "logs").glob("*.log"))


@pytest.mark.parametrize("style", ["native", "dadc"])
def test_a_new_version_replaces_the_first_and_removing_the_component_takes_the_app_down(
        style: str, bed: Bed, nucleus: Nucleus, tmp_path: Path) -> None:
    first = bed.put(compose_text({"web": bed.open_image, "worker": bed.open_image}))
    done, _ = deploy(nucleus, bed, bed.definition(7, DockerComposeFileS3Version=first), tmp_path / "v1", "--style", style)
    assert done.status == "SUCCEEDED" and services() == {"web", "worker"}, logs(nucleus)
    web = container("web")
    second = bed.put(compose_text({"web": bed.open_image, "extra": bed.open_image}))
    done, recipe = deploy(nucleus, bed, bed.definition(7, name="d2.json", DockerComposeFileS3Version=second),
                          tmp_path / "v2", "--style", style, "--component-version", "1.0.1")
    assert done.status == "SUCCEEDED" and services() == {"web", "extra"}, logs(nucleus)
    assert container("web") not in ("", web)  # StopContainersOnNewDeployment (true): Shutdown took it down
    assert (bed.dest / "docker-compose.yml").read_text() == compose_text({"web": bed.open_image,
                                                                          "extra": bed.open_image})
    assert nucleus.tes.requests > 0 and nucleus.interpolation_errors == []
    # a deployment without the component: Shutdown, then Uninstall takes the app down
    removed = nucleus.deploy({"targetArn": "t", "components": {}})
    assert removed.status == "SUCCEEDED" and services(running_only=False) == set(), logs(nucleus)


@pytest.mark.parametrize("style", ["native"])
def test_with_stop_containers_false_a_new_version_updates_the_running_app_in_place(
        style: str, bed: Bed, nucleus: Nucleus, tmp_path: Path) -> None:
    """StopContainersOnNewDeployment=false: the restart a new component version brings leaves the
    containers running, and the next start's `up -d` reconciles them, as the connector's next
    deployment did (an unchanged service keeps its container). The dadc style's Shutdown reads the
    same parameter through dadc.ggv2.lifecycle (unit: test_the_dadc_lifecycle_gives_each_command_
    the_options_it_takes)."""
    first = bed.put(compose_text({"web": bed.open_image}))
    done, _ = deploy(nucleus, bed, bed.definition(7, DockerComposeFileS3Version=first,
                                                  StopContainersOnNewDeployment="false"), tmp_path / "v1", "--style", style)
    assert done.status == "SUCCEEDED" and services() == {"web"}, logs(nucleus)
    web = container("web")
    second = bed.put(compose_text({"web": bed.open_image, "extra": bed.open_image}))
    done, _ = deploy(nucleus, bed, bed.definition(7, name="d2.json", DockerComposeFileS3Version=second,
                                                  StopContainersOnNewDeployment="false"),
                     tmp_path / "v2", "--style", style, "--component-version", "1.0.1")
    assert done.status == "SUCCEEDED" and services() == {"web", "extra"} and container("web") == web, logs(nucleus)


@pytest.mark.parametrize("style", ["native", "dadc"])
def test_a_start_that_fails_fails_the_deployment_and_the_previous_one_comes_back(
        style: str, bed: Bed, nucleus: Nucleus, tmp_path: Path) -> None:
    """The start's own exit decides: an up that cannot start (its host port is taken) is three
    ERRORED starts, BROKEN, a FAILED deployment, and ROLLBACK runs the previous one again."""
    good = bed.put(compose_text({"web": bed.open_image}))
    done, _ = deploy(nucleus, bed, bed.definition(7, DockerComposeFileS3Version=good), tmp_path / "v1", "--style", style)
    assert done.status == "SUCCEEDED" and services() == {"web"}, logs(nucleus)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        bad = bed.put(compose_text({"web": bed.open_image}) + f'    ports: ["127.0.0.1:{port}:80"]\n')
        done, recipe = deploy(nucleus, bed, bed.definition(7, name="bad.json", DockerComposeFileS3Version=bad),
                              tmp_path / "v2", "--style", style, "--component-version", "1.0.1")
    assert done.status == "FAILED" and done.rolled_back, logs(nucleus)
    c = nucleus.running[recipe["ComponentName"]]
    assert c.version == "1.0.0" and c.state == "RUNNING"  # the previous deployment, back
    assert services() == {"web"}, logs(nucleus)


def test_an_image_no_registry_has_fails_a_native_deployment_before_anything_stops(
        bed: Bed, nucleus: Nucleus, tmp_path: Path, testbed_env: dict[str, str]) -> None:
    """Native: the image is a docker: artifact, prepared before any component stops, so its failed
    download fails the deployment with the running app untouched (no rollback needed)."""
    good = bed.put(compose_text({"web": bed.open_image}))
    done, _ = deploy(nucleus, bed, bed.definition(7, DockerComposeFileS3Version=good), tmp_path / "v1",
                     "--style", "native")
    assert done.status == "SUCCEEDED", logs(nucleus)
    started = services()
    bad = bed.put(compose_text({"web": f"{testbed_env['DADC_OPEN_REGISTRY']}/missing/app:1"}))
    done, recipe = deploy(nucleus, bed, bed.definition(7, name="bad.json", DockerComposeFileS3Version=bad),
                          tmp_path / "v2", "--style", "native", "--component-version", "1.0.1")
    assert done.status == "FAILED" and done.reason.startswith("DOCKER_IMAGE_DOWNLOAD_ERROR") and not done.rolled_back
    c = nucleus.running[recipe["ComponentName"]]
    assert c.version == "1.0.0" and c.state == "RUNNING" and services() == started == {"web"}


def test_the_default_deployment_runs_on_a_current_nucleus_and_an_old_pin_is_refused(
        bed: Bed, device: Path, testbed_env: dict[str, str], tmp_path: Path) -> None:
    n = _nucleus(device, testbed_env, version="2.12.0")
    try:
        bed.put(compose_text({"web": bed.open_image}))
        definition = bed.definition(7)
        done, _ = deploy(n, bed, definition, tmp_path / "pinned", "--style", "native", "--dependency-version",
                         "aws.greengrass.DockerApplicationManager=2.0.0")
        assert done.status == "FAILED" and "UNAUTHORIZED_NUCLEUS_MINOR_VERSION_UPDATE" in done.reason
        assert services(running_only=False) == set()  # refused before anything ran
        done, _ = deploy(n, bed, definition, tmp_path / "default", "--style", "native", "--component-version", "1.0.1")
        assert done.status == "SUCCEEDED" and services() == {"web"}, logs(n)
    finally:
        n.close()


@pytest.mark.parametrize("style, answer", [("native", 500), ("dadc", 504)])
def test_an_offline_reboot_with_registry_secrets_keeps_the_app_on_its_local_copy_and_images(
        style: str, answer: int, bed: Bed, nucleus: Nucleus, tmp_path: Path, testbed_env: dict[str, str],
        aws_clients: dict[str, Any], unique: str) -> None:
    """DockerOfflineMode: the token exchange service answers 500 (or 504) and the registry is gone
    when the device boots: the logins and the pull are unreachable, not refused, and the app comes
    back on what the device has."""
    flaky = FlakyRegistry("docker", testbed_env["DADC_BASE_IMAGE"])
    sm = aws_clients["secretsmanager"]
    secret = sm.create_secret(Name=f"greengrass-flaky-{unique}", SecretString=json.dumps(
        {"username": "u", "password": "p", "registryUrl": f"127.0.0.1:{flaky.port}"}))["ARN"]
    try:
        bed.put(compose_text({"app": flaky.image}))
        definition = bed.definition(7, AWSSecretsArnList=json.dumps([secret]), DockerOfflineMode="true")
        done, _ = deploy(nucleus, bed, definition, tmp_path / "out", "--style", style)
        assert done.status == "SUCCEEDED" and services() == {"app"}, logs(nucleus)
        flaky.stop()
        nucleus.tes.answer, nucleus.tes.late = answer, 3.0
        before = {p: p.stat().st_size for p in (nucleus.root / "logs").glob("*.log")}
        nucleus.restart()
        assert all(s == "RUNNING" for s in nucleus.states().values()) and services() == {"app"}, logs(nucleus)
        since = "".join(p.read_bytes()[before.get(p, 0):].decode(errors="replace")
                        for p in (nucleus.root / "logs").glob("*.log"))
        assert "unreachable" in since.lower(), since[-3000:]
    finally:
        flaky.stop()
        shutil.rmtree(flaky.root, ignore_errors=True)
        sm.delete_secret(SecretId=secret, ForceDeleteWithoutRecovery=True)


@pytest.mark.parametrize("style", ["native", "dadc"])
def test_private_and_ecr_registries_log_in_with_the_token_exchange_and_keep_no_password(
        style: str, bed: Bed, nucleus: Nucleus, tmp_path: Path, pushed_image: str, registry_secret: str,
        testbed_env: dict[str, str]) -> None:
    ecr = f"{testbed_env['DADC_ECR_HOST']}/{testbed_env['DADC_BASE_IMAGE']}"
    subprocess.run(["docker", "rmi", ecr], capture_output=True)  # only a pull with a token can bring it back
    bed.put(compose_text({"app": pushed_image, "ecr": ecr}))
    definition = bed.definition(5, AWSSecretsArnList=json.dumps([registry_secret]))
    done, recipe = deploy(nucleus, bed, definition, tmp_path / "out", "--style", style)
    assert done.status == "SUCCEEDED" and services() == {"app", "ecr"}, logs(nucleus)
    log = logs(nucleus)
    assert f"logged in to {testbed_env['DADC_REGISTRY']}" in log or style == "dadc"
    password = testbed_env["DADC_REGISTRY_PASSWORD"]
    assert password not in log
    for path in (tmp_path / "out").rglob("*"):
        if path.is_file():
            assert password.encode() not in path.read_bytes()
    policy = (tmp_path / "out" / "MIGRATION.md").read_text()
    assert "arn:aws:ecr:us-east-1:123456789012:repository/dadc/busybox" in policy
    if style == "native":  # the credentials are gone when the start ends
        assert not (nucleus.running[recipe["ComponentName"]].work / ".docker" / "config.json").exists()


def _as_user(device: Path, env: dict[str, str], user: str) -> tuple[Path, Nucleus]:
    """A destination the component user owns, and a nucleus running components as that user."""
    dest = device / "dest"
    dest.mkdir(mode=0o700)
    shutil.chown(dest, user)
    return dest, _nucleus(device, env, version="2.18.0", user=user)


def test_an_interrupted_start_as_an_unprivileged_user_is_done_again(bed: Bed, device: Path,
                                                                    testbed_env: dict[str, str],
                                                                    tmp_path: Path) -> None:
    """As the component user (sudo -u, in the docker group), with read-only artifacts it owns: a copy
    an interrupted start left behind is replaced at the next start, not written over."""
    user = _user(GGC, docker_group=True)
    dest, n = _as_user(device, testbed_env, user)
    try:
        bed.put(compose_text({"web": bed.open_image}))
        definition = bed.definition(7, DockerComposeFileDestinationPath=str(dest))
        done, recipe = deploy(n, bed, definition, tmp_path / "out", "--style", "native")
        assert done.status == "SUCCEEDED" and services() == {"web"}, logs(n)
        c = n.running[recipe["ComponentName"]]
        artifact = c.artifacts / "docker-compose.yml"
        assert artifact.stat().st_mode & 0o777 == 0o400 and artifact.owner() == user
        # what a start stopped between its copy and its move leaves: the read-only copy, the user's
        subprocess.run(["sudo", "-n", "-u", user, "cp", str(artifact), str(dest / ".incoming-docker-compose.yml")],
                       check=True)
        n.restart()
        assert n.states()[recipe["ComponentName"]] == "RUNNING" and services() == {"web"}, logs(n)
    finally:
        n.close()


def test_a_component_user_outside_the_docker_group_fails_the_deployment(bed: Bed, device: Path,
                                                                        testbed_env: dict[str, str],
                                                                        tmp_path: Path) -> None:
    user = _user(NODOCKER, docker_group=False)
    dest, n = _as_user(device, testbed_env, user)
    try:
        bed.put(compose_text({"web": bed.open_image}))
        done, recipe = deploy(n, bed, bed.definition(7, DockerComposeFileDestinationPath=str(dest)), tmp_path / "out",
                              "--style", "native")
        assert done.status == "FAILED" and n.states().get(recipe["ComponentName"]) != "RUNNING"
        assert "permission denied" in logs(n).lower()
        assert [s for s, _ in n.running.get(recipe["ComponentName"]).steps].count("Startup") == 3 \
            if recipe["ComponentName"] in n.running else True
    finally:
        n.close()


def test_a_parameter_removed_from_the_definition_is_removed_on_the_device(bed: Bed, nucleus: Nucleus,
                                                                          tmp_path: Path) -> None:
    """reset, then the recipe's defaults, then the merge: the pinned version goes, and the device
    runs the newest compose file."""
    pinned = bed.put(compose_text({"web": bed.open_image}))
    done, recipe = deploy(nucleus, bed, bed.definition(7, DockerComposeFileS3Version=pinned), tmp_path / "v1")
    assert done.status == "SUCCEEDED", logs(nucleus)
    bed.put(compose_text({"web": bed.open_image, "newest": bed.open_image}))
    done, _ = deploy(nucleus, bed, bed.definition(7, name="d2.json"), tmp_path / "v2", "--component-version", "1.0.1")
    assert done.status == "SUCCEEDED", logs(nucleus)
    assert "DockerComposeFileS3Version" not in nucleus.configs[recipe["ComponentName"]]["Parameters"]
    assert services() == {"web", "newest"}, logs(nucleus)


@pytest.mark.parametrize("style", ["native", "dadc"])
def test_a_service_built_on_the_device_beside_a_registry_image_deploys(
        style: str, bed: Bed, nucleus: Nucleus, tmp_path: Path) -> None:
    """A built service is no docker: artifact and no image to pull (DockerPullBeforeUp): up builds it
    on the device (an inline Dockerfile: only the compose file reaches the device)."""
    text = compose_text({"web": bed.open_image, "local": "dadc-ggv2-built:1"}) + (
        "    build:\n      context: .\n      dockerfile_inline: |\n"
        f"        FROM {bed.open_image}\n        LABEL built=on-the-device\n")
    bed.put(text)
    done, recipe = deploy(nucleus, bed, bed.definition(7, DockerPullBeforeUp="true"), tmp_path / "out",
                          "--style", style)
    assert done.status == "SUCCEEDED" and services() == {"web", "local"}, (done.reason, logs(nucleus))
    assert not any(a["Uri"].startswith("docker:") and "built" in a["Uri"]
                   for a in recipe["Manifests"][0].get("Artifacts", []))
    label = subprocess.run(["docker", "image", "inspect", "--format", '{{index .Config.Labels "built"}}',
                            "dadc-ggv2-built:1"], capture_output=True, text=True, check=True).stdout.strip()
    assert label == "on-the-device"
    subprocess.run(["docker", "rmi", "-f", "dadc-ggv2-built:1"], capture_output=True)


def _build(tag: str, release: int, base: str, folder: Path) -> str:
    """An image under tag, pushed; its id."""
    folder.mkdir(exist_ok=True)
    (folder / "Dockerfile").write_text(f"FROM {base}\nLABEL release={release}\n")
    subprocess.run(["docker", "build", "-q", "-t", tag, str(folder)], check=True, capture_output=True)
    subprocess.run(["docker", "push", tag], check=True, capture_output=True)
    return subprocess.run(["docker", "image", "inspect", "--format", "{{.Id}}", tag], check=True,
                          capture_output=True, text=True).stdout.strip()


def _running_images() -> list[str]:
    ids = subprocess.run(["docker", "ps", "-q", "--filter", f"label=com.docker.compose.project={PROJECT}"],
                         capture_output=True, text=True, check=True).stdout.split()
    return subprocess.run(["docker", "inspect", "--format", "{{.Image}}", *ids], capture_output=True, text=True,
                          check=True).stdout.split()


def test_a_tag_pushed_again_reaches_the_device_and_a_tag_with_a_digest_deploys(
        bed: Bed, nucleus: Nucleus, tmp_path: Path, testbed_env: dict[str, str], unique: str) -> None:
    """DockerPullBeforeUp: the start pulls what the version pulled, where the nucleus pulls a docker:
    artifact only when it is missing; an image named by tag and digest becomes a digest-only URI."""
    moved = f"{testbed_env['DADC_OPEN_REGISTRY']}/dadc/moved-{unique}:1"
    first = _build(moved, 1, testbed_env["DADC_BASE_IMAGE"], tmp_path / "build")
    bed.put(compose_text({"app": moved}))
    done, _ = deploy(nucleus, bed, bed.definition(7), tmp_path / "v1", "--style", "native")
    assert done.status == "SUCCEEDED" and _running_images() == [first], logs(nucleus)
    second = _build(moved, 2, testbed_env["DADC_BASE_IMAGE"], tmp_path / "build")
    subprocess.run(["docker", "tag", first, moved], check=True)  # the device still has release 1 under the tag
    done, _ = deploy(nucleus, bed, bed.definition(7), tmp_path / "v2", "--style", "native", "--component-version",
                     "1.0.1")
    assert done.status == "SUCCEEDED" and _running_images() == [second], logs(nucleus)
    digest = subprocess.run(["docker", "image", "inspect", "--format", "{{index .RepoDigests 0}}", moved],
                            capture_output=True, text=True, check=True).stdout.strip().split("@")[1]
    bed.put(compose_text({"app": f"{moved}@{digest}"}))
    done, recipe = deploy(nucleus, bed, bed.definition(7), tmp_path / "v3", "--style", "native",
                          "--component-version", "1.0.2")
    assert done.status == "SUCCEEDED", logs(nucleus)
    assert {"Uri": f"docker:{moved.rsplit(':', 1)[0]}@{digest}"} in recipe["Manifests"][0]["Artifacts"]


def test_an_install_that_stopped_half_way_is_done_again(bed: Bed, nucleus: Nucleus, tmp_path: Path) -> None:
    bed.put(compose_text({"web": bed.open_image}))
    done, recipe = deploy(nucleus, bed, bed.definition(7), tmp_path / "out")
    assert done.status == "SUCCEEDED", logs(nucleus)
    c = nucleus.running[recipe["ComponentName"]]
    (venv,) = c.work.glob("venv-*")
    # what the first pip step leaves when the second never ran: bin/dadc there, dadc's package gone
    (venv / ".dadc-installed").unlink()
    for package in venv.glob("lib/python*/site-packages/dadc"):
        shutil.rmtree(package)
    assert (venv / "bin" / "dadc").exists()
    nucleus.restart()
    assert nucleus.states()[recipe["ComponentName"]] == "RUNNING" and services() == {"web"}, logs(nucleus)
    assert (venv / ".dadc-installed").exists()


def test_two_connectors_go_to_one_group_one_after_the_other(bed: Bed, nucleus: Nucleus, tmp_path: Path) -> None:
    """--merge-with the group's current deployment: the first connector's component stays."""
    bed.put(compose_text({"first": bed.open_image}))
    done, _ = deploy(nucleus, bed, bed.definition(7), tmp_path / "a", "--style", "native", "--component-name", "dadc.A")
    assert done.status == "SUCCEEDED", logs(nucleus)
    other = bed.tmp / "dest-b"
    other.mkdir(mode=0o700)
    bed.put(compose_text({"second": bed.open_image}), key="b/docker-compose.yml")
    definition = bed.definition(7, name="b.json", DockerComposeFileS3Key="b/docker-compose.yml",
                                DockerComposeFileDestinationPath=str(other))
    done, _ = deploy(nucleus, bed, definition, tmp_path / "b", "--style", "native", "--component-name", "dadc.B",
                     "--merge-with", str(tmp_path / "a" / "deployment.json"))
    assert done.status == "SUCCEEDED" and set(nucleus.states()) == {"dadc.A", "dadc.B"}, logs(nucleus)
    assert services() == {"first", "second"}
