"""The recipe and the deployment of an exported component, as plain data (the writer picks YAML
or JSON). Each names exactly the artifacts artifacts.py makes or points at."""
from __future__ import annotations

import json
from typing import Any

from dadc import __version__
from dadc import options as dadc_options
from dadc.data import load_json
from dadc.ggv2 import scripts
from dadc.ggv2.artifacts import Artifact
from dadc.ggv2.inputs import ExportOptions, Inputs

DAM = "aws.greengrass.DockerApplicationManager"
TES = "aws.greengrass.TokenExchangeService"


def data() -> dict[str, Any]:
    return load_json("versions", "ggv2.json")


def component_name(inputs: Inputs, options: ExportOptions) -> str:
    if options.component_name:
        return options.component_name
    safe = "".join(ch if ch.isalnum() or ch in "._-" else "-" for ch in inputs.connector_id)
    return f"dadc.{safe}"[:128]


def dependencies(inputs: Inputs, options: ExportOptions) -> list[str]:
    """DockerApplicationManager always (the docker: artifacts, and what AWS points users at);
    the token exchange service when anything needs AWS credentials: an s3:// artifact is fetched
    by the nucleus itself, but dadc, the login helper and ECR images need the role's credentials."""
    needs_aws = options.style == "dadc" or bool(inputs.images.ecr) or bool(inputs.secrets)
    return [DAM] + ([TES] if needs_aws else [])


def configuration(inputs: Inputs, options: ExportOptions) -> dict[str, Any]:
    """The connector's parameters, as strings. native: every parameter of the version ('' for
    one not set), since the lifecycle reads each from the configuration; dadc: those given,
    which dadc validates as the connector did."""
    params = inputs.config.params
    if options.style == "native":
        effective = inputs.config.profile.effective(params)
        values = {p: str(effective.get(p, "")) for p in inputs.config.profile.parameter_names}
        return {"ConnectorArn": inputs.arn, "Parameters": values}
    return {"ConnectorArn": inputs.arn, "Parameters": {k: str(v) for k, v in params.items()}, "DadcOptions": ""}


def _step(script: str, timeout: int, **more: Any) -> dict[str, Any]:
    return {"Script": script, "Timeout": timeout, **more}


def lifecycle(inputs: Inputs, options: ExportOptions, artifacts: list[Artifact]) -> dict[str, Any]:
    if options.style == "dadc":
        wheel = next(a for a in artifacts if a.kind == "wheel")
        stop = int(inputs.config.profile.stop_timeout_seconds) + dadc_options.STOP_MARGIN
        return {
            "Setenv": scripts.dadc_setenv(),
            "Install": _step(scripts.dadc_install(wheel.name, __version__), int(data()["install_timeout_seconds"]),
                             Skipif=f"exists {scripts.venv(__version__)}/bin/dadc"),
            "Run": {"Script": scripts.dadc_run(__version__)},
            "Shutdown": _step(scripts.dadc_shutdown(__version__), stop),
        }
    compose = next(a for a in artifacts if a.kind in ("compose", "compose-object"))
    shutdown, shutdown_limit = scripts.native_shutdown(inputs)
    return {
        "Setenv": {**scripts.setenv(inputs), "DOCKER_CONFIG": "{work:path}/.docker"},
        "Run": {"Script": scripts.native_run(inputs, compose.name)},
        "Shutdown": _step(shutdown, shutdown_limit),
    }


def recipe(inputs: Inputs, options: ExportOptions, artifacts: list[Artifact]) -> dict[str, Any]:
    d = data()
    deps = {name: {"VersionRequirement": d["dependencies"][name]["requirement"], "DependencyType": "HARD"}
            for name in dependencies(inputs, options)}
    what = "runs dadc" if options.style == "dadc" else "runs docker compose as"
    return {
        "RecipeFormatVersion": d["recipe_format_version"],
        "ComponentName": component_name(inputs, options),
        "ComponentVersion": options.component_version,
        "ComponentType": "aws.greengrass.generic",
        "ComponentDescription": (f"Connector {inputs.connector_id} ({inputs.arn}) exported by dadc {__version__}: "
                                 f"{what} DockerApplicationDeployment version {inputs.version} did."),
        "ComponentPublisher": d["publisher"],
        "ComponentDependencies": deps,
        "ComponentConfiguration": {"DefaultConfiguration": configuration(inputs, options)},
        "Manifests": [{
            "Platform": {"os": "linux"},
            "Lifecycle": lifecycle(inputs, options, artifacts),
            "Artifacts": [a.recipe_entry() for a in artifacts],
        }],
    }


def deployment(inputs: Inputs, options: ExportOptions, dependency_versions: dict[str, str]) -> dict[str, Any]:
    d = data()
    name = component_name(inputs, options)
    ours: dict[str, Any] = {
        "componentVersion": options.component_version,
        "configurationUpdate": {"merge": json.dumps(configuration(inputs, options), sort_keys=True)},
    }
    if options.posix_user:
        ours["runWith"] = {"posixUser": options.posix_user}
    components = {name: ours}
    for dep in dependencies(inputs, options):
        components[dep] = {"componentVersion": dependency_versions.get(dep, d["dependencies"][dep]["deploy"])}
    return {
        "targetArn": options.target_arn or d["placeholder_target_arn"],
        "deploymentName": f"{name}-{options.component_version}",
        "components": components,
        "deploymentPolicies": {
            # a release that fails on a device is undone there, as dadc's health gate does
            "failureHandlingPolicy": "ROLLBACK",
            "componentUpdatePolicy": {"timeoutInSeconds": int(d["component_update_timeout_seconds"]),
                                      "action": "NOTIFY_COMPONENTS"},
            "configurationValidationPolicy": {"timeoutInSeconds": 60},
        },
    }
