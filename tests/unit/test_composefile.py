"""Hostile and broken compose files are rejected quickly, with a clear message."""
from __future__ import annotations

import time

import pytest

from connector.errors import ComposeFileError
from connector.runtime import composefile

BOMB = (b"services:\n  web: {image: x}\nx-a: &a [1, 2]\n"
        + b"".join(b"x-%d: &l%d [%s]\n" % (i, i, b",".join([b"*a" if i == 0 else b"*l%d" % (i - 1)] * 9))
                   for i in range(8)))


@pytest.mark.parametrize(("raw", "words"), [
    (BOMB, "alias bomb"),
    (b"[" * 3000 + b"]" * 3000, "nested too deeply"),
    (b"services:\n  web:\n    image: a\n    image: b\n", "line 4: mapping key 'image' already defined at line 3"),
    (b"\xff\xfeservices", "not UTF-8"),
    (b"- a\n- b\n", "must be a YAML mapping"),
    (b"services:\n  a: {image: x}\n---\nservices:\n  b: {image: y}\n", "more than one YAML document"),
    (b"services:\n  web: !!python/object/apply:os.system ['id']\n", "not valid YAML"),
    (b"services: {}\n", "no services"),
    (b"version: '3'\n", "no services"),
    (b"services:\n  web: {command: x}\n", "neither image nor build"),
    (b"x" * (composefile.MAX_BYTES + 1), "larger than"),
    (b"", "must be a YAML mapping"),
])
def test_rejected(raw: bytes, words: str) -> None:
    started = time.monotonic()
    with pytest.raises(ComposeFileError) as info:
        composefile.parse(raw)
    assert words in str(info.value)
    assert time.monotonic() - started < 5


def test_accepts_compose_v1_and_yaml_11_booleans() -> None:
    project = composefile.parse(b"version: '3.3'\nservices:\n  web:\n    image: nginx:1\n    init: yes\n"
                                b"  db:\n    build: ./db\n")
    assert project.services == ("web", "db") and project.images == ("nginx:1",)
