"""Reading a file into JSON, with the findings a text or its syntax can produce."""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from dadc.validation.findings import Finding, rule
from dadc.validation.positions import PositionMap

SYNTAX = rule("E0001", "json-syntax", "The file is not UTF-8 JSON, nor a CloudFormation template in YAML; nothing else "
              "can be checked (exit 2).")
DUPLICATE_KEY = rule(
    "E0002", "duplicate-key",
    "An object repeats a key. JSON parsers keep only one of them, silently; the service may keep the other.",
)


class _Duplicate(Exception):
    pass


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result = dict(pairs)
    if len(result) != len(pairs):
        raise _Duplicate
    return result


@dataclass
class Document:
    name: str
    text: str
    data: Any = None
    findings: list[Finding] = field(default_factory=list)
    fatal: bool = False
    _positions: Any = None  # PositionMap (JSON) or cfnyaml.YamlPositions (a YAML template)

    @property
    def template(self) -> bool:
        """A CloudFormation (or `cdk synth`) template: its connectors are in its resources."""
        from dadc.validation.template import is_template
        return is_template(self.data)

    @property
    def positions(self) -> Any:
        if self._positions is None:
            self._positions = PositionMap(self.text)
        return self._positions


def _syntax_error(doc: Document, message: str, line: int, column: int) -> Document:
    doc.findings.append(Finding(SYNTAX.id, SYNTAX.severity, "", message, line, column, doc.name))
    doc.fatal = True
    return doc


def load(name: str, raw: bytes) -> Document:
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        return _syntax_error(Document(name, ""), f"not UTF-8: {exc.reason} at byte {exc.start}", 1, 1)
    doc = Document(name, text)
    try:
        doc.data = json.loads(text, object_pairs_hook=_no_duplicates)
    except _Duplicate:
        doc.data = json.loads(text)
        for pointer, offset in doc.positions.duplicates:
            key = pointer.rsplit("/", 1)[1].replace("~1", "/").replace("~0", "~")
            doc.findings.append(DUPLICATE_KEY(pointer, f"key {key!r} is repeated in this object",
                                              offset=offset))
    except json.JSONDecodeError as exc:
        return _yaml_template(doc) or _yaml_not_template(doc) or \
            _syntax_error(doc, f"invalid JSON: {exc.msg}", exc.lineno, exc.colno)
    except RecursionError:
        return _syntax_error(doc, "invalid JSON: nested too deeply", 1, 1)
    return doc


def _yaml_not_template(doc: Document) -> Document | None:
    """YAML that is no CloudFormation template: said so (YAML is read for templates only; a
    definition, a CLI input or a Parameters object is JSON), not called invalid JSON."""
    if doc.text.lstrip()[:1] in ("{", "["):
        return None  # JSON with a mistake (YAML may read it): the JSON error says where
    import yaml
    try:
        value = yaml.safe_load(doc.text)
    except (yaml.YAMLError, RecursionError, ValueError):
        return None
    if not isinstance(value, (dict, list)):
        return None
    return _syntax_error(doc, "this is YAML but no CloudFormation template (it has no Resources): dadc reads YAML "
                              "for templates only; a definition, a CLI input or a Parameters object is JSON", 1, 1)


def _yaml_template(doc: Document) -> Document | None:
    """Not JSON: a CloudFormation template written in YAML (short-form intrinsic tags and all), or
    None (the JSON error stands: definitions are JSON)."""
    if "Resources" not in doc.text:
        return None
    from dadc.validation import cfnyaml
    from dadc.validation.template import is_template
    try:
        data, positions = cfnyaml.load(doc.text)
    except cfnyaml.NotYaml as exc:
        if "\nResources:" in "\n" + doc.text or doc.text.lstrip().startswith("AWSTemplateFormatVersion"):
            return _syntax_error(doc, f"a YAML template: {exc}", exc.line, exc.column)
        return None
    if not is_template(data):
        return None
    doc.data, doc._positions = data, positions
    for pointer, offset in positions.duplicates:
        key = pointer.rsplit("/", 1)[1].replace("~1", "/").replace("~0", "~")
        doc.findings.append(DUPLICATE_KEY(pointer, f"key {key!r} is repeated in this mapping", offset=offset))
    return doc
