"""dadc conformance: run the behaviour cases on the recorded or the real engine."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path


def run(args: argparse.Namespace) -> int:
    from conformance import runner
    from conformance.reporters import REPORTERS
    try:
        versions = runner.parse_versions(args.versions)
    except ValueError:
        print(f"dadc: --versions {args.versions!r}: use e.g. 1,4-6", file=sys.stderr)
        return 2
    scenarios = set(args.scenarios.split(",")) if args.scenarios else None
    cases = Path(args.cases) if args.cases else None
    if cases and not (cases / "behaviour").is_dir():
        print(f"dadc: --cases {cases}: no behaviour/ folder there", file=sys.stderr)
        return 2
    from conformance.behaviour_cases import CaseError
    try:
        results = runner.run(args.engine, versions, scenarios, cases, args.compose_command, args.one_per_group)
    except (CaseError, OSError, ValueError, KeyError) as exc:
        print(f"dadc: the cases cannot be run: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 3
    if not results:  # the harness did not do its job: nothing ran (README: exit 3)
        print("dadc: no case matches the selection: nothing ran", file=sys.stderr)
        return 3
    print(REPORTERS[args.format]().render(results))
    return runner.exit_code(results)
