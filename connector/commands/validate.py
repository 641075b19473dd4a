"""dadc validate FILE..."""
from __future__ import annotations

import argparse
import sys

from connector.errors import DadcError
from connector.validation.engine import FileResult, exit_code, validate_bytes
from connector.validation.findings import Finding


def _read(name: str) -> bytes | FileResult:
    try:
        if name == "-":
            return sys.stdin.buffer.read()
        with open(name, "rb") as handle:
            return handle.read()
    except OSError as exc:
        result = FileResult(name, fatal=True)
        result.findings.append(Finding("E0001", "error", "", f"cannot read: {exc.strerror}", 1, 1, name))
        return result


def run(args: argparse.Namespace) -> int:
    from connector.validation.reporters import REPORTERS

    if not args.files and not args.compose:
        print("dadc validate: give a definition FILE, or --compose FILE", file=sys.stderr)
        return 2
    version = None
    if args.version:
        from connector import arn
        try:
            version = arn.resolve(args.version).version
        except DadcError as exc:
            print(f"dadc: {exc}", file=sys.stderr)
            return 2
    preflight = _preflight(args)
    if isinstance(preflight, int):
        return preflight
    from connector.errors import UsageError
    from connector.validation import selection
    try:
        chosen = selection.configured().plus(args.ignore_checks, args.include_checks)
    except UsageError as exc:
        print(f"dadc: {exc}", file=sys.stderr)
        return 2
    results = []
    for name in args.files:
        raw = _read(name)
        result = raw if isinstance(raw, FileResult) else validate_bytes("<stdin>" if name == "-" else name, raw,
                                                                        version=version, strict=args.strict)
        if preflight is not None and not result.fatal:
            result = _with_role_policy(result, raw, *preflight, strict=args.strict)
        results.append(result)
    if args.compose:
        results.append(compose_result(args.compose, args.strict))
    results = [selection.apply(r, chosen) for r in results]
    print(REPORTERS[args.format]().render(results))
    return exit_code(results, args.strict)


def _preflight(args: argparse.Namespace) -> tuple[dict, list[str]] | int | None:  # type: ignore[type-arg]
    """The role policy (and the compose file's images) for the group role preflight."""
    if not args.role_policy:
        return None
    from connector.validation import rolepolicy
    try:
        with open(args.role_policy, "rb") as handle:
            policy = rolepolicy.load(handle.read())
        images: list[str] = []
        if args.compose:
            from connector.domain import composefile
            with open(args.compose, "rb") as handle:
                doc = composefile.load(handle.read())
            services = doc.get("services", doc) if isinstance(doc, dict) else {}
            images = [str(s["image"]) for s in services.values() if isinstance(s, dict) and s.get("image")]
    except (OSError, rolepolicy.PolicyError, DadcError) as exc:
        print(f"dadc: {getattr(exc, 'filename', None) or args.compose or args.role_policy}: "
              f"{getattr(exc, 'strerror', None) or exc}", file=sys.stderr)
        return 2
    return policy, images


def _with_role_policy(result: FileResult, raw: bytes, policy: dict, images: list[str],  # type: ignore[type-arg]
                      *, strict: bool) -> FileResult:
    from dataclasses import replace

    from connector.validation import rolepolicy
    from connector.validation.document import load
    positions = load(result.file, raw).positions
    for connector in result.connectors:
        for f in rolepolicy.check(connector, policy, images):
            line, column = positions.locate(f.pointer)
            f = replace(f, line=line, column=column, file=result.file)
            result.findings.append(f.escalated() if strict else f)
    result.findings.sort(key=lambda f: (f.line, f.column, f.rule))
    return result


def compose_result(path: str, strict: bool, cli: bool = True) -> FileResult:
    """The compose file's settings that hand a container the host (W7001-W7007, W7010), judged on
    what the installed compose CLI's `config` prints, and located in the file as written. A file
    compose refuses is E7008 with compose's reason, at the place it names. cli=False judges the
    file as written (the validation cases: the rules themselves, with no CLI involved)."""
    from pathlib import Path

    from connector.domain import composefile
    from connector.runtime.seams import compose, process
    from connector.validation import rules_compose
    result = FileResult(path)
    try:
        raw = Path(path).read_bytes()
        written = composefile.check(raw)
    except (OSError, DadcError) as exc:
        result.fatal = True
        result.findings.append(Finding("E0001", "error", "", f"cannot read: {getattr(exc, 'strerror', None) or exc}",
                                       1, 1, path))
        return result
    findings: list[Finding] = []
    doc: object = written.first
    folder = Path(path).resolve().parent
    try:
        found = compose.detect() if cli else None
    except DadcError:
        found = None
        findings.append(rules_compose.UNREAD("", "no compose CLI found: judged on the file as written"))
    if found is not None:
        done = process.run(found.command("config", Path(path).resolve(), folder), cwd=str(folder), timeout=120,
                           check=False)
        try:
            doc = composefile.load(done.stdout) if done.returncode == 0 and done.stdout.strip() else None
        except DadcError:
            doc = None
        if not isinstance(doc, dict) or not isinstance(doc.get("services"), dict):
            said = [line for line in done.stderr.strip().splitlines() if line.strip()]
            reason = " / ".join(said[-3:]) or "it printed no project"
            needs = f" (the file uses {'; '.join(written.needs())}: this is {found.name} {found.version})" \
                if written.needs() else ""
            findings.append(rules_compose.REFUSED(rules_compose.pointer_of(reason), f"compose refuses it: {reason}{needs}"))
            doc = None
    findings += rules_compose.check(doc, str(folder)) if isinstance(doc, dict) else []
    for f in rules_compose.locate(findings, raw, path):
        result.findings.append(f.escalated() if strict else f)
    result.findings.sort(key=lambda f: (f.line, f.column, f.rule))
    return result
