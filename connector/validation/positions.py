"""Where each value of a JSON text sits, and which object keys repeat.

``json.loads`` (C speed) decides validity; this scanner runs only when a finding needs a
line and column, so valid files never pay for it.
"""
from __future__ import annotations

import bisect
import json
import re
from dataclasses import dataclass, field

_WS = re.compile(r"[ \t\n\r]*")
_STRING = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"', re.S)  # unrolled: a 30 MB string in one pass
# json.loads also takes NaN and (-)Infinity, so the scanner must too
_SCALAR = re.compile(r"-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][-+]?\d+)?|-?Infinity|NaN|true|false|null")


def escape(token: str) -> str:
    return token.replace("~", "~0").replace("/", "~1")


def join(pointer: str, token: str | int) -> str:
    return f"{pointer}/{escape(str(token))}"


@dataclass
class PositionMap:
    text: str
    offsets: dict[str, int] = field(default_factory=dict)  # where each value starts
    ends: dict[str, int] = field(default_factory=dict)  # where each value ends
    keys: dict[str, int] = field(default_factory=dict)  # where each object member's key starts
    members: dict[str, list[str]] = field(default_factory=dict)  # an object's members, in order
    duplicates: list[tuple[str, int]] = field(default_factory=list)
    _line_starts: list[int] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._line_starts = [0] + [m.end() for m in re.finditer("\n", self.text)]
        self._value(_WS.match(self.text, 0).end(), "")

    def line_column(self, offset: int) -> tuple[int, int]:
        line = bisect.bisect_right(self._line_starts, offset)
        return line, offset - self._line_starts[line - 1] + 1

    def locate(self, pointer: str) -> tuple[int, int]:
        """1-based line and column of what pointer names (or its nearest located parent): an object
        member at its key, an array item at the item; cfn-lint places its matches so, and so do
        dadc's YAML positions: one convention whatever the file's syntax."""
        while pointer not in self.offsets and pointer:
            pointer = pointer.rsplit("/", 1)[0]
        return self.line_column(self.keys.get(pointer, self.offsets.get(pointer, 0)))

    def raw_string(self, pointer: str) -> str | None:
        start = self.offsets.get(pointer)
        if start is None or self.text[start] != '"':
            return None
        return _STRING.match(self.text, start).group(0)

    def _skip(self, i: int) -> int:
        return _WS.match(self.text, i).end()

    def _value(self, i: int, pointer: str) -> int:
        self.offsets[pointer] = i
        ch = self.text[i]
        if ch == "{":
            end = self._object(i + 1, pointer)
        elif ch == "[":
            end = self._array(i + 1, pointer)
        else:
            end = (_STRING if ch == '"' else _SCALAR).match(self.text, i).end()
        self.ends[pointer] = end
        return end

    def _object(self, i: int, pointer: str) -> int:
        seen: set[str] = set()
        self.members[pointer] = []
        i = self._skip(i)
        if self.text[i] == "}":
            return i + 1
        while True:
            m = _STRING.match(self.text, i)
            key = json.loads(m.group(0))
            child = join(pointer, key)
            if key in seen:
                self.duplicates.append((child, i))
            else:
                self.keys[child] = i
                self.members[pointer].append(child)
            seen.add(key)
            i = self._skip(self._skip(m.end()) + 1)  # past ':'
            i = self._skip(self._value(i, child))
            if self.text[i] == "}":
                return i + 1
            i = self._skip(i + 1)  # past ','

    def _array(self, i: int, pointer: str) -> int:
        i = self._skip(i)
        index = 0
        if self.text[i] == "]":
            return i + 1
        while True:
            i = self._skip(self._value(i, join(pointer, index)))
            index += 1
            if self.text[i] == "]":
                return i + 1
            i = self._skip(i + 1)


def raw_index(raw_literal: str, decoded_index: int) -> int:
    """Offset inside a raw JSON string literal of the character at decoded_index.

    Lets a finding about the third ARN inside ``"[\\"arn...\\"]"`` point at its column.
    """
    i, decoded = 1, 0  # skip the opening quote
    while i < len(raw_literal) - 1 and decoded < decoded_index:
        i += 6 if raw_literal.startswith("\\u", i) else 2 if raw_literal[i] == "\\" else 1
        decoded += 1
    return i
