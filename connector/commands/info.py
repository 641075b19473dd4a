"""dadc versions, resolve, schema."""
from __future__ import annotations

import argparse
import json

from dadc import arn, profiles
from dadc.data import data_dir
from dadc.errors import DadcError

COL = 16


def versions(args: argparse.Namespace) -> int:
    registry = profiles.registry()
    if args.format == "json":
        print(json.dumps([p.to_json() for p in registry.values()], indent=2))
        return 0
    names = list(profiles.catalogue())
    vs = list(registry)
    rows = profiles.behaviour_rows(list(registry.values()))
    table = {name: ["-" if (spec := p.parameter(name)) is None else "required" if spec.required else
                    (spec.default or "optional") for p in registry.values()] for name in names}
    width = max(map(len, names + list(rows))) + 2
    # every column as wide as its widest cell, two spaces apart: no cell runs into the next
    col = max(len(c) for cells in [*table.values(), *rows.values()] for c in cells) + 2
    print("parameter".ljust(width) + "".join(f"v{v}".rjust(col) for v in vs))
    for name, cells in table.items():
        print(name.ljust(width) + "".join(c.rjust(col) for c in cells))
    print()
    print("behaviour".ljust(width) + "".join(f"v{v}".rjust(col) for v in vs))
    for title, cells in rows.items():
        print(title.ljust(width) + "".join(c.rjust(col) for c in cells))
    return 0


def resolve(args: argparse.Namespace) -> int:
    try:
        ref = arn.resolve(args.ident)
    except DadcError as exc:
        print(f"dadc: {exc}", file=__import__("sys").stderr)
        return 2
    profile = profiles.get(ref.version)
    doc = {"version": ref.version, "partition": ref.partition, "region": ref.region, "arn": ref.arn,
           **{k: v for k, v in profile.to_json().items() if k != "version"}}
    if args.format == "json":
        print(json.dumps(doc, indent=2))
    else:
        print(f"version: {ref.version}")
        print(f"partition: {ref.partition or '-'}")
        print(f"region: {ref.region or '-'}")
        print(f"changelog: {profile.changelog}")
        print("parameters: " + ", ".join(
            p.name + ("*" if p.required else f"={p.default}" if p.default else "") for p in profile.parameters))
        print("start sequence: " + " -> ".join(c.describe() for c in profile.start_sequence))
        print("stop sequence: " + " -> ".join(c.describe() for c in profile.stop_sequence))
        print(f"stop limit: {profile.stop_timeout_seconds:g} s")
    return 0


def schema(args: argparse.Namespace) -> int:
    try:
        version = arn.resolve(args.version).version
    except DadcError as exc:
        print(f"dadc: {exc}", file=__import__("sys").stderr)
        return 2
    print((data_dir("schemas") / f"parameters-v{version}.json").read_text(encoding="utf-8"), end="")
    return 0
