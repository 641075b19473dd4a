"""MIGRATION.md for one exported connector: the commands from here to a running V2 deployment,
the token exchange role's policy for exactly these artifacts, images and secrets, and what maps
exactly, approximately or not at all, for this version, these parameters and this style."""
from __future__ import annotations

import json
import shlex
from typing import Any

from dadc.domain.images import parse as parse_image
from dadc.runtime.status import topic
from dadc.ggv2.artifacts import Artifact, s3_location
from dadc.ggv2.inputs import ExportOptions, Inputs

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
    add("DockerContainerStatusLogFrequency", True, (EXACT, "the Run step logs `compose ps` at this interval "
        "(into the component's log)"))
    add("ForceDeploy", True, (EXACT, "a failed down removes the project's containers by label"))
    add("DockerPullBeforeUp", True, (APPROX, "ECR and public images are docker: artifacts, pulled at every "
        "deployment whatever this says; images behind a secret are pulled as it says"))
    add("StopContainersOnNewDeployment", True, (APPROX, "Shutdown runs down when it is true; but every new "
        "component version or configuration restarts the component, so with false the containers keep running "
        "and `up` updates them, as the connector's next deployment did"))
    add("DockerOfflineMode", True, (APPROX, "the artifacts are kept on the device, so an offline restart has "
        "the compose file; failed logins and pulls are accepted as the connector did, but no status names it"))
    return rows


def gaps(inputs: Inputs, options: ExportOptions) -> list[str]:
    stop = int(inputs.config.profile.stop_timeout_seconds)
    out = [f"The stop: the connector had {stop} s for its cleanup; the recipe's Shutdown sets Timeout to it "
           "(the nucleus's default is 15 s). The nucleus then ends the Run process (SIGTERM, then SIGKILL)."]
    if options.style == "native":
        out += ["The status topic and payloads: a native component publishes nothing to "
                f"`{topic()}`; read the component's log instead "
                "(or use the dadc style, which publishes the documented payloads with `--mqtt` in DadcOptions).",
                "The connector's InvalidParameter checks: V2 does not validate these parameters; run "
                "`dadc validate` on the definition before each configuration change."]
    else:
        out += ["The status topic: dadc publishes the documented payloads to an MQTT broker you name in DadcOptions "
                "(`--mqtt mqtts://...` with the device certificate), not through Greengrass IPC."]
    if inputs.images.built:
        out.append("Services built or with interpolated images (" + ", ".join(inputs.images.built) + ") are not "
                   "docker: artifacts; `up` builds or pulls them on the device.")
    if inputs.images.unknown:
        out.append(f"The images are not known ({inputs.images.unknown}): no docker: artifacts and no ECR "
                   "statements in the policy below; export again with --compose FILE.")
    if inputs.others:
        out.append("Other connectors of the definition are left out: " + ", ".join(inputs.others) + ".")
    if not options.target_arn:
        out.append("deployment.json has a placeholder targetArn that the API refuses: export with --target-arn "
                   "(a thing or thing group ARN) or edit it.")
    out.append("deployment.json deploys DockerApplicationManager and TokenExchangeService at the versions in "
               "dadc's data (versions/ggv2.json); give --dependency-version NAME=X.Y.Z for what your fleet runs.")
    return out


def render(inputs: Inputs, options: ExportOptions, artifacts: list[Artifact], recipe_file: str,
           uploaded: list[str], written: list[tuple[str, str]]) -> str:
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
    lines += ["", "## What does not carry over, or differs", ""] + [f"- {g}" for g in gaps(inputs, options)]
    lines += ["", "## Token exchange role policy (for exactly these artifacts, images and secrets)", "", "```json",
              json.dumps(policy(inputs, options, artifacts), indent=2), "```", ""]
    return "\n".join(lines)
