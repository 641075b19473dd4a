"""`dadc export ggv2` offline: every valid definition of the conformance cases exports in both
styles; each recipe validates against the recipe schema with its keys lower-cased (as the
nucleus reads them) and each deployment passes botocore's own validation of CreateDeployment."""
from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from botocore.session import get_session
from botocore.validate import ParamValidator

from dadc import cli
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
    merged = json.loads(deployment["components"][recipe["ComponentName"]]["configurationUpdate"]["merge"])
    assert merged == recipe["ComponentConfiguration"]["DefaultConfiguration"]
    assert all(isinstance(v, str) for v in merged["Parameters"].values())
    assert "aws.greengrass.DockerApplicationManager" in recipe["ComponentDependencies"]
    lifecycle = recipe["Manifests"][0]["Lifecycle"]
    assert recipe["Manifests"][0]["Platform"] == {"os": "linux"}
    assert "Shutdown" in lifecycle and lifecycle["Shutdown"]["Timeout"] >= 600
    assert not {"Startup", "Run"} <= set(lifecycle)
    for step in ("Run", "Shutdown", "Install"):
        if step in lifecycle:  # the shell parses it
            subprocess.run(["sh", "-n"], input=lifecycle[step]["Script"], text=True, check=True)
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
    run = recipe["Manifests"][0]["Lifecycle"]["Run"]["Script"]
    # ForceDeploy acts only when down fails; the login helper gets the offline flag; no value is pasted in
    assert '|| { on "${P_ForceDeploy:-false}" && docker ps -aq' in run
    assert "my-compose-bucket" not in run and "/home/ggc/compose" not in run
    uris = [a["Uri"] for a in recipe["Manifests"][0]["Artifacts"]]
    assert uris[0] == f"{PREFIX}dadc.DockerApp/1.0.0/production-docker-compose.yml"  # the pinned version's copy
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
    # no secrets, no ECR: nothing needs the token exchange service's credentials but the s3 artifact
    assert "aws.greengrass.TokenExchangeService" not in recipe["ComponentDependencies"]


def test_images_become_docker_artifacts_and_the_policy_names_each(tmp_path: Path) -> None:
    doc, _ = case_files(CASES / "v6-minimal-valid.json", tmp_path)
    compose = tmp_path / "ecr.yml"
    compose.write_text(ECR_COMPOSE)
    code, out = export(tmp_path, doc, "--style", "native", "--compose", str(compose), "--format", "json")
    assert code == 0
    recipe = json.loads((out / "recipe.json").read_text())
    uris = [a["Uri"] for a in recipe["Manifests"][0]["Artifacts"]]
    assert "docker:123456789012.dkr.ecr.us-west-2.amazonaws.com/web:1.2" in uris
    assert f"docker:registry.example.com:5000/team/job@sha256:{'a' * 64}" in uris
    assert "aws.greengrass.TokenExchangeService" in recipe["ComponentDependencies"]
    notes = (out / "MIGRATION.md").read_text()
    assert "arn:aws:ecr:us-west-2:123456789012:repository/web" in notes
    assert "are not docker: artifacts; `up` builds or pulls them" in notes and "built" in notes


def test_the_deployment_carries_target_user_and_dependency_versions(tmp_path: Path, wheel: Path) -> None:
    doc, extra = case_files(CASES / "v7-minimal-valid.json", tmp_path)
    target = "arn:aws:iot:us-west-2:123456789012:thinggroup/line-3"
    code, out = export(tmp_path, doc, "--artifacts-prefix", PREFIX, "--wheel", str(wheel), "--target-arn", target,
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
