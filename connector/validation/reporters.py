"""Validation reporters, registered by name; the registry also feeds the CLI's choices."""
from __future__ import annotations

import json
from xml.etree import ElementTree as ET

from dadc import __version__
from dadc.validation.engine import FileResult
from dadc.validation.findings import REGISTRY


class TextReporter:
    def render(self, results: list[FileResult], strict: bool = False) -> str:
        lines = [f"{f.file}:{f.line}:{f.column}: {f.severity} {f.rule} {f.message}"
                 for r in results for f in r.findings]
        errors = sum(r.errors for r in results)
        warnings = sum(r.warnings for r in results)
        suppressed = sum(r.suppressed for r in results)
        lines.append(f"{len(results)} file(s): {errors} error(s), {warnings} warning(s)"
                     + (f", {suppressed} suppressed" if suppressed else ""))
        return "\n".join(lines)


class JsonReporter:
    def render(self, results: list[FileResult], strict: bool = False) -> str:
        return json.dumps({
            "files": [{"file": r.file, "valid": r.valid, "findings": [f.to_json() for f in r.findings]}
                      for r in results],
            "errors": sum(r.errors for r in results),
            "warnings": sum(r.warnings for r in results),
            "suppressed": sum(r.suppressed for r in results),
        }, indent=2)


class JunitReporter:
    """One test case per file and connector; errors (or fatal files; with --strict, warnings too)
    fail it. Every finding is kept, each with its own severity."""

    def render(self, results: list[FileResult], strict: bool = False) -> str:
        suites = ET.Element("testsuites", name="dadc validate")
        for r in results:
            suite = ET.SubElement(suites, "testsuite", name=r.file)
            units = r.units or [("file", "")]
            failed = 0
            for name, pointer in units:
                case = ET.SubElement(suite, "testcase", classname=r.file, name=name)
                mine = [f for f in r.findings if _within(f.pointer, pointer, units)]
                errors = sum(f.severity == "error" for f in mine)
                warnings = sum(f.severity == "warning" for f in mine)
                if errors or r.fatal or (strict and warnings):
                    failed += 1
                    text = "\n".join(f"{f.line}:{f.column} {f.severity} {f.rule} {f.message}" for f in mine or r.findings)
                    said = [f"{n} {word}(s)" for n, word in ((errors, "error"), (warnings, "warning")) if n]
                    ET.SubElement(case, "failure", message=", ".join(said) or "unreadable").text = text
                elif mine:
                    ET.SubElement(case, "system-out").text = "\n".join(
                        f"{f.line}:{f.column} {f.severity} {f.rule} {f.message}" for f in mine)
            suite.set("tests", str(len(units)))
            suite.set("failures", str(failed))
        return ET.tostring(suites, encoding="unicode", xml_declaration=True)


def _within(pointer: str, unit: str, units: list[tuple[str, str]]) -> bool:
    if pointer == unit or pointer.startswith(unit + "/"):
        return True
    # findings above every connector (document shape) belong to the first unit
    return unit == units[0][1] and not any(pointer == p or pointer.startswith(p + "/") for _, p in units)


class SarifReporter:
    def render(self, results: list[FileResult], strict: bool = False) -> str:
        used = sorted({f.rule for r in results for f in r.findings})
        level = {"error": "error", "warning": "warning", "info": "note"}
        return json.dumps({
            "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
            "version": "2.1.0",
            "runs": [{
                "tool": {"driver": {
                    "name": "dadc", "version": __version__,
                    "informationUri": "https://github.com/dadc/dadc",
                    "rules": [{"id": rid, "name": REGISTRY[rid].title,
                               "shortDescription": {"text": REGISTRY[rid].description},
                               "helpUri": REGISTRY[rid].source,
                               "defaultConfiguration": {"level": level[REGISTRY[rid].severity]}}
                              for rid in used],
                }},
                "results": [{
                    "ruleId": f.rule, "ruleIndex": used.index(f.rule), "level": level[f.severity],
                    "message": {"text": f.message},
                    "locations": [{"physicalLocation": {
                        "artifactLocation": {"uri": f.file},
                        "region": {"startLine": max(f.line, 1), "startColumn": max(f.column, 1)}}}],
                    "properties": {"pointer": f.pointer},
                } for r in results for f in r.findings],
            }],
        }, indent=2)


REPORTERS = {"text": TextReporter, "json": JsonReporter, "junit": JunitReporter, "sarif": SarifReporter}
