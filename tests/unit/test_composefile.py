"""Compose files: hostile bytes are rejected quickly; what a file means is compose's `config`."""
from __future__ import annotations

import time

import pytest

from connector.errors import ComposeFileError
from connector.runtime import composefile

BOMB = (b"services:\n  web: {image: x}\nx-a: &a [1, 2]\n"
        + b"".join(b"x-%d: &l%d [%s]\n" % (i, i, b",".join([b"*a" if i == 0 else b"*l%d" % (i - 1)] * 9))
                   for i in range(8)))
MERGE_BOMB = (b"x-0: &m0 {a: 1, b: 2, c: 3, d: 4, e: 5, f: 6, g: 7, h: 8}\n"
              + b"".join(b"x-%d: &m%d [%s]\n" % (i, i, b",".join([b"*m%d" % (i - 1)] * 12)) for i in range(1, 7))
              + b"services:\n  web:\n    image: x\n    <<: *m6\n")


@pytest.mark.parametrize(("raw", "words"), [
    (BOMB, "alias bomb"),
    (MERGE_BOMB, "alias bomb"),
    (b"[" * 3000 + b"]" * 3000, "nested too deeply"),
    (b"services:\n  web:\n    image: a\n    image: b\n", "line 4: mapping key 'image' already defined at line 3"),
    (b"\xff\xfeservices", "not UTF-8"),
    (b"- a\n- b\n", "must be a YAML mapping"),
    (b"services:\n  a: {image: x}\n---\nservices:\n  b: {image: y}\n", "more than one YAML document"),
    (b"services:\n  web: !!python/object/apply:os.system ['id']\n", "not valid YAML"),
    (b"x" * (composefile.MAX_BYTES + 1), "larger than"),
    (b"", "must be a YAML mapping"),
])
def test_hostile_or_broken_bytes_are_rejected_before_any_cli(raw: bytes, words: str) -> None:
    started = time.monotonic()
    with pytest.raises(ComposeFileError) as info:
        composefile.check(raw)
    assert words in str(info.value)
    assert time.monotonic() - started < 5


@pytest.mark.parametrize("raw", [
    b"version: '3.3'\nservices:\n  web:\n    image: nginx:1\n    init: yes\n",
    b"x-common: &c\n  image: a\n  init: true\nservices:\n  web:\n    <<: *c\n    image: b\n",  # merge, overridden
    b"services:\n  web:\n    extends: {service: base}\n  base: {image: a}\n",
    b"web:\n  image: a\n",  # format 1: compose decides (the v1 CLI accepts it)
    b"services: {}\n",  # compose decides whether it is a project
])
def test_what_compose_may_accept_passes_the_byte_check(raw: bytes) -> None:
    composefile.check(raw)


V1_CONFIG = """services:
  web: {image: nginx:1}
  debug: {image: busybox:1, profiles: [debug]}
  many: {image: nginx:1, deploy: {replicas: 3}}
  scaled: {image: nginx:1, scale: 2}
  built: {build: {context: ./ctx}, image: local/built:1}
  off: {image: nginx:1, deploy: {replicas: 0}}
version: '3.9'
"""


def test_the_project_is_what_compose_printed() -> None:
    project = composefile.project(V1_CONFIG, {})
    assert project.names == ("web", "many", "scaled", "built")  # debug is gated, off has no replica
    assert project.images == ("nginx:1",)  # built images are not pulled; duplicates once
    assert project.pull_services == ("web", "many", "scaled")
    assert {s.name: s.replicas for s in project.services}["many"] == 3
    assert composefile.project(V1_CONFIG, {"COMPOSE_PROFILES": "x,debug"}).names[1] == "debug"


def test_without_a_built_service_pull_takes_no_names() -> None:
    assert composefile.project("services:\n  web: {image: a}\n", {}).pull_services == ()


@pytest.mark.parametrize(("text", "words"), [
    ("", "compose printed no project"),
    ("name: x\n", "compose printed no project"),
    ("services: {}\n", "no service would run"),
    ("services:\n  debug: {image: a, profiles: [debug]}\n", "no service would run"),
])
def test_a_project_with_nothing_to_run_is_refused(text: str, words: str) -> None:
    with pytest.raises(ComposeFileError, match=words):
        composefile.project(text, {})
