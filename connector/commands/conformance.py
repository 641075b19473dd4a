"""dadc conformance: run the behaviour cases on the recorded or the real engine."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path


def run(args: argparse.Namespace) -> int:
    from dadc.conformance import runner
    from dadc.conformance.reporters import REPORTERS
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
    from dadc.conformance.behaviour_cases import CaseError, discover
    try:
        known = {c.scenario for c in discover(cases)[0]}
    except (CaseError, OSError, ValueError, KeyError) as exc:
        print(f"dadc: the cases cannot be run: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 3
    unknown = sorted((scenarios or set()) - known)
    if unknown:
        import difflib
        near = difflib.get_close_matches(unknown[0], sorted(known), n=1)
        print(f"dadc: --scenarios: no scenario {unknown[0]!r}" + (f"; did you mean {near[0]}?" if near else ""),
              file=sys.stderr)
        return 2
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
