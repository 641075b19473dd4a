"""dadc validate FILE..."""
from __future__ import annotations

import argparse
import sys

from dadc.errors import DadcError
from dadc.validation.engine import FileResult, exit_code, validate_bytes
from dadc.validation.findings import Finding


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
    from dadc.validation.reporters import REPORTERS

    if not args.files and not args.compose:
        print("dadc validate: give a definition FILE, or --compose FILE", file=sys.stderr)
        return 2
    version = None
    if args.version:
        from dadc import arn
        try:
            version = arn.resolve(args.version).version
        except DadcError as exc:
            print(f"dadc: {exc}", file=sys.stderr)
            return 2
    preflight = _preflight(args)
    if isinstance(preflight, int):
        return preflight
    from dadc.errors import UsageError
    from dadc.validation import selection
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
        from dadc.validation.compose_check import compose_result
        results.append(compose_result(args.compose, args.strict))
    results = [selection.apply(r, chosen) for r in results]
    print(REPORTERS[args.format]().render(results, args.strict))
    return exit_code(results, args.strict)


def _preflight(args: argparse.Namespace) -> tuple[dict, list[str]] | int | None:  # type: ignore[type-arg]
    """The role policy (and the compose file's images) for the group role preflight."""
    if not args.role_policy:
        return None
    from dadc.validation import rolepolicy
    try:
        with open(args.role_policy, "rb") as handle:
            policy = rolepolicy.load(handle.read())
        images: list[str] = []
        if args.compose:
            from dadc.domain import composefile
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

    from dadc.validation import rolepolicy
    from dadc.validation.document import load
    positions = load(result.file, raw).positions
    for connector in result.connectors:
        for f in rolepolicy.check(connector, policy, images):
            line, column = positions.locate(f.pointer)
            f = replace(f, line=line, column=column, file=result.file)
            result.findings.append(f)  # --strict: the exit code, not the severity
    result.findings.sort(key=lambda f: (f.line, f.column, f.rule))
    return result
