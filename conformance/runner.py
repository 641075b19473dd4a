"""Select cases, run them on an engine, and say how each ended: pass, fail, skip or error."""
from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dadc.conformance.behaviour_cases import BehaviourCase, discover, one_per_group
from dadc.conformance.engines.base import Engine, Skip, quiet



@dataclass
class CaseResult:
    case: BehaviourCase
    outcome: str
    detail: str = ""
    commands: list[str] = field(default_factory=list)
    seconds: float = 0.0
    messages: list[dict[str, Any]] = field(default_factory=list)  # the recorded steps' status messages
    running: str | None = None  # which file runs at the end


def parse_versions(text: str | None) -> set[int] | None:
    """'1,4-6' -> {1, 4, 5, 6}; raise ValueError on anything else."""
    if not text:
        return None
    chosen: set[int] = set()
    for part in text.split(","):
        first, _, last = part.strip().partition("-")
        chosen.update(range(int(first), int(last or first) + 1))
    return chosen


def make_engine(name: str, compose_files: dict, compose_command: str | None = None) -> Engine:  # type: ignore[type-arg]
    if name == "recorded":
        from dadc.conformance.engines.recorded import RecordedEngine
        return RecordedEngine(compose_files)
    from dadc.conformance.engines.docker import DockerEngine
    return DockerEngine(compose_files, compose_command)


def run(engine_name: str, versions: set[int] | None = None, scenarios: set[str] | None = None,
        cases_dir: Path | None = None, compose_command: str | None = None,
        per_group: bool = False, ids: set[str] | None = None) -> list[CaseResult]:
    """Raises CaseError for a scenario file that cannot be run as written. Scenarios for another
    compose CLI generation than the engine's are not selected (like other versions). ids: only
    these cases (v7/first-deploy)."""
    cases, compose_files = discover(cases_dir)
    selected = [c for c in cases if (versions is None or c.version in versions)
                and (scenarios is None or c.scenario in scenarios) and (ids is None or c.id in ids)]
    if per_group:
        selected = one_per_group(selected)
    workers = min(os.cpu_count() or 1, len(selected) // 8)
    if engine_name == "recorded" and workers > 1:
        return _in_parallel(selected, compose_files, workers)
    return _run_all(engine_name, selected, compose_files, compose_command)


def _in_parallel(selected: list[BehaviourCase], compose_files: dict, workers: int) -> list[CaseResult]:  # type: ignore[type-arg]
    """The recorded engine's cases are independent (each its own folder, fake engine and journal):
    they run in worker processes, one share each, and come back in order."""
    import multiprocessing
    shares = [selected[i::workers] for i in range(workers)]
    with multiprocessing.get_context("fork").Pool(workers) as pool:
        parts = pool.starmap(_run_all, [("recorded", share, compose_files, None) for share in shares])
    by_id = {r.case.id: r for part in parts for r in part}
    return [by_id[c.id] for c in selected if c.id in by_id]  # a share may leave out another CLI's cases


def _run_all(engine_name: str, selected: list[BehaviourCase], compose_files: dict,  # type: ignore[type-arg]
             compose_command: str | None) -> list[CaseResult]:
    with quiet():
        try:
            engine = make_engine(engine_name, compose_files, compose_command)
        except Skip as exc:
            return [CaseResult(c, "skip", str(exc)) for c in selected]
        except Exception as exc:  # the engine could not start: every case is an engine error
            return [CaseResult(c, "error", f"engine {engine_name}: {type(exc).__name__}: {exc}") for c in selected]
        selected = [c for c in selected if c.applies_to(engine.cli_generation)]
        results: list[CaseResult] = []
        try:
            with engine.run_session():
                for case in selected:
                    results.append(_run_one(engine, case))
        except Exception as exc:  # the session itself broke (e.g. its registry would not start)
            done = {r.case for r in results}
            results += [CaseResult(c, "error", f"engine {engine_name}: {type(exc).__name__}: {exc}")
                        for c in selected if c not in done]
        return results


def _run_one(engine: Engine, case: BehaviourCase) -> CaseResult:
    started = time.monotonic()
    try:
        problems, commands, messages, running = engine.run_case(case)
        result = CaseResult(case, "fail" if problems else "pass", "; ".join(problems), commands,
                            messages=messages, running=running)
    except Skip as exc:
        result = CaseResult(case, "skip", str(exc))
    except Exception as exc:  # the harness broke on this case: an error, not a failure
        result = CaseResult(case, "error", f"{type(exc).__name__}: {exc}")
    result.seconds = time.monotonic() - started
    return result


def exit_code(results: list[CaseResult]) -> int:
    """0 every case passed; 1 a case failed; 3 the harness could not do its job: an engine
    error, a case that could not run here (skipped, with its reason), or nothing ran at all."""
    if not results or any(r.outcome in ("error", "skip") for r in results):
        return 3
    return 1 if any(r.outcome == "fail" for r in results) else 0
