"""`dadc export ggv2`: one connector of a definition as a Greengrass V2 component recipe, a
deployment, the artifacts they name and MIGRATION.md."""
from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from pathlib import Path

import yaml

from dadc import rollout
from dadc.errors import DadcError, InvalidParameter
from dadc.ggv2 import artifacts, component, notes
from dadc.ggv2.inputs import ExportOptions, gather
from dadc.options import RuntimeOptions
from dadc.runtime import definitions
from dadc.runtime.seams.aws import factory


def _dependency_versions(pairs: list[str] | None) -> dict[str, str]:
    out = {}
    for pair in pairs or []:
        name, sep, version = pair.partition("=")
        if not sep or name not in component.data()["dependencies"]:
            raise InvalidParameter(f"--dependency-version {pair!r}: give NAME=X.Y.Z, NAME one of "
                                   + ", ".join(component.data()["dependencies"]))
        out[name] = version
    return out


class _Dumper(yaml.SafeDumper):
    """Scripts as literal blocks: the recipe reads as the shell it runs."""


def _str(dumper: yaml.SafeDumper, value: str) -> yaml.Node:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _str)


def _dump(doc: object, fmt: str) -> str:
    if fmt == "json":
        return json.dumps(doc, indent=2) + "\n"
    return yaml.dump(doc, Dumper=_Dumper, sort_keys=False, width=100, default_flow_style=False)


def _current(path: str | None, target_arn: str | None) -> dict[str, object] | None:
    """--merge-with: the target's deployment now, as CreateDeployment takes it (botocore's model
    names the members; what get-deployment adds, ids, status and times, is left out)."""
    if not path:
        return None
    from botocore.session import get_session
    try:
        doc = json.loads(Path(path).read_text())
    except (OSError, ValueError) as exc:
        raise InvalidParameter(f"--merge-with {path}: {getattr(exc, 'strerror', None) or exc}") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("components", {}), dict):
        raise InvalidParameter(f"--merge-with {path}: not a deployment (get-deployment's output or a deployment.json)")
    members = get_session().get_service_model("greengrassv2").operation_model("CreateDeployment").input_shape.members
    current = {k: v for k, v in doc.items() if k in members}
    if target_arn and current.get("targetArn") not in (None, target_arn):
        raise InvalidParameter(f"--merge-with {path} deploys to {current['targetArn']}, not --target-arn {target_arn}")
    return current


def ggv2(args: argparse.Namespace) -> int:
    options = ExportOptions(style=args.style, component_name=args.component_name,
                            component_version=args.component_version, target_arn=args.target_arn,
                            posix_user=args.posix_user, artifacts_prefix=args.artifacts_prefix, upload=args.upload,
                            fmt=args.format, wheel=args.wheel, compose=args.compose, wheelhouse=args.wheelhouse,
                            device_index=args.device_index, merge_with=args.merge_with,
                            dadc_options=args.dadc_options)
    try:
        options = dataclasses.replace(options, rollout=rollout.from_arguments(args))
        options.check()
        if options.rollout.given:  # what CreateDeployment would refuse, refused before anything is read
            rollout.check("greengrassv2", "CreateDeployment", "iotJobConfiguration", options.rollout.configuration())
        if options.dadc_options:
            from dadc.options import parse_runtime
            parse_runtime(options.dadc_options.split())  # what the device's dadc would refuse, refused now
        deps = _dependency_versions(args.dependency_version)
        current = _current(options.merge_with, options.target_arn)
        runtime = RuntimeOptions(definition=None if args.version else args.definition,
                                 parameters=args.definition if args.version else None,
                                 version=args.version, connector_id=args.connector_id)
        definition = definitions.resolve(runtime, factory(None))
        raw = definition.source.read(force=True) or b""
        inputs = gather(definition.source.name, raw, connector_id=args.connector_id, version=args.version,
                        bare=bool(args.version), options=options)
        name = component.component_name(inputs, options)
        made = artifacts.make(inputs, options, name)
        recipe = component.recipe(inputs, options, made)
        deployment = component.deployment(inputs, options, deps, made, current)
        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        uploaded = artifacts.upload(made, inputs.config.region) if options.upload else []
        written = [] if options.upload else [(str(p), uri) for p, uri in artifacts.write(made, out)]
    except DadcError as exc:
        print(f"dadc export: {exc}", file=sys.stderr)
        return 2
    recipe_file = f"recipe.{'json' if options.fmt == 'json' else 'yaml'}"
    (out / recipe_file).write_text(_dump(recipe, options.fmt))
    (out / "deployment.json").write_text(json.dumps(deployment, indent=2) + "\n")
    (out / "MIGRATION.md").write_text(notes.render(inputs, options, made, recipe_file, uploaded, written, deployment))
    for other in inputs.others:
        print(f"left out: {other} (not a DockerApplicationDeployment connector)", file=sys.stderr)
    print(f"{out / recipe_file}\n{out / 'deployment.json'}\n{out / 'MIGRATION.md'}")
    return 0
