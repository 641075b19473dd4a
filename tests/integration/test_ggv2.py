"""`dadc export ggv2` on the real engine: the exported component deployed by a lifecycle runner
that plays the nucleus's part (tests/integration/nucleus.py), with artifacts from the bed's S3,
images from its registries (ECR with a token), credentials from a token exchange endpoint only."""
from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.integration.bed import PROJECT, Bed, compose_text
from tests.integration.faults import wait_for
from tests.integration.nucleus import Component, Nucleus

REGION = "us-east-1"


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


@pytest.fixture
def nucleus(tmp_path: Path, testbed_env: dict[str, str]) -> Iterator[Nucleus]:
    # the device's own environment: no AWS keys (credentials come from the token exchange endpoint)
    device = {k: os.environ[k] for k in ("PATH", "HOME", "LANG") if k in os.environ}
    device["AWS_ENDPOINT_URL"] = testbed_env["AWS_ENDPOINT_URL"]
    n = Nucleus(tmp_path / "greengrass", REGION, device)
    yield n
    n.close()


def export(bed: Bed, definition: Path, out: Path, *args: str) -> tuple[dict[str, Any], str]:
    proc = bed.dadc("export", "ggv2", str(definition), "--out", str(out), "--upload",
                    "--artifacts-prefix", f"s3://{bed.bucket}/artifacts/", *args, timeout=600)
    assert proc.returncode == 0, proc.stderr
    recipe = yaml.safe_load((out / "recipe.yaml").read_text())
    deployment = json.loads((out / "deployment.json").read_text())
    return recipe, deployment["components"][recipe["ComponentName"]]["configurationUpdate"]["merge"]


def deploy(nucleus: Nucleus, bed: Bed, definition: Path, out: Path, *args: str) -> Component:
    recipe, merge = export(bed, definition, out, *args)
    return nucleus.deploy(recipe, merge)


@pytest.mark.parametrize("style", ["native", "dadc"])
def test_a_new_component_version_replaces_the_first_and_shutdown_stops_the_app(
        style: str, bed: Bed, nucleus: Nucleus, tmp_path: Path) -> None:
    first = bed.put(compose_text({"web": bed.open_image, "worker": bed.open_image}))
    c1 = deploy(nucleus, bed, bed.definition(7, DockerComposeFileS3Version=first), tmp_path / "v1", "--style", style)
    assert wait_for(lambda: services() == {"web", "worker"}, 120), c1.log.read_text()[-3000:]
    assert nucleus.tes.requests > 0  # artifacts (and dadc's own reads) with the token exchange credentials

    second = bed.put(compose_text({"web": bed.open_image, "extra": bed.open_image}))
    c2 = deploy(nucleus, bed, bed.definition(7, name="d2.json", DockerComposeFileS3Version=second),
                tmp_path / "v2", "--style", style, "--component-version", "1.0.1")
    assert ("Shutdown", 0) in c1.steps  # the first version's stop sequence ran before the second started
    assert wait_for(lambda: services() == {"web", "extra"}, 120), c2.log.read_text()[-3000:]
    assert (bed.dest / "docker-compose.yml").read_text() == compose_text({"web": bed.open_image,
                                                                          "extra": bed.open_image})
    nucleus.stop(c2.name)
    assert services(running_only=False) == set(), c2.log.read_text()[-3000:]


@pytest.mark.parametrize("style", ["native", "dadc"])
def test_shutdown_leaves_the_containers_when_stop_containers_is_false(style: str, bed: Bed, nucleus: Nucleus,
                                                                       tmp_path: Path) -> None:
    bed.put(compose_text({"web": bed.open_image}))
    c = deploy(nucleus, bed, bed.definition(6, StopContainersOnNewDeployment="false"), tmp_path / "out",
               "--style", style)
    assert wait_for(lambda: services() == {"web"}, 120), c.log.read_text()[-3000:]
    nucleus.stop(c.name)
    assert ("Shutdown", 0) in c.steps
    assert services() == {"web"}  # as the connector left them


@pytest.mark.parametrize("style", ["native", "dadc"])
def test_private_registry_logs_in_through_the_token_exchange_and_never_shows_the_password(
        style: str, bed: Bed, nucleus: Nucleus, tmp_path: Path, pushed_image: str, registry_secret: str,
        testbed_env: dict[str, str]) -> None:
    bed.put(compose_text({"app": pushed_image}))
    definition = bed.definition(5, AWSSecretsArnList=json.dumps([registry_secret]))
    c = deploy(nucleus, bed, definition, tmp_path / "out", "--style", style)
    assert wait_for(lambda: services() == {"app"}, 120), c.log.read_text()[-3000:]
    log = c.log.read_text()
    assert f"logged in to {testbed_env['DADC_REGISTRY']}" in log
    password = testbed_env["DADC_REGISTRY_PASSWORD"]
    assert password not in log
    for path in (tmp_path / "out").rglob("*"):
        if path.is_file():
            assert password.encode() not in path.read_bytes()
    assert nucleus.tes.requests > 0  # the secret was read with the token exchange credentials
    # the login went to the component's own docker config (native: DOCKER_CONFIG; dadc: its destination's)
    config = (c.work if style == "native" else bed.dest) / ".docker" / "config.json"
    assert testbed_env["DADC_REGISTRY"] in config.read_text()
    nucleus.stop(c.name)
    assert services(running_only=False) == set()


@pytest.mark.parametrize("style", ["native", "dadc"])
def test_ecr_image_is_pulled_with_a_token_from_the_token_exchange_credentials(
        style: str, bed: Bed, nucleus: Nucleus, tmp_path: Path, testbed_env: dict[str, str]) -> None:
    image = f"{testbed_env['DADC_ECR_HOST']}/{testbed_env['DADC_BASE_IMAGE']}"
    subprocess.run(["docker", "rmi", image], capture_output=True)  # only a pull with a token can bring it back
    bed.put(compose_text({"app": image}))
    recipe, merge = export(bed, bed.definition(7), tmp_path / "out", "--style", style)
    # native: a docker: artifact (DockerApplicationManager's ECR login); dadc: dadc logs in and pulls
    assert ({"Uri": f"docker:{image}"} in recipe["Manifests"][0]["Artifacts"]) == (style == "native")
    assert "aws.greengrass.TokenExchangeService" in recipe["ComponentDependencies"]
    c = nucleus.deploy(recipe, merge)
    assert wait_for(lambda: services() == {"app"}, 120), c.log.read_text()[-3000:]
    assert nucleus.tes.requests > 0
    policy = (tmp_path / "out" / "MIGRATION.md").read_text()
    assert "arn:aws:ecr:us-east-1:123456789012:repository/dadc/busybox" in policy
    nucleus.stop(c.name)


def test_native_force_deploy_removes_what_down_cannot_after_a_reboot(bed: Bed, nucleus: Nucleus,
                                                                      tmp_path: Path) -> None:
    """A restart (Greengrass runs the lifecycle again) with the local copy edited so that down
    fails: ForceDeploy removes the project's containers by label, as the connector did."""
    bed.put(compose_text({"web": bed.open_image}))
    definition = bed.definition(7, ForceDeploy="true")
    recipe, merge = export(bed, definition, tmp_path / "out", "--style", "native")
    c = nucleus.deploy(recipe, merge)
    assert wait_for(lambda: services() == {"web"}, 120), c.log.read_text()[-3000:]
    c.run and c.run.kill()  # power lost: no Shutdown
    nucleus.running.pop(c.name)
    (bed.dest / "docker-compose.yml").write_text("services: [not, a, mapping]\n")
    c2 = nucleus.deploy(recipe, merge)
    assert wait_for(lambda: services() == {"web"} and (bed.dest / "docker-compose.yml").read_text().startswith(
        "services:\n"), 120), c2.log.read_text()[-3000:]
    nucleus.stop(c2.name)
