"""MIGRATION.md for one exported connector: the commands from here to a running V2 deployment,
the token exchange role's policy for exactly these artifacts, images and secrets, and what maps
exactly, approximately or not at all, for this version, these parameters and this style."""
from __future__ import annotations

import json
import shlex
from typing import Any

from dadc import profiles
from dadc.domain.images import parse as parse_image
from dadc.runtime.status import topic
from dadc.ggv2.artifacts import Artifact, s3_location
from dadc.ggv2.inputs import ExportOptions, Inputs
from dadc.ggv2.scripts import component_data

EXACT, APPROX, NONE = "exact", "approximate", "no equivalent"


def policy(inputs: Inputs, options: ExportOptions, artifacts: list[Artifact]) -> dict[str, Any]:
    """The token exchange role's policy: what the nucleus, dadc or the lifecycle will ask for."""
    part = inputs.partition
    objects = [s3_location(a.uri) for a in artifacts if a.uri.startswith("s3://")]
    statements: list[dict[str, Any]] = []
    if objects:
        statements.append({"Sid": "ComponentArtifacts", "Effect": "Allow", "Action": ["s3:GetObject"],
                           "Resource": sorted({f"arn:{part}:s3:::{b}/{k}" for b, k in objects})})
        statements.append({"Sid": "ArtifactBuckets", "Effect": "Allow", "Action": ["s3:GetBucketLocation"],
                           "Resource": sorted({f"arn:{part}:s3:::{b}" for b, _ in objects})})
    if options.style == "dadc":  # dadc reads the compose file itself at every start, as the connector did
        p = inputs.config.params
        obj = f"arn:{part}:s3:::{p['DockerComposeFileS3Bucket']}/{p['DockerComposeFileS3Key']}"
        actions = ["s3:GetObject"] + (["s3:GetObjectVersion"] if p.get("DockerComposeFileS3Version") else [])
        statements.append({"Sid": "ComposeFile", "Effect": "Allow", "Action": actions, "Resource": [obj]})
    if inputs.secrets:
        statements.append({"Sid": "RegistrySecrets", "Effect": "Allow", "Action": ["secretsmanager:GetSecretValue"],
                           "Resource": inputs.secrets})
    repos = []
    for image in inputs.images.ecr:
        arn = parse_image(image).ecr_arn(part)
        if arn:
            repos.append(arn)
    if repos:
        statements.append({"Sid": "EcrToken", "Effect": "Allow", "Action": ["ecr:GetAuthorizationToken"],
                           "Resource": ["*"]})
        statements.append({"Sid": "EcrImages", "Effect": "Allow",
                           "Action": ["ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"], "Resource": sorted(set(repos))})
    return {"Version": "2012-10-17", "Statement": statements}


def mappings(inputs: Inputs, options: ExportOptions) -> list[tuple[str, str, str]]:
    """(what, how well, how) for each parameter the version has and each behaviour around them."""
    dadc = options.style == "dadc"
    p, names = inputs.config.params, inputs.config.profile.parameter_names
    rows: list[tuple[str, str, str]] = []

    def add(name: str, exact_if_dadc: bool, native: tuple[str, str], dadc_text: str = "dadc runs it as the connector did") -> None:
        if name in names:
            rows.append((name, EXACT, dadc_text) if dadc and exact_if_dadc else (name, *native))

    pinned = p.get("DockerComposeFileS3Version")
    add("DockerComposeFileS3Bucket", True, (EXACT, "the compose file is an s3:// artifact" +
        (" (a copy of the pinned version)" if pinned else "")))
    add("DockerComposeFileS3Key", True, (EXACT if pinned else APPROX,
        "a copy at an unchanging key" if pinned else "the artifact's digest is fixed when the component version is "
        "created: a changed object fails the deployment until you create a new component version (the connector "
        "read the newest object at each deployment)"))
    add("DockerComposeFileS3Version", True, (EXACT, f"version {pinned} copied to an unchanging key") if pinned else
        (EXACT, "not set: the object as it is when the component version is created"))
    add("DockerComposeFileDestinationPath", True, (EXACT, "the local copy and compose's project directory, as before"))
    uid = p.get("DockerUserId")
    run_with = (f"runWith.posixUser {options.posix_user}" if options.posix_user else
                "no runWith: the nucleus's default user (ggc_user)")
    add("DockerUserId", False, (APPROX, f"{'DockerUserId ' + uid if uid else 'not set (root)'} -> {run_with}: "
        "a uid becomes the user's name with --posix-user NAME (`getent passwd UID` on the device); that user "
        "must be in the docker group (RequiresPrivilege is not used)"))
    if dadc and "DockerUserId" in names:
        rows[-1] = ("DockerUserId", EXACT, "dadc runs docker as that uid; the component user "
                    f"({options.posix_user or 'ggc_user'}) must be root or allowed to switch to it: give --posix-user root")
    add("AWSSecretsArnList", True, (EXACT, "registry_login.py reads each secret with the token exchange credentials "
        "and logs in with --password-stdin (python3 and boto3 on the device)"))
    if "DockerContainerStatusLogFrequency" in names:  # neither style keeps the log
        rows.append(("DockerContainerStatusLogFrequency", NONE, "not carried over: the start is a Startup step, "
                     "whose exit decides the deployment, and a log it left running would outlive the nucleus's "
                     f"tracking; `docker compose -p {profiles.project_name()} ps` shows what it showed"))
    add("ForceDeploy", True, (EXACT, "a failed down removes the project's containers by label"))
    add("DockerPullBeforeUp", True, (EXACT, "true: Startup pulls every service's image before down (after its "
        "logins), so a tag pushed again reaches the device as before; false: nothing pulls an image the device "
        "has (neither the nucleus's docker: artifacts nor up), as the connector did"))
    add("StopContainersOnNewDeployment", True, (APPROX, "Shutdown runs down when it is true; but every new "
        "component version or configuration restarts the component, so with false the containers keep running "
        "and `up` updates them, as the connector's next deployment did"))
    add("DockerOfflineMode", True, (APPROX, "the artifacts are kept on the device, so an offline restart has "
        "the compose file; failed logins and pulls are accepted as the connector did, but no status names it"))
    return rows


def gaps(inputs: Inputs, options: ExportOptions, deployment: dict[str, Any] | None = None) -> list[str]:
    d = component_data()
    stop = int(inputs.config.profile.stop_timeout_seconds)
    out = [f"The stop: the connector had {stop} s for its cleanup, and Shutdown's Timeout is {stop} s and a "
           f"margin when the nucleus restarts the component (a new version, a configuration change). A restart of "
           f"the nucleus itself stops every component within {d['kernel_stop_seconds']} s, and `systemctl stop "
           f"greengrass` or a reboot within systemd's limit ({d['systemd_stop_seconds']} s unless TimeoutStopSec "
           "says otherwise; raise it with `systemctl edit greengrass`, [Service] TimeoutStopSec=...); the down in "
           "progress is then killed and containers may be left running.",
           "A failed start fails the deployment: Startup's exit decides it (after the nucleus's three tries, the "
           "component is BROKEN and `failureHandlingPolicy: ROLLBACK` puts the previous deployment back).",
           "Removing the component runs Uninstall (nucleus 2.17 and later): the application is taken down whatever "
           "StopContainersOnNewDeployment says, since nothing will manage it afterwards."]
    if options.style == "native":
        out += ["The status topic and payloads: a native component publishes nothing to "
                f"`{topic()}`; read the component's log instead "
                "(or use the dadc style, which publishes the documented payloads with `--mqtt` in DadcOptions).",
                "The connector's InvalidParameter checks: V2 does not validate these parameters; run "
                "`dadc validate` on the definition before each configuration change.",
                "Registry credentials: a login's credentials are removed from the component's Docker config when "
                "the start ends.",
                "Registry secrets are read at each start with the token exchange credentials (V1 kept them on the "
                "core): offline, no login is possible, and with DockerOfflineMode the local images stand in."]
    else:
        out += ["The status topic: dadc publishes the documented payloads to an MQTT broker you name in DadcOptions "
                "(`--mqtt mqtts://...` with the device certificate), not through Greengrass IPC.",
                "Registry credentials stay in DockerComposeFileDestinationPath/.docker/config.json, as the connector "
                "kept them (its documentation asks you to secure that folder).",
                "dadc's requirements on the device: " + ("the wheels given with --wheelhouse (artifacts)." if
                options.wheelhouse else "the device's package index (--device-index)." if options.device_index else
                "the device's own Python packages (python3-boto3, python3-yaml, python3-packaging, python3-paho-mqtt "
                ">= 2, python3-dotenv); Install names what is missing. --wheelhouse DIR ships them as artifacts.")]
    out.append("A tag pushed again: with DockerPullBeforeUp false, the device keeps the image it has (the nucleus "
               "pulls a docker: artifact it lacks; a moved tag of one it has may never reach it).")
    if inputs.images.built:
        out.append("Services built or with interpolated images (" + ", ".join(inputs.images.built) + ") are not "
                   "docker: artifacts; `up` builds or pulls them on the device.")
    if inputs.images.unknown:
        out.append(f"The images are not known ({inputs.images.unknown}): no docker: artifacts and no ECR "
                   "statements in the policy below; export again with --compose FILE.")
    if inputs.others:
        out.append("Other connectors of the definition are left out: " + ", ".join(inputs.others) + ".")
    if not options.target_arn and not options.merge_with:
        out.append("deployment.json has a placeholder targetArn that the API refuses: export with --target-arn "
                   "(a thing or thing group ARN) or edit it.")
    out.append("A thing group has one deployment: a new one that lacks a component the current one has removes it. "
               + ("deployment.json revises the current deployment given with --merge-with (its components kept)."
                  if options.merge_with else "If the target runs other components (another exported connector), "
                  "export with --merge-with CURRENT.json (`aws greengrassv2 get-deployment` of the target's "
                  "current deployment, or that earlier deployment.json)."))
    pins = {n: c["componentVersion"] for n, c in (deployment or {}).get("components", {}).items()
            if n in d["nucleus_requirements"] and c.get("componentVersion") in d["nucleus_requirements"][n]}
    out += [f"{n} {v} requires the nucleus {d['nucleus_requirements'][n][v]}: a device on another minor version "
            "refuses the deployment (the nucleus does not move its own minor version for a dependency)."
            for n, v in pins.items()]
    out.append("The rollout (iotJobConfiguration): " + ("as given with --rate/--exponential/--abort-failed-percent/"
               "--timeout-minutes" if options.rollout.given else "the service's own (every device at once, no abort, "
               "no timeout) unless --rate, --exponential, --abort-failed-percent or --timeout-minutes say otherwise")
               + ". An abort cancels only the devices not yet notified: those that took the release keep it (each "
               "rolls back only its own failed start, with ROLLBACK).")
    out.append("The nucleus's own components (DockerApplicationManager, TokenExchangeService) are not pinned: its "
               "resolver picks versions that run on the device's nucleus. --dependency-version pins one.")
    out.append("Greengrass nucleus lite: its documentation does not say enough to decide which of these lifecycle "
               "steps and artifacts it runs; its reported lack of private-registry logins rules out exports with "
               "registry secrets or ECR images there.")
    return out


def render(inputs: Inputs, options: ExportOptions, artifacts: list[Artifact], recipe_file: str,
           uploaded: list[str], written: list[tuple[str, str]], deployment: dict[str, Any] | None = None) -> str:
    name = f"connector {inputs.connector_id} ({inputs.arn})"
    lines = [f"# Migrating {name} to Greengrass V2", "",
             f"Style: **{options.style}**. Version {inputs.version} of DockerApplicationDeployment; "
             f"from {inputs.source}; the compose file from {inputs.compose_from}.", "", "## Commands", ""]
    step = 1
    if uploaded:
        lines.append(f"{step}. Artifacts uploaded by dadc: " + ", ".join(f"`{u}`" for u in uploaded))
        step += 1
    elif written:
        lines.append(f"{step}. Upload the artifacts to the URIs the recipe names:")
        lines += ["", "```sh"] + [f"aws s3 cp {shlex.quote(path)} {uri}" for path, uri in written] + ["```", ""]
        step += 1
    copies = [a for a in artifacts if a.copy_from and not uploaded and a.data is None]
    for a in copies:
        b, k, v = a.copy_from  # type: ignore[misc]
        dest_b, dest_k = s3_location(a.uri)
        lines.append(f"{step}. `aws s3api copy-object --copy-source {shlex.quote(f'{b}/{k}?versionId={v}')} "
                     f"--bucket {dest_b} --key {shlex.quote(dest_k)}`")
        step += 1
    lines += [f"{step}. Attach the policy below to the token exchange role (the device's role alias).",
              f"{step + 1}. `aws greengrassv2 create-component-version --inline-recipe fileb://{recipe_file}`",
              f"{step + 2}. `aws greengrassv2 create-deployment --cli-input-json file://deployment.json`", "",
              "## What carries over", "", "| parameter | maps | how |", "| --- | --- | --- |"]
    lines += [f"| `{what}` | {how_well} | {how} |" for what, how_well, how in mappings(inputs, options)]
    lines += ["", "## What does not carry over, or differs", ""] + [f"- {g}" for g in gaps(inputs, options, deployment)]
    lines += ["", "## Token exchange role policy (for exactly these artifacts, images and secrets)", "", "```json",
              json.dumps(policy(inputs, options, artifacts), indent=2), "```", ""]
    return "\n".join(lines)
