"""Validation cases: discovered from files, run through the validator, compared with expectations."""
from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dadc.conformance.behaviour_cases import cases_root
from dadc.validation.engine import exit_code, validate_bytes


@dataclass(frozen=True)
class ValidationCase:
    name: str
    spec: dict[str, Any]

    def raw(self) -> bytes:
        if "text" in self.spec:
            return self.spec["text"].encode()
        if "text_hex" in self.spec:
            return bytes.fromhex(self.spec["text_hex"])
        return (json.dumps(self.spec["document"], indent=2) + "\n").encode()

    def run(self) -> list[str]:
        """The differences between what the validator says and what the case expects."""
        strict = self.spec.get("strict", False)
        if "compose" in self.spec:  # a compose file: `dadc validate --compose`, judged as written
            import tempfile

            from dadc.validation.compose_check import compose_result
            with tempfile.TemporaryDirectory() as folder:
                path = Path(folder) / f"{self.name}.yml"
                path.write_text(self.spec["compose"])
                result = compose_result(str(path), strict, cli=False)
        else:
            result = validate_bytes(f"{self.name}.json", self.raw(), version=_version(self.spec), strict=strict)
        from dadc.validation.selection import Selection, apply
        result = apply(result, Selection(tuple(self.spec.get("ignore_checks", ())),
                                         tuple(self.spec.get("include_checks", ()))))
        problems = []
        if result.suppressed != self.spec.get("suppressed", 0):
            problems.append(f"{result.suppressed} suppressed, expected {self.spec.get('suppressed', 0)}")
        got = Counter((f.rule, f.pointer) for f in result.findings)
        want = Counter((e["rule"], e["pointer"]) for e in self.spec["expected"])
        if got != want:
            problems.append(f"findings differ: missing {sorted((want - got).elements())}, "
                            f"unexpected {sorted((got - want).elements())} "
                            f"({[f.message for f in result.findings]})")
        for e in self.spec["expected"]:
            if "line" in e:
                places = [(f.line, f.column) for f in result.findings if (f.rule, f.pointer) == (e["rule"], e["pointer"])]
                if (e["line"], e.get("column", places[0][1] if places else 0)) not in places:
                    problems.append(f"{e['rule']} expected at {e['line']}:{e.get('column')}, found at {places}")
        for e in self.spec["expected"]:
            if "message" in e:
                said = [f.message for f in result.findings if (f.rule, f.pointer) == (e["rule"], e["pointer"])]
                if not any(e["message"] in m for m in said):
                    problems.append(f"{e['rule']} at {e['pointer']} does not say {e['message']!r}: {said}")
        code = exit_code([result], strict)
        if code != self.spec["exit"]:
            problems.append(f"exit {code}, expected {self.spec['exit']}")
        return problems


def _version(spec: dict[str, Any]) -> int | None:
    return int(spec["version"].lstrip("v")) if "version" in spec else None


def cases_dir() -> Path:
    return cases_root() / "validation"


def discover(folder: Path | None = None) -> list[ValidationCase]:
    folder = folder or cases_dir()
    return [ValidationCase(p.stem, json.loads(p.read_text(encoding="utf-8")))
            for p in sorted(folder.glob("*.json"))]
