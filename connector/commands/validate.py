"""dadc validate FILE..."""
from __future__ import annotations

import argparse
import sys

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

    version = None
    if args.version:
        from connector import arn
        from connector.errors import DadcError
        try:
            version = arn.resolve(args.version).version
        except DadcError as exc:
            print(f"dadc: {exc}", file=sys.stderr)
            return 2
    results = []
    for name in args.files:
        raw = _read(name)
        results.append(raw if isinstance(raw, FileResult)
                       else validate_bytes("<stdin>" if name == "-" else name, raw,
                                           version=version, strict=args.strict))
    print(REPORTERS[args.format]().render(results))
    return exit_code(results, args.strict)
