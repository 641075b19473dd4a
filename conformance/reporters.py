"""Conformance reporters, registered by name (the registry feeds the CLI's choices)."""
from __future__ import annotations

import json
from collections import Counter
from xml.etree import ElementTree as ET

from dadc.conformance.runner import CaseResult

MARK = {"pass": "✓", "fail": "✗", "skip": "–", "error": "!"}


def summary(results: list[CaseResult]) -> str:
    counts = Counter(r.outcome for r in results)
    text = f"{counts['pass']} passed, {counts['fail']} failed, {counts['skip']} skipped, {counts['error']} errors"
    if counts["skip"] or counts["error"] or not results:
        text += " (exit 3: " + ("nothing ran" if not results else "not every case could run") + ")"
    return text


def skipped(results: list[CaseResult]) -> list[str]:
    """Each skipped case with its reason: a skip is never silent."""
    return [f"{r.case.id}: {r.detail}" for r in results if r.outcome == "skip"]


class TextReporter:
    def render(self, results: list[CaseResult]) -> str:
        lines = [f"{r.outcome.upper():5} {r.case.id}" + (f": {r.detail}" if r.detail else "") for r in results]
        return "\n".join(lines + [summary(results)])


class JsonReporter:
    def render(self, results: list[CaseResult]) -> str:
        counts = Counter(r.outcome for r in results)
        return json.dumps({"results": [{"case": r.case.id, "version": r.case.version, "scenario": r.case.scenario,
                                        "outcome": r.outcome, "detail": r.detail, "commands": r.commands,
                                        "messages": r.messages, "running": r.running,
                                        "seconds": round(r.seconds, 3)} for r in results],
                           "summary": {o: counts[o] for o in ("pass", "fail", "skip", "error")},
                           "skipped": skipped(results)}, indent=2)


class JunitReporter:
    def render(self, results: list[CaseResult]) -> str:
        suite = ET.Element("testsuite", name="dadc conformance", tests=str(len(results)),
                           failures=str(sum(r.outcome == "fail" for r in results)),
                           errors=str(sum(r.outcome == "error" for r in results)),
                           skipped=str(sum(r.outcome == "skip" for r in results)))
        for r in results:
            case = ET.SubElement(suite, "testcase", classname=f"v{r.case.version}", name=r.case.name,
                                 time=f"{r.seconds:.3f}")
            if r.outcome in ("fail", "error", "skip"):
                tag = {"fail": "failure", "error": "error", "skip": "skipped"}[r.outcome]
                ET.SubElement(case, tag, message=r.detail[:200]).text = r.detail
        return ET.tostring(suite, encoding="unicode", xml_declaration=True)


class MarkdownReporter:
    """The versions x scenarios matrix: each cell the outcome and the command sequence."""

    def render(self, results: list[CaseResult]) -> str:
        versions = sorted({r.case.version for r in results})
        scenarios = sorted({r.case.scenario for r in results})
        lines = ["| scenario | " + " | ".join(f"v{v}" for v in versions) + " |",
                 "| --- | " + " | ".join("---" for _ in versions) + " |"]
        for scenario in scenarios:
            cells = []
            for v in versions:
                mine = [r for r in results if r.case.version == v and r.case.scenario == scenario]
                cells.append("<br>".join(f"{MARK[r.outcome]} " + (" → ".join(_short(c) for c in r.case.expect["commands"]) or "(none)")
                                         for r in mine) or "n/a")
            lines.append(f"| {scenario} | " + " | ".join(cells) + " |")
        notes = [f"- skipped {line}" for line in skipped(results)]
        return "\n".join(lines + ["", summary(results)] + ([""] + notes if notes else [])) + "\n"


def _short(command: str) -> str:
    return command.replace("compose ", "").replace(" --password-stdin", "").replace(" -d", "").split(" @")[0]


REPORTERS = {"text": TextReporter, "json": JsonReporter, "junit": JunitReporter, "markdown": MarkdownReporter}
