"""`dadc export ggv2` offline: every valid definition of the conformance cases exports in both
styles; each recipe validates against the recipe schema with its keys lower-cased (as the
nucleus reads them) and each deployment passes botocore's own validation of CreateDeployment."""
from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from botocore.session import get_session
from botocore.validate import ParamValidator

from dadc import cli, plan
from dadc.ggv2 import artifacts
from dadc.ggv2.inputs import ExportOptions
from dadc.validation.engine import validate_bytes

ROOT = Path(__file__).resolve().parents[2]
CASES = ROOT / "conformance" / "cases" / "validation"
EXAMPLE_COMPOSE = ROOT / "examples" / "docker-compose.yml"
PREFIX = "s3://gg-artifacts/migrated/"
ECR_COMPOSE = """services:
  web:
    image: 123456789012.dkr.ecr.us-west-2.amazonaws.com/web:1.2
  job:
    image: registry.example.com:5000/team/job@sha256:""" + "a" * 64 + """
  built:
    build: ./src
"""


# the nucleus's interpolation: {namespace:key} (KernelConfigResolver); any other namespace is an error it logs
NUCLEUS_VARIABLE = re.compile(r"\{([.\w]+):([^:}]+)}")
KNOWN_VARIABLES = {"artifacts", "work", "configuration", "iot"}


def nucleus_variables(text: str) -> set[str]:
    return {m[1] for m in NUCLEUS_VARIABLE.finditer(text)}


def lower_keys(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k).lower(): lower_keys(v) for k, v in value.items()}
    if isinstance(value, list):
        return [lower_keys(v) for v in value]
    return value


def valid_cases() -> list[tuple[Path, str]]:
    """(case, connector id) for every DockerApplicationDeployment connector of every valid case."""
    out = []
    for path in sorted(CASES.glob("*.json")):
        spec = json.loads(path.read_text())
        if spec.get("exit") != 0 or not ("document" in spec or "text" in spec) \
                or path.name.startswith("template-arn-set-at-deploy-time"):  # values CloudFormation decides
            continue
        raw = (spec["text"] if "text" in spec else json.dumps(spec["document"])).encode()
        version = int(spec["version"].lstrip("v")) if "version" in spec else None
        for c in validate_bytes(path.name, raw, version=version).connectors:
            parts = c.pointer.split("/")
            out.append((path, f"{parts[2]}/{c.id}" if c.pointer.startswith("/Resources/") else c.id or ""))
    return out


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    name, raw = artifacts.wheel(ExportOptions())  # built once from the source tree, as a user's export does
    path = tmp_path_factory.mktemp("wheel") / name
    path.write_bytes(raw)
    return path


@pytest.fixture(scope="module")
def recipe_schema() -> dict[str, Any]:
    return json.loads((ROOT / "schemas" / "ggv2-recipe.schema.json").read_text())


@pytest.fixture(scope="module")
def create_deployment() -> Any:
    return get_session().get_service_model("greengrassv2").operation_model("CreateDeployment").input_shape


def export(tmp_path: Path, definition: Path, *args: str) -> tuple[int, Path]:
    out = tmp_path / "out"
    code = cli.main(["export", "ggv2", str(definition), "--out", str(out), *args])
    return code, out


def case_files(case: Path, tmp_path: Path) -> tuple[Path, list[str]]:
    spec = json.loads(case.read_text())
    tmp_path.mkdir(parents=True, exist_ok=True)
    doc = tmp_path / ("definition.yaml" if "text" in spec else "definition.json")
    doc.write_text(spec["text"] if "text" in spec else json.dumps(spec["document"]))
    compose = tmp_path / "docker-compose.yml"
    compose.write_text(spec.get("compose") or EXAMPLE_COMPOSE.read_text())
    extra = ["--compose", str(compose)] + (["--version", spec["version"]] if "version" in spec else [])
    return doc, extra


@pytest.mark.parametrize("style", ["dadc", "native"])
@pytest.mark.parametrize("case, connector_id", valid_cases(), ids=lambda v: v.stem if isinstance(v, Path) else v or "bare")
def test_every_valid_definition_exports(case: Path, connector_id: str, style: str, tmp_path: Path, wheel: Path,
                                        recipe_schema: dict[str, Any], create_deployment: Any) -> None:
    doc, extra = case_files(case, tmp_path)
    code, out = export(tmp_path, doc, "--style", style, "--artifacts-prefix", PREFIX, "--wheel", str(wheel),
                       *(["--connector-id", connector_id] if connector_id else []), *extra)
    assert code == 0
    recipe = yaml.safe_load((out / "recipe.yaml").read_text())
    jsonschema.validate(lower_keys(recipe), recipe_schema)
    deployment = json.loads((out / "deployment.json").read_text())
    report = ParamValidator().validate(deployment, create_deployment)
    assert not report.has_errors(), report.generate_report()
    update = deployment["components"][recipe["ComponentName"]]["configurationUpdate"]
    merged = json.loads(update["merge"])
    assert merged == recipe["ComponentConfiguration"]["DefaultConfiguration"]
    assert update["reset"] == ["/ConnectorArn", "/Parameters", "/DadcOptions"]  # a removed parameter goes
    assert all(isinstance(v, str) for v in merged["Parameters"].values())
    uris = [a["Uri"] for a in recipe["Manifests"][0]["Artifacts"]]
    # DockerApplicationManager only for docker: artifacts; nothing of the nucleus's pinned by default
    assert ("aws.greengrass.DockerApplicationManager" in recipe["ComponentDependencies"]) == \
        any(u.startswith("docker:") for u in uris)
    assert set(deployment["components"]) == {recipe["ComponentName"]}
    lifecycle = recipe["Manifests"][0]["Lifecycle"]
    assert recipe["Manifests"][0]["Platform"] == {"os": "linux"}
    # the start is Startup (its exit decides the deployment), within every limit it plans
    assert "Run" not in lifecycle and lifecycle["Startup"]["Timeout"] > plan.limit("up")
    assert lifecycle["Shutdown"]["Timeout"] >= 600 and lifecycle["Uninstall"]["Timeout"] >= 600
    for step in ("Startup", "Shutdown", "Uninstall", "Install"):
        if step in lifecycle:  # the shell parses it, and the nucleus finds no variable it does not know
            subprocess.run(["sh", "-n"], input=lifecycle[step]["Script"], text=True, check=True)
            assert nucleus_variables(lifecycle[step]["Script"]) <= KNOWN_VARIABLES, lifecycle[step]["Script"]
    notes = (out / "MIGRATION.md").read_text()
    assert all(f"| `{name}` |" in notes for name, value in merged["Parameters"].items() if value)


def test_native_keeps_every_parameter_and_reads_each_from_the_configuration(tmp_path: Path) -> None:
    doc, extra = case_files(CASES / "v7-all-parameters-valid.json", tmp_path)
    code, out = export(tmp_path, doc, "--style", "native", "--artifacts-prefix", PREFIX, *extra)
    assert code == 0
    recipe = yaml.safe_load((out / "recipe.yaml").read_text())
    params = recipe["ComponentConfiguration"]["DefaultConfiguration"]["Parameters"]
    setenv = recipe["Manifests"][0]["Lifecycle"]["Setenv"]
    assert {f"P_{name}" for name in params} <= set(setenv)
    run = recipe["Manifests"][0]["Lifecycle"]["Startup"]["Script"]
    # ForceDeploy acts only when down fails; the login helper gets the offline flag; no value is pasted in
    assert '|| { on "$P_ForceDeploy" && docker ps -aq' in run
    assert "my-compose-bucket" not in run and "/home/ggc/compose" not in run
    uris = [a["Uri"] for a in recipe["Manifests"][0]["Artifacts"]]
    # the pinned version's copy, at a key of its own that no later component version changes
    assert uris[0] == f"{PREFIX}dadc.DockerApp/compose-versions/3HL4kqtJlcpXroDTDmJ.rmSpXd3dIbrHY/" \
                      "production-docker-compose.yml"
    assert f"{PREFIX}dadc.DockerApp/1.0.0/registry_login.py" in uris


def test_a_pinned_version_without_an_artifacts_prefix_is_refused_with_the_reason(tmp_path: Path,
                                                                               capsys: pytest.CaptureFixture[str]) -> None:
    doc, extra = case_files(CASES / "v7-all-parameters-valid.json", tmp_path)
    code, out = export(tmp_path, doc, "--style", "native", *extra)
    assert code == 2 and not out.exists()
    err = capsys.readouterr().err
    assert "DockerComposeFileS3Version 3HL4kqtJlcpXroDTDmJ.rmSpXd3dIbrHY pins an object version" in err
    assert "--artifacts-prefix" in err


def test_unpinned_native_points_at_the_object_and_needs_no_prefix(tmp_path: Path) -> None:
    doc, extra = case_files(CASES / "v6-minimal-valid.json", tmp_path)
    code, out = export(tmp_path, doc, "--style", "native", *extra)
    assert code == 0
    recipe = yaml.safe_load((out / "recipe.yaml").read_text())
    params = json.loads(doc.read_text())["Connectors"][0]["Parameters"]
    uri = f"s3://{params['DockerComposeFileS3Bucket']}/{params['DockerComposeFileS3Key']}"
    assert recipe["Manifests"][0]["Artifacts"][0] == {"Uri": uri}
    notes = (out / "MIGRATION.md").read_text()
    assert "digest is fixed when the component version is created" in notes
    # the nucleus downloads an s3:// artifact with the token exchange service's credentials
    assert "aws.greengrass.TokenExchangeService" in recipe["ComponentDependencies"]
    assert "aws.greengrass.DockerApplicationManager" in recipe["ComponentDependencies"]  # the example's images


def test_images_become_docker_artifacts_and_the_policy_names_each(tmp_path: Path) -> None:
    doc, _ = case_files(CASES / "v6-minimal-valid.json", tmp_path)
    compose = tmp_path / "ecr.yml"
    compose.write_text(ECR_COMPOSE)
    code, out = export(tmp_path, doc, "--style", "native", "--compose", str(compose), "--format", "json",
                       "--artifacts-prefix", PREFIX)  # the login helper (ECR tokens for the lifecycle's pulls)
    assert code == 0
    recipe = json.loads((out / "recipe.json").read_text())
    uris = [a["Uri"] for a in recipe["Manifests"][0]["Artifacts"]]
    assert "docker:123456789012.dkr.ecr.us-west-2.amazonaws.com/web:1.2" in uris
    assert f"docker:registry.example.com:5000/team/job@sha256:{'a' * 64}" in uris
    assert "aws.greengrass.DockerApplicationManager" in recipe["ComponentDependencies"]
    assert "aws.greengrass.TokenExchangeService" in recipe["ComponentDependencies"]
    notes = (out / "MIGRATION.md").read_text()
    assert "arn:aws:ecr:us-west-2:123456789012:repository/web" in notes
    assert "are not docker: artifacts; `up` builds or pulls them" in notes and "built" in notes


def test_the_deployment_carries_target_user_and_dependency_versions(tmp_path: Path, wheel: Path) -> None:
    doc, extra = case_files(CASES / "v7-minimal-valid.json", tmp_path)
    target = "arn:aws:iot:us-west-2:123456789012:thinggroup/line-3"
    code, out = export(tmp_path, doc, "--style", "native", "--artifacts-prefix", PREFIX, "--target-arn", target,
                       "--posix-user", "ggc_user:docker", "--component-name", "com.example.Line3",
                       "--component-version", "2.1.0",
                       "--dependency-version", "aws.greengrass.DockerApplicationManager=2.0.11", *extra)
    assert code == 0
    deployment = json.loads((out / "deployment.json").read_text())
    assert deployment["targetArn"] == target
    ours = deployment["components"]["com.example.Line3"]
    assert ours["componentVersion"] == "2.1.0" and ours["runWith"] == {"posixUser": "ggc_user:docker"}
    assert deployment["components"]["aws.greengrass.DockerApplicationManager"]["componentVersion"] == "2.0.11"
    notes = (out / "MIGRATION.md").read_text()
    assert "placeholder targetArn" not in notes
    code, out = export(tmp_path / "dadc", doc, "--artifacts-prefix", PREFIX, "--wheel", str(wheel),
                       "--component-name", "com.example.Line3", "--component-version", "2.1.0", *extra)
    notes = (out / "MIGRATION.md").read_text()
    assert f"aws s3 cp {out}/artifacts/gg-artifacts/migrated/com.example.Line3/2.1.0/{wheel.name} " \
           f"{PREFIX}com.example.Line3/2.1.0/{wheel.name}" in notes
    assert (out / "artifacts" / "gg-artifacts" / "migrated" / "com.example.Line3" / "2.1.0" / wheel.name).read_bytes() \
        == wheel.read_bytes()


@pytest.mark.parametrize("args, message", [
    (["--component-version", "1.0"], "MAJOR.MINOR.PATCH"),
    (["--component-name", "bad name"], "--component-name"),
    (["--posix-user", "root;id"], "--posix-user"),
    (["--upload"], "--upload needs --artifacts-prefix"),
    (["--artifacts-prefix", "https://x/"], "give s3://BUCKET/PREFIX/"),
    (["--dependency-version", "aws.greengrass.Nucleus=2.0.0"], "--dependency-version"),
])
def test_bad_usage_is_refused_and_writes_nothing(args: list[str], message: str, tmp_path: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    doc, extra = case_files(CASES / "v6-minimal-valid.json", tmp_path)
    code, out = export(tmp_path, doc, "--style", "native", *extra, *args)
    assert code == 2 and not out.exists()
    assert message in capsys.readouterr().err


def test_other_connectors_are_named_and_left_out(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    doc, extra = case_files(CASES / "v6-minimal-valid.json", tmp_path)
    definition = json.loads(doc.read_text())
    definition["Connectors"].append({"Id": "Twilio", "ConnectorArn":
                                     "arn:aws:greengrass:us-west-2::/connectors/TwilioNotifications/versions/5",
                                     "Parameters": {}})
    doc.write_text(json.dumps(definition))
    code, out = export(tmp_path, doc, "--style", "native", *extra)
    assert code == 0
    assert "TwilioNotifications" in capsys.readouterr().err
    assert "TwilioNotifications" in (out / "MIGRATION.md").read_text()


def test_an_invalid_definition_is_refused_at_its_place(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    spec = json.loads((CASES / "v6-relative-path.json").read_text())
    doc = tmp_path / "bad.json"
    doc.write_text(json.dumps(spec["document"]))
    code, out = export(tmp_path, doc, "--compose", str(EXAMPLE_COMPOSE))
    assert code == 2 and not out.exists()
    assert f"{doc}:" in capsys.readouterr().err


def test_recipes_validate_against_the_public_schema_when_given(tmp_path: Path, wheel: Path) -> None:
    """DADC_PUBLIC_RECIPE_SCHEMA: a copy of aws-greengrass-component-common's recipe_schema.json
    (not shipped: no package registry carries it). Without it the test says so and passes on
    dadc's own schema alone, which test_every_valid_definition_exports holds."""
    import os
    public = os.environ.get("DADC_PUBLIC_RECIPE_SCHEMA")
    schema = json.loads(Path(public).read_text()) if public else \
        json.loads((ROOT / "schemas" / "ggv2-recipe.schema.json").read_text())
    for style in ("dadc", "native"):
        doc, extra = case_files(CASES / "v7-all-parameters-valid.json", tmp_path / style)
        code, out = export(tmp_path / style, doc, "--style", style, "--artifacts-prefix", PREFIX, "--wheel",
                           str(wheel), *extra)
        assert code == 0
        jsonschema.validate(lower_keys(yaml.safe_load((out / "recipe.yaml").read_text())), schema)


def test_a_deployment_revises_the_targets_current_one_and_keeps_its_components(tmp_path: Path,
                                                                            create_deployment: Any) -> None:
    """--merge-with: what `aws greengrassv2 get-deployment` prints (ids, status and times left out, as
    CreateDeployment takes no such members): every component stays, ours is added or replaced."""
    doc, extra = case_files(CASES / "v6-minimal-valid.json", tmp_path)
    target = "arn:aws:iot:us-west-2:123456789012:thinggroup/line-3"
    current = {"targetArn": target, "revisionId": "3", "deploymentId": "d-1", "deploymentName": "line-3",
               "deploymentStatus": "ACTIVE", "isLatestForTarget": True, "creationTimestamp": "2026-11-01T00:00:00Z",
               "components": {"dadc.Other": {"componentVersion": "1.0.0"},
                              "dadc.DockerApp": {"componentVersion": "0.9.0"}},
               "deploymentPolicies": {"failureHandlingPolicy": "DO_NOTHING"},
               "iotJobConfiguration": {"jobExecutionsRolloutConfig": {"maximumPerMinute": 10}}}
    (tmp_path / "current.json").write_text(json.dumps(current))
    code, out = export(tmp_path, doc, "--style", "native", "--merge-with", str(tmp_path / "current.json"), *extra)
    assert code == 0
    deployment = json.loads((out / "deployment.json").read_text())
    assert not ParamValidator().validate(deployment, create_deployment).has_errors()
    assert deployment["targetArn"] == target and deployment["deploymentName"] == "line-3"
    assert deployment["components"]["dadc.Other"] == {"componentVersion": "1.0.0"}
    assert deployment["components"]["dadc.DockerApp"]["componentVersion"] == "1.0.0"
    assert deployment["deploymentPolicies"] == {"failureHandlingPolicy": "DO_NOTHING"}
    assert deployment["iotJobConfiguration"] == current["iotJobConfiguration"]
    assert "deploymentId" not in deployment and "revisionId" not in deployment
    code, out = export(tmp_path / "other", doc, "--style", "native", "--merge-with", str(tmp_path / "current.json"),
                       "--target-arn", "arn:aws:iot:us-west-2:123456789012:thinggroup/line-4", *extra)
    assert code == 2 and not out.exists()  # another target's deployment is not this one's to revise


def test_the_nucleus_components_are_not_pinned_unless_asked_and_a_pin_that_cannot_deploy_is_named(
        tmp_path: Path) -> None:
    doc, extra = case_files(CASES / "v6-minimal-valid.json", tmp_path)
    code, out = export(tmp_path, doc, "--style", "native", "--dependency-version",
                       "aws.greengrass.DockerApplicationManager=2.0.0", *extra)
    assert code == 0
    deployment = json.loads((out / "deployment.json").read_text())
    assert deployment["components"]["aws.greengrass.DockerApplicationManager"] == {"componentVersion": "2.0.0"}
    assert "aws.greengrass.TokenExchangeService" not in deployment["components"]
    assert "DockerApplicationManager 2.0.0 requires the nucleus >=2.1.0 <2.2.0" in (out / "MIGRATION.md").read_text()


def test_a_tag_beside_a_digest_becomes_a_digest_only_uri_and_a_name_the_nucleus_refuses_is_pulled_by_startup(
        tmp_path: Path) -> None:
    doc, _ = case_files(CASES / "v6-minimal-valid.json", tmp_path)
    compose = tmp_path / "c.yml"
    compose.write_text(f"services:\n  web:\n    image: nginx:1.25@sha256:{'b' * 64}\n"
                       "  odd:\n    image: registry.example.com/Team/App:1\n")
    code, out = export(tmp_path, doc, "--style", "native", "--compose", str(compose))
    assert code == 0
    recipe = yaml.safe_load((out / "recipe.yaml").read_text())
    uris = [a["Uri"] for a in recipe["Manifests"][0]["Artifacts"]]
    assert f"docker:nginx@sha256:{'b' * 64}" in uris and not any("Team" in u for u in uris)
    assert "pull web odd" in recipe["Manifests"][0]["Lifecycle"]["Startup"]["Script"]


def test_a_pinned_compose_copy_keeps_its_key_across_component_versions(tmp_path: Path) -> None:
    doc, extra = case_files(CASES / "v7-all-parameters-valid.json", tmp_path)
    found = []
    for version in ("1.0.0", "1.0.1"):
        code, out = export(tmp_path / version, doc, "--style", "native", "--artifacts-prefix", PREFIX,
                           "--component-version", version, *extra)
        assert code == 0
        found.append(yaml.safe_load((out / "recipe.yaml").read_text())["Manifests"][0]["Artifacts"][0]["Uri"])
    assert found[0] == found[1] and "/compose-versions/" in found[0]


def test_dadc_options_are_checked_and_their_health_gate_lengthens_startup(tmp_path: Path, wheel: Path,
                                                                         capsys: pytest.CaptureFixture[str]) -> None:
    doc, extra = case_files(CASES / "v7-minimal-valid.json", tmp_path)
    timeouts = []
    for options in ("", "--health-gate 600"):
        code, out = export(tmp_path / str(len(options)), doc, "--artifacts-prefix", PREFIX, "--wheel", str(wheel),
                           "--dadc-options", options, *extra)
        assert code == 0
        recipe = yaml.safe_load((out / "recipe.yaml").read_text())
        timeouts.append(recipe["Manifests"][0]["Lifecycle"]["Startup"]["Timeout"])
        assert recipe["ComponentConfiguration"]["DefaultConfiguration"]["DadcOptions"] == options
    assert timeouts[1] >= timeouts[0] + 600  # the gate, and the recovery it may start
    code, out = export(tmp_path / "bad", doc, "--artifacts-prefix", PREFIX, "--wheel", str(wheel),
                       "--dadc-options=--health-gate soon", *extra)
    assert code == 2 and "--health-gate" in capsys.readouterr().err


def test_a_wheelhouse_ships_every_wheel_and_install_uses_no_index(tmp_path: Path, wheel: Path) -> None:
    doc, extra = case_files(CASES / "v7-minimal-valid.json", tmp_path)
    house = tmp_path / "wheels"
    house.mkdir()
    for name in ("boto3-1.35.0-py3-none-any.whl", "PyYAML-6.0.2-cp311-cp311-manylinux_2_17_aarch64.whl"):
        (house / name).write_bytes(b"wheel")
    code, out = export(tmp_path, doc, "--artifacts-prefix", PREFIX, "--wheel", str(wheel), "--wheelhouse",
                       str(house), *extra)
    assert code == 0
    recipe = yaml.safe_load((out / "recipe.yaml").read_text())
    uris = [a["Uri"] for a in recipe["Manifests"][0]["Artifacts"]]
    assert f"{PREFIX}dadc.DockerApp/1.0.0/boto3-1.35.0-py3-none-any.whl" in uris and len(uris) == 3
    install = recipe["Manifests"][0]["Lifecycle"]["Install"]
    assert '--no-index --find-links "{artifacts:path}"' in install["Script"]
    # done only when whole: the mark is the last thing Install writes, and Skipif reads the mark
    assert install["Script"].rstrip().endswith('.dadc-installed"') and install["Skipif"].endswith("/.dadc-installed")


def test_the_dadc_lifecycle_gives_each_command_the_options_it_takes(tmp_path: Path) -> None:
    from dadc.ggv2 import lifecycle
    env = {"DADC_PARAMETERS": json.dumps({"StopContainersOnNewDeployment": "false"}), "DADC_CONNECTOR": "arn",
           "DADC_OPTIONS": "--health-gate 60 --destination /srv/x --mqtt mqtt://h:1883"}
    start = lifecycle.argv_for("startup", tmp_path, env)
    assert start[2:4] == ["dadc", "deploy"] and start[-6:] == ["--health-gate", "60", "--destination", "/srv/x",
                                                              "--mqtt", "mqtt://h:1883"]
    stop = lifecycle.argv_for("shutdown", tmp_path, env)
    assert stop[2:4] == ["dadc", "stop"] and stop[-2:] == ["--destination", "/srv/x"]
    assert json.loads((tmp_path / "parameters.json").read_text())["StopContainersOnNewDeployment"] == "false"
    lifecycle.argv_for("uninstall", tmp_path, env)  # the application goes with the component
    assert json.loads((tmp_path / "parameters.json").read_text())["StopContainersOnNewDeployment"] == "true"


@pytest.mark.parametrize("style", ["native", "dadc"])
def test_migration_names_what_cannot_carry_over_with_the_nucleus_figures(style: str, tmp_path: Path,
                                                                       wheel: Path) -> None:
    """The status log is NONE, the stop limits are the nucleus's own (30 s for a nucleus restart,
    systemd's 90 s), and nucleus lite gets no claim."""
    doc = tmp_path / "d.json"
    doc.write_text(json.dumps({"Connectors": [{"Id": "app", "ConnectorArn":
        "arn:aws:greengrass:us-east-1::/connectors/DockerApplicationDeployment/versions/7", "Parameters": {
            "DockerComposeFileS3Bucket": "b-1", "DockerComposeFileS3Key": "c.yml",
            "DockerComposeFileDestinationPath": "/srv/app", "DockerContainerStatusLogFrequency": "30"}}]}))
    compose = tmp_path / "c.yml"
    compose.write_text("services:\n  web:\n    image: 127.0.0.1:5001/web:1\n")
    extra = ["--wheel", str(wheel)] if style == "dadc" else []
    code, out = export(tmp_path, doc, "--style", style, "--compose", str(compose), "--artifacts-prefix", PREFIX,
                       *extra)
    assert code == 0
    text = (out / "MIGRATION.md").read_text()
    assert "| `DockerContainerStatusLogFrequency` | no equivalent | not carried over" in text, text
    assert "within 30 s" in text and "(90 s unless TimeoutStopSec" in text
    assert "nucleus lite" in text.lower() and "does not say enough" in text
    recipe = yaml.safe_load((out / "recipe.yaml").read_text())
    lifecycle = recipe["Manifests"][0]["Lifecycle"]
    assert "Run" not in lifecycle and {"Startup", "Shutdown", "Uninstall"} <= set(lifecycle)


def test_the_rollout_options_become_the_deployments_iot_job_configuration(tmp_path: Path,
                                                                         create_deployment: Any) -> None:
    doc, extra = case_files(CASES / "v6-minimal-valid.json", tmp_path)
    code, out = export(tmp_path, doc, "--style", "native", *extra, "--rate", "50", "--exponential",
                       "5,2.5,succeeded:10", "--abort-failed-percent", "12.5", "--abort-min-executed", "8",
                       "--timeout-minutes", "30")
    assert code == 0
    deployment = json.loads((out / "deployment.json").read_text())
    assert not ParamValidator().validate(deployment, create_deployment).has_errors()
    assert deployment["iotJobConfiguration"] == {
        "jobExecutionsRolloutConfig": {"maximumPerMinute": 50, "exponentialRate": {
            "baseRatePerMinute": 5, "incrementFactor": 2.5, "rateIncreaseCriteria": {"numberOfSucceededThings": 10}}},
        "abortConfig": {"criteriaList": [{"failureType": "ALL", "action": "CANCEL", "thresholdPercentage": 12.5,
                                          "minNumberOfExecutedThings": 8}]},
        "timeoutConfig": {"inProgressTimeoutInMinutes": 30}}
    # none given: the service's own rollout (no iotJobConfiguration); --merge-with keeps the current one,
    # and options given replace it whole
    code, out = export(tmp_path / "plain", doc, "--style", "native", *extra)
    assert code == 0 and "iotJobConfiguration" not in json.loads((out / "deployment.json").read_text())
    (tmp_path / "current.json").write_text(json.dumps({"targetArn": "arn:aws:iot:us-west-2:123456789012:thing/t",
        "components": {}, "iotJobConfiguration": {"timeoutConfig": {"inProgressTimeoutInMinutes": 5}}}))
    code, out = export(tmp_path / "kept", doc, "--style", "native", *extra, "--merge-with", str(tmp_path / "current.json"))
    assert json.loads((out / "deployment.json").read_text())["iotJobConfiguration"] == {
        "timeoutConfig": {"inProgressTimeoutInMinutes": 5}}
    code, out = export(tmp_path / "replaced", doc, "--style", "native", *extra, "--merge-with",
                       str(tmp_path / "current.json"), "--rate", "7")
    assert json.loads((out / "deployment.json").read_text())["iotJobConfiguration"] == {
        "jobExecutionsRolloutConfig": {"maximumPerMinute": 7}}


@pytest.mark.parametrize("args, message", [
    (["--rate", "0"], "--rate 0: the service takes 1-1000"),
    (["--rate", "1001"], "--rate 1001: the service takes 1-1000"),  # the model's maximum (not validated by botocore)
    (["--exponential", "10,6,notified:5"], "--exponential FACTOR 6: the service takes 1-5"),
    (["--exponential", "10,2,sometimes:5"], "give BASE,FACTOR,notified:N"),
    (["--exponential", "2000,2,notified:5"], "--exponential BASE 2000: the service takes 1-1000"),
    (["--abort-failed-percent", "101", "--abort-min-executed", "5"], "--abort-failed-percent 101: the service takes"),
    (["--abort-failed-percent", "0", "--abort-min-executed", "5"], "more than 0"),
    (["--abort-failed-percent", "10"], "go together"),
    (["--abort-failed-percent", "10", "--abort-min-executed", "0"], "--abort-min-executed 0: the service takes 1-..."),
    (["--timeout-minutes", "10081"], "--timeout-minutes 10081: the service takes 1-10080"),
    (["--timeout-minutes", "0"], "--timeout-minutes 0: the service takes 1-10080"),
])
def test_a_rollout_the_service_would_refuse_is_refused_before_anything_is_read(
        args: list[str], message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    missing = tmp_path / "no-such-definition.json"  # never read: the options are refused first
    code, out = export(tmp_path, missing, "--style", "native", *args)
    assert code == 2 and not out.exists()
    assert message in capsys.readouterr().err


def test_the_same_rollout_is_what_iot_create_job_takes() -> None:
    """The structures are AWS IoT Jobs' own: the fleet rollout of dadc devices will send them too."""
    from dadc.rollout import Rollout, check
    config = Rollout(rate=100, exponential=(2, 1.5, "notified", 4), abort_percent=20.0, abort_min=10,
                     timeout_minutes=60).configuration()
    check("iot", "CreateJob", None, {"jobId": "dadc-1", "targets": ["arn:aws:iot:us-west-2:123456789012:thinggroup/g"],
                                     **config})
    check("greengrassv2", "CreateDeployment", "iotJobConfiguration", config)


def test_a_service_with_build_and_image_is_built_on_the_device_not_pulled() -> None:
    from dadc.ggv2.inputs import images_of
    raw = b"services:\n  web:\n    image: r.example/web:1\n  local:\n    image: mine:1\n    build: .\n"
    for secrets in (False, True):
        images = images_of(raw, secrets)
        assert "mine:1" not in images.public + images.registry + images.ecr
        assert "local" not in images.pulled_services and any(b.startswith("local") for b in images.built)
