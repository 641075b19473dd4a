"""Edits to a JSON text that keep everything else as it was, byte for byte: replace a value,
remove object members (with their commas and the whitespace that belonged to them)."""
from __future__ import annotations

from dataclasses import dataclass

from dadc.validation.positions import PositionMap


@dataclass(frozen=True)
class Edit:
    start: int
    end: int
    text: str


def replace_value(positions: PositionMap, pointer: str, literal: str) -> Edit:
    """The value at pointer becomes literal (already JSON)."""
    return Edit(positions.offsets[pointer], positions.ends[pointer], literal)


def remove_members(positions: PositionMap, obj: str, removed: set[str]) -> list[Edit]:
    """Remove members (by pointer) of the object at obj. Each run of removed members takes the
    separator after it (or, at the end of the object, the one before it), so what remains is laid
    out as before: `{"a": 1, "b": 2}` less b is `{"a": 1}`, one member a line stays one a line."""
    members = positions.members[obj]
    keys, ends = [positions.keys[m] for m in members], [positions.ends[m] for m in members]
    edits, i = [], 0
    while i < len(members):
        if members[i] not in removed:
            i += 1
            continue
        j = i
        while j + 1 < len(members) and members[j + 1] in removed:
            j += 1
        if j + 1 < len(members):
            edits.append(Edit(keys[i], keys[j + 1], ""))  # up to the next kept member's key
        elif i > 0:
            edits.append(Edit(ends[i - 1], ends[j], ""))  # from the last kept member's end
        else:
            edits.append(Edit(keys[i], ends[j], ""))  # every member goes
        i = j + 1
    return edits


def apply(text: str, edits: list[Edit]) -> str:
    """Apply non-overlapping edits (from the end, so earlier offsets stay valid)."""
    out = text
    last = len(text) + 1
    for edit in sorted(edits, key=lambda e: e.start, reverse=True):
        if edit.end > last:
            raise ValueError("overlapping edits")
        out = out[:edit.start] + edit.text + out[edit.end:]
        last = edit.start
    return out
