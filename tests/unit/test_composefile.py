"""Compose files: hostile bytes are rejected quickly; what a file means is compose's `config`."""
from __future__ import annotations

import time

import pytest

from dadc.errors import ComposeFileError
from dadc.domain import composefile

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
    (b"services:\n  a: {image: x}\n---\n- b\n", "must be a YAML mapping in each of its documents"),
    (b"services:\n  web: !unknown x\n", "not valid YAML"),
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
    b"services:\n  a: {image: x}\n---\nservices:\n  b: {image: y}\n",  # compose v2 merges the documents
    b"services:\n  web:\n    image: a\n    ports: !reset []\n    environment: !override {A: '1'}\n",
    b"services:\n  web:\n    image: a\n    ports: !reset\n",
])
def test_what_compose_may_accept_passes_the_byte_check(raw: bytes) -> None:
    composefile.check(raw)


def test_what_only_newer_compose_releases_read_is_named() -> None:
    written = composefile.check(b"services:\n  web:\n    image: a\n    ports: !reset []\n---\nservices: {}\n")
    assert written.needs() == ["the !reset tag (compose 2.18.0 or later)",
                               "several YAML documents in one file (a compose v2 release from late 2023 or later; "
                               "never the v1 CLI)"]
    assert composefile.check(b"services:\n  web: {image: a}\n").needs() == []


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
    project = composefile.project(V1_CONFIG, set())  # the v1 CLI prints every service, with its profiles
    assert project.names == ("web", "many", "scaled", "built")  # debug is gated, off has no replica
    assert project.images == ("nginx:1",)  # built images are not pulled; duplicates once
    assert project.pull_services == ("web", "many", "scaled")
    assert {s.name: s.replicas for s in project.services}["many"] == 3
    assert composefile.project(V1_CONFIG, {"x", "debug"}).names[1] == "debug"
    # compose v2 printed only what its profiles enable: nothing is taken away again
    assert composefile.project(V1_CONFIG, None).names[1] == "debug"


@pytest.mark.parametrize(("env", "dotenv", "enabled"), [
    ({}, b"COMPOSE_PROFILES=front,back\n", {"front", "back"}),
    ({}, b"# a comment\nexport COMPOSE_PROFILES='front'\nTAG=2\n", {"front"}),
    ({"COMPOSE_PROFILES": "debug"}, b"COMPOSE_PROFILES=front\n", {"debug"}),  # the environment wins, as in v1
    ({"COMPOSE_PROFILES": ""}, b"COMPOSE_PROFILES=front\n", set()),
    ({}, None, set()),
    ({}, b"COMPOSE_PROFILES=*\n", {"*"}),  # v1 knows no wildcard: a profile named '*'
])
def test_the_v1_clis_profiles_come_from_the_environment_else_the_projects_env_file(
        env: dict[str, str], dotenv: bytes | None, enabled: set[str]) -> None:
    assert composefile.enabled_profiles(env, dotenv) == enabled


@pytest.mark.parametrize(("healthcheck", "gate", "stable", "words"), [
    ("{test: [CMD, 'true']}", 20, 10, "first healthcheck runs 30 s after it starts (Docker's default"),
    ("{test: [CMD, 'true'], interval: 15s}", 20, 10, "first healthcheck runs 15 s after it starts, and it must"),
    ("{test: [CMD, 'true'], interval: 2s}", 20, 10, None),
    ("{test: [CMD, 'true'], interval: 2s, start_period: 60s}", 20, 10, "failures do not count for its first 60 s"),
    ("{test: [CMD, 'true'], interval: 1m, start_period: 60s, start_interval: 1s}", 20, 10, "first 60 s"),
    ("{test: [CMD, 'true'], interval: 1m, start_period: 15s, start_interval: 1s}", 20, 10, None),
    ("{test: [NONE]}", 5, 10, None),
    ("{disable: true}", 5, 10, None),
])
def test_the_gate_is_warned_of_what_docker_healthchecks_cannot_show_in_time(
        healthcheck: str, gate: float, stable: float, words: str | None) -> None:
    project = composefile.project(f"services:\n  web:\n    image: a\n    healthcheck: {healthcheck}\n", None)
    warnings = project.slow_starts(gate, stable)
    if words is None:
        assert warnings == []
    else:
        assert len(warnings) == 1 and words in warnings[0], warnings


def test_without_a_built_service_pull_takes_no_names() -> None:
    assert composefile.project("services:\n  web: {image: a}\n", None).pull_services == ()


@pytest.mark.parametrize(("text", "words"), [
    ("", "compose printed no project"),
    ("name: x\n", "compose printed no project"),
    ("services: {}\n", "no service would run"),
    ("services:\n  debug: {image: a, profiles: [debug]}\n", "no service would run"),
])
def test_a_project_with_nothing_to_run_is_refused(text: str, words: str) -> None:
    with pytest.raises(ComposeFileError, match=words):
        composefile.project(text, set())


# --- every shape a hostile or broken compose file can take: a finding or a refusal, never a crash --
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

SCALARS = st.none() | st.booleans() | st.integers() | st.text(max_size=12)
COMPOSE_KEYS = st.sampled_from(["services", "web", "image", "volumes", "ports", "privileged", "cap_add", "pid",
                                "network_mode", "devices", "security_opt", "build", "healthcheck", "interval",
                                "start_period", "profiles", "deploy", "replicas", "depends_on", "condition",
                                "source", "type", ".", "..", "/", "/var/run/docker.sock:/s", ".:/code"])
SHAPES = st.recursive(SCALARS | COMPOSE_KEYS,
                      lambda c: st.lists(c, max_size=4) | st.dictionaries(COMPOSE_KEYS | st.text(max_size=6), c,
                                                                          max_size=5),
                      max_leaves=40)


SERVICE_KEYS = st.sampled_from(["image", "volumes", "ports", "privileged", "cap_add", "pid", "ipc", "network_mode",
                                "devices", "security_opt", "build", "healthcheck", "profiles", "deploy", "scale",
                                "depends_on", "restart"])
COMPOSE_SHAPED = st.fixed_dictionaries({"services": st.dictionaries(
    st.text(min_size=1, max_size=6), st.dictionaries(SERVICE_KEYS, SHAPES, max_size=6) | SHAPES, max_size=3)}) | SHAPES


@settings(max_examples=200, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(COMPOSE_SHAPED)
def test_validate_compose_ends_in_findings_for_any_shape(value: object) -> None:
    import tempfile
    from pathlib import Path

    import yaml

    from dadc.validation.compose_check import compose_result
    from dadc.domain.composefile import project
    from dadc.validation import rules_compose
    text = yaml.safe_dump(value)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "docker-compose.yml"
        path.write_text(text)
        result = compose_result(str(path), strict=False, cli=False)
    for f in result.findings:
        assert f.line >= 1 and f.column >= 1 and f.rule[0] in "EWI"
    # what compose would print for it, judged as the start judges it: a project or a refusal
    try:
        project(text, None)
    except ComposeFileError:
        pass
    # and a refusal located by whatever compose said of it
    for reason in (f"services.{k}.image must be a string" for k in (value if isinstance(value, dict) else {})):
        found = rules_compose.locate([rules_compose.REFUSED(rules_compose.pointer_of(str(reason)), "x")], text, "f")
        assert found[0].line >= 1


@pytest.mark.parametrize(("reason", "pointer"), [
    ("validating /x/c.yml: services.web.image must be a string", "/services/web/image"),
    ("services.web must be a mapping", "/services/web"),
    ("services must be a mapping", "/services"),
    ("non-string key in services: 5", "/services"),
    ("yaml: line 3: did not find expected key", ""),
])
def test_a_refusal_is_located_where_compose_points(reason: str, pointer: str) -> None:
    from dadc.validation import rules_compose
    assert rules_compose.pointer_of(reason) == pointer


def test_a_refusal_naming_what_the_file_does_not_write_stands_at_the_deepest_key_it_does() -> None:
    from dadc.validation import rules_compose
    text = "services:\n  my.svc:\n    image: a\n    ports: 7\n"
    refusal = rules_compose.REFUSED(rules_compose.pointer_of("services.my.svc.ports must be a list"), "x")
    assert (rules_compose.locate([refusal], text, "f")[0].line, refusal.pointer) == (1, "/services/my/svc/ports")
