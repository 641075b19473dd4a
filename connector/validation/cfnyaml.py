"""CloudFormation YAML: the short-form intrinsic tags, and where each value sits.

libyaml (PyYAML's C loader, in the PyPI wheels) composes the node tree with marks; this module turns
it into the JSON form of the template (`!Sub x` becomes {"Fn::Sub": x}, `!GetAtt a.b` becomes
{"Fn::GetAtt": ["a", "b"]}) and records, for every JSON pointer, the line and column of its key
(a mapping member: where cfn-lint places its matches too) or of the value itself (an array item,
the document), and for strings where their characters start.
"""
from __future__ import annotations

import bisect
import re
from dataclasses import dataclass, field
from typing import Any

import yaml

from dadc.validation.positions import join

try:  # the C loader is ~15x faster on a large template; the pure one is the fallback
    from yaml import CSafeLoader as _Loader
except ImportError:  # pragma: no cover - PyYAML without libyaml
    from yaml import SafeLoader as _Loader  # type: ignore[assignment]

SHORT = {"Ref": "Ref", "Condition": "Condition"}
FUNCTIONS = ("Sub", "GetAtt", "Join", "If", "Select", "Split", "FindInMap", "ImportValue", "Base64", "Cidr",
             "GetAZs", "Equals", "And", "Or", "Not", "Length", "ToJsonString")
_constructor = yaml.constructor.SafeConstructor()


class NotYaml(ValueError):
    """The text is not one YAML document (the message says where)."""

    def __init__(self, message: str, line: int, column: int) -> None:
        super().__init__(message)
        self.line, self.column = line, column


@dataclass
class StringSpan:
    """Where a string scalar's characters are: its first line and column, and for a literal block
    (|) the indentation of every line (a JSON text inside a template is often written so)."""

    line: int
    column: int
    block_indent: int | None = None


@dataclass
class YamlPositions:
    text: str
    places: dict[str, tuple[int, int]] = field(default_factory=dict)
    strings: dict[str, StringSpan] = field(default_factory=dict)
    spans: dict[str, tuple[int, int]] = field(default_factory=dict)  # a scalar's text, as offsets
    members: dict[str, tuple[int, int]] = field(default_factory=dict)  # a block mapping member's whole lines
    duplicates: list[tuple[str, int]] = field(default_factory=list)
    _line_starts: list[int] = field(default_factory=list)

    def locate(self, pointer: str) -> tuple[int, int]:
        while pointer not in self.places and pointer:
            pointer = pointer.rsplit("/", 1)[0]
        return self.places.get(pointer, (1, 1))

    def line_column(self, offset: int) -> tuple[int, int]:
        if not self._line_starts:
            self._line_starts = [0] + [m.end() for m in re.finditer("\n", self.text)]
        line = bisect.bisect_right(self._line_starts, offset)
        return line, offset - self._line_starts[line - 1] + 1

    def raw_string(self, pointer: str) -> None:
        return None  # no JSON string literal to index into: findings fall back to the value

    def inside(self, pointer: str, line: int, column: int) -> tuple[int, int]:
        """A place inside the string at pointer (1-based line and column within the string)."""
        span = self.strings.get(pointer)
        if span is None:
            return self.locate(pointer)
        if span.block_indent is not None:
            return span.line + line - 1, span.block_indent + column
        return (span.line, span.column + column) if line == 1 else (span.line + line - 1, column)


def _intrinsic(node: yaml.Node) -> str | None:
    tag = node.tag[1:] if node.tag.startswith("!") and not node.tag.startswith("!!") else None
    if tag is None:
        return None
    if tag in SHORT:
        return SHORT[tag]
    return f"Fn::{tag}" if tag in FUNCTIONS else None


class _Builder:
    def __init__(self, positions: YamlPositions) -> None:
        self.positions = positions

    def value(self, node: yaml.Node, pointer: str) -> Any:
        name = _intrinsic(node)
        if name is not None:
            inner = self._plain(node, join(pointer, name))
            if name == "Fn::GetAtt" and isinstance(inner, str):
                inner = inner.split(".", 1)
            return {name: inner}
        if node.tag.startswith("!") and not node.tag.startswith("!!") and not node.tag.startswith("tag:"):
            mark = node.start_mark
            raise NotYaml(f"unknown tag {node.tag}", mark.line + 1, mark.column + 1)
        return self._plain(node, pointer)

    def _plain(self, node: yaml.Node, pointer: str) -> Any:
        if isinstance(node, yaml.MappingNode):
            out: dict[str, Any] = {}
            for key_node, value_node in node.value:
                if key_node.tag == "tag:yaml.org,2002:merge":
                    raise NotYaml("merge keys (<<) are not CloudFormation", key_node.start_mark.line + 1,
                                  key_node.start_mark.column + 1)
                key = str(key_node.value) if isinstance(key_node, yaml.ScalarNode) else str(key_node)
                child = join(pointer, key)
                if key in out:
                    self.positions.duplicates.append((child, key_node.start_mark.index))
                    continue
                self.positions.places[child] = (key_node.start_mark.line + 1, key_node.start_mark.column + 1)
                out[key] = self.value(value_node, child)
                if not node.flow_style:
                    self.positions.members[child] = self._lines(key_node.start_mark.index, value_node.end_mark.index)
            return out
        if isinstance(node, yaml.SequenceNode):
            items = []
            for index, item in enumerate(node.value):
                child = join(pointer, index)
                self.positions.places[child] = (item.start_mark.line + 1, item.start_mark.column + 1)
                items.append(self.value(item, child))
            return items
        if node.tag.startswith("!"):  # a short-form tag's own scalar: a string
            self._string(node, pointer)
            return node.value
        value = _constructor.construct_object(node, deep=True)
        if isinstance(value, str):
            self._string(node, pointer)
        elif not isinstance(value, (int, float, bool)) and value is not None:
            value = str(value)  # a date or a timestamp: CloudFormation reads the text
        return value

    def _lines(self, start: int, end: int) -> tuple[int, int]:
        """From the start of start's line to past end's line (its newline included)."""
        text = self.positions.text
        first = text.rfind("\n", 0, start) + 1
        if end > 0 and text[end - 1] == "\n":
            return first, end
        stop = text.find("\n", end)
        return first, len(text) if stop < 0 else stop + 1

    def _string(self, node: yaml.ScalarNode, pointer: str) -> None:
        self.positions.spans[pointer] = (node.start_mark.index, node.end_mark.index)
        mark = node.start_mark
        if node.style == "|":
            indent = None
            for line in self.positions.text[node.start_mark.index:node.end_mark.index].splitlines()[1:]:
                if line.strip():
                    indent = len(line) - len(line.lstrip(" "))
                    break
            self.positions.strings[pointer] = StringSpan(mark.line + 2, mark.column + 1, indent)
        else:
            quoted = 1 if node.style in ("'", '"') else 0
            self.positions.strings[pointer] = StringSpan(mark.line + 1, mark.column + quoted)


def load(text: str) -> tuple[Any, YamlPositions]:
    """The template as JSON data, and its positions; NotYaml for a text that is not one document."""
    positions = YamlPositions(text)
    try:
        nodes = list(yaml.compose_all(text, Loader=_Loader))
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, column = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        raise NotYaml(f"invalid YAML: {exc.problem or exc}", line, column) from None
    except (yaml.YAMLError, RecursionError) as exc:
        raise NotYaml(f"invalid YAML: {exc}", 1, 1) from None
    if len(nodes) != 1:
        raise NotYaml("a template is one YAML document", 1, 1)
    positions.places[""] = (nodes[0].start_mark.line + 1, nodes[0].start_mark.column + 1)
    return _Builder(positions).value(nodes[0], ""), positions
