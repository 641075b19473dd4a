"""The recipe and the deployment of an exported component, as plain data (the writer picks YAML
or JSON). Each names exactly the artifacts artifacts.py makes or points at."""
from __future__ import annotations

import json
from typing import Any

from dadc import __version__
from dadc import options as dadc_options
from dadc.data import load_json
from dadc.domain.images import ecr_registries
from dadc.ggv2 import dadcstyle, scripts
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


def dependencies(inputs: Inputs, options: ExportOptions, artifacts: list[Artifact]) -> list[str]:
    """DockerApplicationManager only when a `docker:` artifact needs it (a HARD dependency restarts
    the component whenever it restarts); the token exchange service whenever anything needs the
    role's credentials: an s3:// artifact, dadc's own reads, the login helper, ECR images."""
    needs_dam = any(a.kind == "image" for a in artifacts)
    needs_tes = options.style == "dadc" or any(a.uri.startswith("s3://") for a in artifacts) \
        or bool(inputs.images.ecr) or bool(inputs.secrets)
    return ([DAM] if needs_dam else []) + ([TES] if needs_tes else [])


def configuration(inputs: Inputs, options: ExportOptions) -> dict[str, Any]:
    """The connector's parameters, as strings. native: every parameter of the version ('' for
    one not set), since the lifecycle reads each from the configuration; dadc: those given,
    which dadc validates as the connector did."""
    params = inputs.config.params
    if options.style == "native":
        effective = inputs.config.profile.effective(params)
        values = {p: str(effective.get(p, "")) for p in inputs.config.profile.parameter_names}
        return {"ConnectorArn": inputs.arn, "Parameters": values}
    return {"ConnectorArn": inputs.arn, "Parameters": {k: str(v) for k, v in params.items()},
            "DadcOptions": options.dadc_options}


# what a deployment of this component owns in its configuration: reset to the recipe's defaults
# before the merge, so a parameter removed from the definition is removed on the device too
OWNED = ("/ConnectorArn", "/Parameters", "/DadcOptions")


def _step(script: str, timeout: int, **more: Any) -> dict[str, Any]:
    return {"Script": script, "Timeout": int(timeout), **more}


def _dadc_startup_timeout(inputs: Inputs, options: ExportOptions) -> int:
    """Every limit `dadc deploy` plans with the exported DadcOptions (a login per registry, a
    health gate and its recovery), and a margin."""
    from dadc import plan
    plan_options = plan.PlanOptions.of(dadc_options.parse_runtime(options.dadc_options.split()))
    steps = plan.plan_start(inputs.config.profile, inputs.config.params, plan.Observed(True, True, True),
                            plan_options)
    registries = len(inputs.secrets) + len(ecr_registries(list(inputs.images.all)))
    return int(plan.longest(steps, registries) + int(data()["startup_margin_seconds"]))


def lifecycle(inputs: Inputs, options: ExportOptions, artifacts: list[Artifact]) -> dict[str, Any]:
    stop = int(inputs.config.profile.stop_timeout_seconds) + int(data()["stop_margin_seconds"])
    if options.style == "dadc":
        wheel = next(a for a in artifacts if a.kind == "wheel")
        wheelhouse = any(a.kind == "dependency" for a in artifacts)
        return {
            "Setenv": dadcstyle.setenv(),
            "Install": _step(dadcstyle.install(wheel.name, __version__, wheelhouse, options.device_index),
                             int(data()["install_timeout_seconds"]), Skipif=dadcstyle.skipif(__version__)),
            "Startup": _step(dadcstyle.startup(__version__), _dadc_startup_timeout(inputs, options)),
            "Shutdown": _step(dadcstyle.shutdown(__version__), stop),
            "Uninstall": _step(dadcstyle.uninstall(inputs, __version__), stop),
        }
    compose = next(a for a in artifacts if a.kind in ("compose", "compose-object"))
    startup, startup_limit = scripts.native_startup(inputs, compose.name)
    shutdown, shutdown_limit = scripts.native_shutdown(inputs)
    uninstall, uninstall_limit = scripts.native_uninstall(inputs)
    return {
        "Setenv": {**scripts.setenv(inputs), "DOCKER_CONFIG": "{work:path}/.docker"},
        "Startup": _step(startup, startup_limit),
        "Shutdown": _step(shutdown, shutdown_limit),
        "Uninstall": _step(uninstall, uninstall_limit),
    }


def recipe(inputs: Inputs, options: ExportOptions, artifacts: list[Artifact]) -> dict[str, Any]:
    d = data()
    deps = {name: {"VersionRequirement": d["dependencies"][name]["requirement"], "DependencyType": "HARD"}
            for name in dependencies(inputs, options, artifacts)}
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


def deployment(inputs: Inputs, options: ExportOptions, dependency_versions: dict[str, str],
               artifacts: list[Artifact], current: dict[str, Any] | None = None) -> dict[str, Any]:
    """This component's deployment; with current (the target's deployment now), that deployment
    revised: every component it has stays, this one is added or replaced. The nucleus's own
    components are pinned only where --dependency-version says (its resolver picks versions that
    run on the device's nucleus)."""
    d = data()
    name = component_name(inputs, options)
    ours: dict[str, Any] = {
        "componentVersion": options.component_version,
        "configurationUpdate": {"reset": list(OWNED), "merge": json.dumps(configuration(inputs, options),
                                                                          sort_keys=True)},
    }
    if options.posix_user:
        ours["runWith"] = {"posixUser": options.posix_user}
    components = dict(current.get("components", {})) if current else {}
    components[name] = ours
    for dep in dependencies(inputs, options, artifacts):
        if dep in dependency_versions:
            components[dep] = {"componentVersion": dependency_versions[dep]}
    policies = current.get("deploymentPolicies") if current else None
    doc: dict[str, Any] = {
        "targetArn": (current or {}).get("targetArn") or options.target_arn or d["placeholder_target_arn"],
        "deploymentName": (current or {}).get("deploymentName") or f"{name}-{options.component_version}",
        "components": components,
        "deploymentPolicies": policies or {
            # a release that fails on a device is undone there, as dadc's health gate does
            "failureHandlingPolicy": "ROLLBACK",
            "componentUpdatePolicy": {"timeoutInSeconds": int(d["component_update_timeout_seconds"]),
                                      "action": "NOTIFY_COMPONENTS"},
            "configurationValidationPolicy": {"timeoutInSeconds": 60},
        },
    }
    for key in ("iotJobConfiguration", "parentTargetArn", "tags"):
        if current and current.get(key):
            doc[key] = current[key]
    if options.rollout.given:  # the rollout asked for replaces the current deployment's whole
        doc["iotJobConfiguration"] = options.rollout.configuration()
    return doc
