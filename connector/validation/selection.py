"""Which rules report, as linters do it: `--ignore-checks` and `--include-checks` take rule ids or
prefixes (W, W4, W4006); the longer of two matching prefixes wins, so `--ignore-checks W
--include-checks W7001` keeps that one warning. Configuration comes from `.dadc.toml` or the
`[tool.dadc]` table of `pyproject.toml`, the first found from the working folder upward, and the
command line adds to it. A template resource's `Metadata: {dadc: {ignore_checks: [...]}}` (the
shape of cfn-lint's `Metadata.cfn-lint.config.ignore_checks`) applies to its own findings.
What is left out is counted, never silently dropped."""
from __future__ import annotations

import sys
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from dadc.errors import UsageError
from dadc.validation.engine import FileResult


@dataclass(frozen=True)
class Selection:
    ignore: tuple[str, ...] = ()
    include: tuple[str, ...] = ()
    source: str = ""  # the configuration file it came from, if any

    def keeps(self, rule_id: str, more: tuple[str, ...] = ()) -> bool:
        ignored = [p for p in (*self.ignore, *more) if rule_id.startswith(p)]
        if not ignored:
            return True
        included = [p for p in self.include if rule_id.startswith(p)]
        return bool(included) and max(map(len, included)) > max(map(len, ignored))

    def plus(self, ignore: list[str] | None, include: list[str] | None) -> "Selection":
        return replace(self, ignore=self.ignore + tuple(_ids(ignore, "--ignore-checks: ")),
                       include=self.include + tuple(_ids(include, "--include-checks: ")))


def _ids(values: Any, where: str = "") -> list[str]:
    """['W4006,I5004', 'E'] -> ['W4006', 'I5004', 'E']; each an id or a prefix of one dadc has
    (a letter, then digits), else UsageError naming the nearest."""
    if values is None:
        return []
    if isinstance(values, str):
        values = [values]
    if not isinstance(values, list):
        raise UsageError(f"{where}rule ids must be a list of strings, not {values!r}")
    ids = [part.strip() for value in values for part in str(value).split(",") if part.strip()]
    for rid in ids:
        _known(rid, where)
    return ids


def _known(rid: str, where: str) -> None:
    import difflib

    import dadc.validation.rulesdoc  # noqa: F401  -- every rule registered
    from dadc.validation.findings import REGISTRY
    if any(known.startswith(rid) for known in REGISTRY) and rid[:1] in "EWI":
        return
    near = difflib.get_close_matches(rid.upper(), sorted(REGISTRY), n=1, cutoff=0.5)
    hint = f"; did you mean {near[0]}?" if near else ""
    raise UsageError(f"{where}{rid!r} is not a rule id nor a prefix of one (E, W, I, then digits: W4006, W40, I)"
                     f"{hint} (docs/rules.md lists them)")


def _toml(path: Path) -> dict[str, Any]:
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover - Python 3.10
        import tomli as tomllib
    try:
        with open(path, "rb") as handle:
            return tomllib.load(handle)
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise UsageError(f"{path}: {exc}") from None


def configured(start: Path | None = None) -> Selection:
    """The first .dadc.toml, or pyproject.toml with a [tool.dadc] table, from start upward."""
    folder = (start or Path.cwd()).resolve()
    for here in (folder, *folder.parents):
        if (here / ".dadc.toml").is_file():
            table, where = _toml(here / ".dadc.toml"), f"{here / '.dadc.toml'}: "
            return Selection(tuple(_ids(table.get("ignore_checks"), where)),
                             tuple(_ids(table.get("include_checks"), where)), str(here / ".dadc.toml"))
        if (here / "pyproject.toml").is_file():
            table = _toml(here / "pyproject.toml").get("tool", {}).get("dadc")
            if isinstance(table, dict):
                where = f"{here / 'pyproject.toml'} [tool.dadc]: "
                return Selection(tuple(_ids(table.get("ignore_checks"), where)),
                                 tuple(_ids(table.get("include_checks"), where)), str(here / "pyproject.toml"))
    return Selection()


def apply(result: FileResult, selection: Selection) -> FileResult:
    """The result with what the selection (and each resource's Metadata) leaves out, counted."""
    kept = []
    for f in result.findings:
        more = next((ids for at, ids in result.suppressions.items()
                     if f.pointer == at or f.pointer.startswith(at + "/")), ())
        if selection.keeps(f.rule, more):
            kept.append(f)
    result.suppressed += len(result.findings) - len(kept)
    result.findings = kept
    return result
