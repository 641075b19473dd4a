"""dadc diff A B; dadc upgrade FILE --to N."""
from __future__ import annotations

import argparse
import json
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path

from dadc import arn, jsonedit, migration, profiles
from dadc.errors import DadcError
from dadc.validation.document import load
from dadc.validation.engine import validate_bytes
from dadc.validation.positions import PositionMap, join


def diff(args: argparse.Namespace) -> int:
    try:
        a, b = (profiles.get(arn.resolve(v).version) for v in (args.a, args.b))
    except DadcError as exc:
        print(f"dadc: {exc}", file=sys.stderr)
        return 2
    d = migration.diff(a, b)
    if args.format == "json":
        print(json.dumps(d.to_json(), indent=2))
        return 0
    print(f"version {a.version} -> version {b.version}")
    print("parameters:")
    for c in d.parameters or []:
        if c.before is None:
            print(f"  + {c.name}" + (f" (default {c.after['default']})" if c.after and c.after["default"] else ""))
        elif c.after is None:
            print(f"  - {c.name}")
        else:
            what = ", ".join(f"{k} {_shown(c.before[k])} -> {_shown(c.after[k])}" for k in c.before
                             if c.before[k] != c.after[k])
            print(f"  ~ {c.name}: {what}")
    if not d.parameters:
        print("  (no change)")
    for title, (before, after) in (("start sequence", d.start), ("stop sequence", d.stop)):
        print(f"{title}:" + (" (no change)" if before == after else ""))
        if before != after:
            print(f"  before: {' -> '.join(before)}")
            print(f"  after:  {' -> '.join(after)}")
    for key, (before, after) in d.behaviour.items():
        print(f"{key}: {before} -> {after}")
    print("changelog:" + ("" if d.changelog else " (none)"))
    for version, text in d.changelog:
        print(f"  {version}: {text}")
    return 0


def _shown(value: object) -> str:
    return "none" if value is None else str(value)


@dataclass
class Upgrade:
    """One file's upgrade: the new text, what it changes for each connector, what stops it."""

    text: str
    new_text: str = ""
    report: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    unreadable: bool = False  # the file is not JSON nor a YAML template: exit 2

    @property
    def changed(self) -> bool:
        return self.new_text != self.text


_VERSIONS = re.compile(r"/versions/\d+")


def plan_upgrade(name: str, raw: bytes, to: int, *, version: int | None = None, connector_id: str | None = None,
                 force: bool = False) -> Upgrade:
    """Every DockerApplicationDeployment connector of the file (or the bare Parameters of
    `version`) moved to version `to`; layout and everything else kept byte for byte."""
    result = validate_bytes(name, raw, version=version)
    text = raw.decode("utf-8-sig", errors="replace")
    up = Upgrade(text, text)
    if result.fatal:
        up.problems = [f"{f.line}:{f.column}: {f.rule} {f.message}" for f in result.findings if f.severity == "error"]
        up.unreadable = True
        return up
    errors = [f for f in result.findings if f.severity == "error"]
    if errors and not force:
        up.problems = [f"{f.line}:{f.column}: {f.rule} {f.message} (it does not validate)" for f in errors]
        up.problems.append("fix it first, or --force moves it as it is")
        return up
    if not result.connectors:
        up.problems = ["no DockerApplicationDeployment connector in it: nothing to upgrade"]
        return up
    doc = load(name, raw)
    positions, edits = doc.positions, []
    target = profiles.get(to)
    for c in result.connectors:
        if connector_id is not None and c.id != connector_id:
            continue
        where = c.pointer or "the Parameters object"
        if c.ref is None:
            up.problems.append(f"{where}: the ConnectorArn names no version dadc knows; fix it first")
            continue
        source = profiles.get(c.ref.version)
        params = c.parameters if isinstance(c.parameters, dict) else {}
        if source.version == to:
            continue
        gone = migration.lost(source, target, params)
        if gone and not force:
            up.problems.append(f"{where}: version {to} has no {', '.join(gone)}; its setting would be lost "
                               "(--force drops it)")
            continue
        up.report.append(f"{where} ({c.id or 'Parameters'}): version {source.version} -> {to}")
        up.report += [f"  - drops {n}={params[n]!r}: version {to} has no such parameter" for n in gone]
        up.report += [f"  - {line}" for line in migration.changes_for(source, target, params)]
        if c.pointer:
            edit = _arn_edit(text, positions, doc.data, join(c.pointer, "ConnectorArn"), to)
            if edit is None:
                up.problems.append(f"{where}: its ConnectorArn's version is not a literal dadc can change")
                continue
            edits.append(edit)
        holder = join(c.pointer, "Parameters") if c.pointer else ""
        if gone:
            removed = _removals(positions, holder, {join(holder, n) for n in gone})
            if removed is None:
                up.problems.append(f"{where}: Parameters is written as a string or a flow mapping: drop "
                                   f"{', '.join(gone)} by hand")
                continue
            edits += removed
    if up.problems:
        return up
    up.new_text = jsonedit.apply(text, edits)
    after = validate_bytes(name, up.new_text.encode(), version=to if version is not None else None)
    before_rules = {(f.rule, f.pointer) for f in result.findings if f.severity == "error"}
    new = [f for f in after.findings if f.severity == "error" and (f.rule, f.pointer) not in before_rules]
    if new:
        up.problems = [f"{f.line}:{f.column}: {f.rule} {f.message} (the result would not validate under version {to})"
                       for f in new]
        up.new_text = text
    return up


def _at(data: object, pointer: str) -> object:
    for token in (t.replace("~1", "/").replace("~0", "~") for t in pointer.strip("/").split("/") if pointer):
        data = data[int(token)] if isinstance(data, list) else data[token]  # type: ignore[index]
    return data


def _arn_string(data: object, pointer: str) -> str | None:
    """The string that holds the ARN's version: the ARN itself, or inside a template's Fn::Sub or
    Fn::Join (the literal part a move changes)."""
    value = _at(data, pointer)
    if isinstance(value, str):
        return pointer if "/versions/" in value else None
    if isinstance(value, dict) and len(value) == 1:
        (name, arg), = value.items()
        if name == "Fn::Sub":
            return _arn_string(data, join(pointer, name) + ("/0" if isinstance(arg, list) else ""))
        if name == "Fn::Join" and isinstance(arg, list) and len(arg) == 2 and isinstance(arg[1], list):
            for i, part in enumerate(arg[1]):
                if isinstance(part, str) and "/versions/" in part:
                    return join(join(join(pointer, name), 1), i)
    return None


def _arn_edit(text: str, positions: object, data: object, pointer: str, to: int) -> jsonedit.Edit | None:
    where = _arn_string(data, pointer)
    if where is None:
        return None
    if isinstance(positions, PositionMap):
        start, end = positions.offsets[where], positions.ends[where]
    else:
        start, end = positions.spans[where]  # type: ignore[attr-defined]
    return jsonedit.Edit(start, end, _VERSIONS.sub(f"/versions/{to}", text[start:end]))


def _removals(positions: object, holder: str, removed: set[str]) -> list[jsonedit.Edit] | None:
    if isinstance(positions, PositionMap):
        return jsonedit.remove_members(positions, holder, removed) if holder in positions.members else None
    spans = [positions.members.get(p) for p in removed]  # type: ignore[attr-defined]
    if any(s is None for s in spans):
        return None
    return [jsonedit.Edit(s[0], s[1], "") for s in spans if s is not None]


def upgrade(args: argparse.Namespace) -> int:
    try:
        to = arn.resolve(args.to).version
        version = arn.resolve(args.version).version if args.version else None
    except DadcError as exc:
        print(f"dadc: {exc}", file=sys.stderr)
        return 2
    if args.output and len(args.files) != 1:
        print("dadc: --output takes one FILE", file=sys.stderr)
        return 2
    code = 0
    for name in args.files:
        try:
            raw = Path(name).read_bytes()
        except OSError as exc:
            print(f"dadc: {name}: {exc.strerror}", file=sys.stderr)
            return 2
        up = plan_upgrade(name, raw, to, version=version, connector_id=args.connector_id, force=args.force)
        report = sys.stderr if args.output == "-" else sys.stdout
        for line in up.report:
            print(f"{name}: {line}" if not line.startswith("  ") else line, file=report)
        if up.problems:
            for problem in up.problems:  # a located one as validate prints it: FILE:LINE:COLUMN: ...
                print(f"{name}:{problem}" if re.match(r"\d+:\d+: ", problem) else f"{name}: refused: {problem}",
                      file=sys.stderr)
            code = max(code, 2 if up.unreadable else 1)
            continue
        if not up.changed:
            print(f"{name}: already at version {to}", file=report)
            continue
        if args.check:
            print(f"{name}: would change (--check)", file=report)
            code = max(code, 1)
            continue
        data = ("\ufeff" if raw.startswith(b"\xef\xbb\xbf") else "") + up.new_text
        if args.output == "-":
            sys.stdout.write(data)
        else:
            Path(args.output or name).write_text(data, encoding="utf-8")
            print(f"{name}: written{' to ' + args.output if args.output else ''}", file=report)
    return code
