"""Compose files: dadc's own safe check of the bytes, then the project as compose itself reads it.

What must be decided before any CLI runs is decided here, on the bytes: size, UTF-8, valid YAML
with no tags but compose's own (`!reset`, `!override`), no repeated keys, a bounded expansion of
aliases and merge keys. What the file *means* (merge keys, extends, include, profiles,
interpolation, format 1, several documents, compose's tags) is compose's call: its `config` output
is read into the project dadc checks against (services, images, replicas).
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import yaml

from dadc.errors import ComposeFileError

MAX_BYTES = 4 * 1024 * 1024
MAX_NODES = 100_000  # compose v2 caps alias/node visits at the same figure
_MERGE = "tag:yaml.org,2002:merge"


COMPOSE_TAGS = {"!reset": "2.18.0", "!override": "2.24.4"}  # compose's own YAML tags, and the release that knew them
# compose-go reads a stream of documents as files merged in order (compose-spec/compose-go#451, 2023)
SEVERAL_DOCUMENTS = "a compose v2 release from late 2023 or later; never the v1 CLI"


class _Loader(yaml.SafeLoader):
    """SafeLoader (no arbitrary tags) that rejects keys written twice in one mapping. Keys that a
    merge (`<<: *anchor`) brings in may be overridden, as YAML and compose allow. Compose's own
    tags are read as the value they carry (their meaning is compose's, in `config`)."""

    tags_seen: set[str]

    def construct_mapping(self, node, deep=False):  # type: ignore[no-untyped-def]
        seen: dict[object, int] = {}
        for key_node, _ in node.value:
            if key_node.tag == _MERGE:
                continue
            key = self.construct_object(key_node, deep=True)
            if isinstance(key, (list, dict)):
                raise ComposeFileError(f"line {key_node.start_mark.line + 1}: a mapping key must be a scalar")
            if key in seen:
                raise ComposeFileError(f"line {key_node.start_mark.line + 1}: mapping key {key!r} already "
                                       f"defined at line {seen[key]}")
            seen[key] = key_node.start_mark.line + 1
        return super().construct_mapping(node, deep=True)


def _compose_tag(loader: _Loader, node: yaml.Node) -> Any:
    loader.tags_seen.add(node.tag)
    if isinstance(node, yaml.MappingNode):
        return loader.construct_mapping(node, deep=True)
    if isinstance(node, yaml.SequenceNode):
        return loader.construct_sequence(node, deep=True)
    return loader.construct_scalar(node) or None  # type: ignore[arg-type]


for _tag in COMPOSE_TAGS:
    _Loader.add_constructor(_tag, _compose_tag)


def _expanded_size(node: yaml.Node, memo: dict[int, int]) -> int:
    """Nodes a consumer that expands aliases would visit; shared nodes are counted once here."""
    if id(node) not in memo:
        if isinstance(node, yaml.MappingNode):
            children = [n for pair in node.value for n in pair]
        elif isinstance(node, yaml.SequenceNode):
            children = node.value
        else:
            children = []
        memo[id(node)] = 1 + sum(_expanded_size(c, memo) for c in children)
    return memo[id(node)]


@dataclass(frozen=True)
class Written:
    """The file as written: its documents (compose merges several in order), and which of compose's
    own tags it uses (a compose release older than the one that knew them refuses the file)."""

    documents: tuple[Any, ...]
    tags: frozenset[str] = frozenset()

    @property
    def first(self) -> Any:
        return self.documents[0] if self.documents else None

    def needs(self) -> list[str]:
        """What a compose release must know to read this file, with the release that first did."""
        out = [f"the {t} tag (compose {COMPOSE_TAGS[t]} or later)" for t in sorted(self.tags)]
        if len(self.documents) > 1:
            out.append(f"several YAML documents in one file ({SEVERAL_DOCUMENTS})")
        return out


def read(raw: bytes | str) -> Written:
    """Every YAML document, safely: bounded in size, nesting and alias expansion."""
    if len(raw) > MAX_BYTES:
        raise ComposeFileError(f"the compose file is larger than {MAX_BYTES} bytes")
    try:
        text = raw.decode("utf-8") if isinstance(raw, bytes) else raw
    except UnicodeDecodeError as exc:
        raise ComposeFileError(f"the compose file is not UTF-8 (byte {exc.start})") from None
    loader = _Loader(text)
    loader.tags_seen = set()
    documents, memo, size = [], {}, 0  # type: ignore[var-annotated]
    try:
        while loader.check_node():
            node = loader.get_node()
            if node is None:
                continue
            size += _expanded_size(node, memo)
            if size > MAX_NODES:
                raise ComposeFileError(f"the compose file expands to more than {MAX_NODES} nodes "
                                       "through aliases (an alias bomb?)")
            documents.append(loader.construct_document(node))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
        raise ComposeFileError(f"the compose file is not valid YAML: {exc}".replace("\n", " "),
                               line=mark.line + 1 if mark else None, column=mark.column + 1 if mark else None) from None
    except RecursionError:
        raise ComposeFileError("the compose file is nested too deeply") from None
    finally:
        loader.dispose()
    return Written(tuple(documents), frozenset(loader.tags_seen))


def load(raw: bytes | str) -> Any:
    """One YAML document (what compose's `config` prints, a file dadc reads as written): the first
    of a stream of several, which compose merges with the rest."""
    return read(raw).first


def check(raw: bytes) -> Written:
    """dadc's own check, before any CLI sees the file: each document a mapping."""
    written = read(raw)
    if not written.documents or not all(isinstance(d, dict) for d in written.documents):
        raise ComposeFileError("the compose file must be a YAML mapping" +
                               (" in each of its documents" if len(written.documents) > 1 else ""))
    return written


@dataclass(frozen=True)
class Service:
    name: str
    image: str | None
    built: bool  # it has build: compose builds its image at up; nothing to pull
    replicas: int


@dataclass(frozen=True)
class Healthcheck:
    """A service's healthcheck as compose printed it, in seconds (Docker's defaults where unset)."""

    service: str
    interval: float = 30.0
    start_period: float = 0.0
    start_interval: float | None = None  # Docker Engine 25+: the pace of checks during start_period

    @property
    def earliest(self) -> float:
        """The soonest the container can be healthy: Docker runs the first check one interval after
        the start (start_interval, during a start_period, on Docker Engine 25 or later)."""
        if self.start_interval is not None and self.start_period > 0:
            return min(self.interval, self.start_interval)
        return self.interval


DEFAULT_INTERVAL = 30.0  # Docker's, for a healthcheck that sets none


@dataclass(frozen=True)
class ComposeProject:
    services: tuple[Service, ...] = field(default_factory=tuple)
    one_shots: frozenset[str] = frozenset()  # services others wait on with service_completed_successfully
    healthchecks: tuple[Healthcheck, ...] = ()
    config: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)  # as compose printed it (the active services)

    @property
    def active(self) -> set[str]:
        return {s.name for s in self.services}

    def slow_starts(self, gate: float, stable: float = 0.0) -> list[str]:
        """What the gate cannot see in time, as Docker runs healthchecks: a container is healthy no
        sooner than its first check (one interval after it starts; 30 s by default), and then must
        stay so for the stability period. A start_period only stops failures from counting: a check
        that passes during it marks the container healthy at once."""
        out = []
        for h in self.healthchecks:
            if h.earliest + stable > gate:
                default = " (Docker's default: the file sets none)" if h.interval == DEFAULT_INTERVAL else ""
                out.append(f"service {h.service}: its first healthcheck runs {h.earliest:g} s after it starts"
                           f"{default}, and it must then stay healthy {stable:g} s: the {gate:g} s health gate ends "
                           f"first; raise --health-gate or lower the healthcheck's interval")
            elif h.start_period > gate:
                out.append(f"service {h.service}: its healthcheck's failures do not count for its first "
                           f"{h.start_period:g} s (start_period); if it needs that long to become healthy, the "
                           f"{gate:g} s health gate ends first")
        return out

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(s.name for s in self.services if s.replicas > 0)

    @property
    def images(self) -> tuple[str, ...]:
        """Images that come from a registry (so pull, logins and the offline check concern them)."""
        return tuple(dict.fromkeys(s.image for s in self.services if s.image and not s.built and s.replicas > 0))

    @property
    def pull_services(self) -> tuple[str, ...]:
        """Empty: pull them all (the documented `pull`); else only these (others are built)."""
        if not any(s.built for s in self.services):
            return ()
        return tuple(s.name for s in self.services if s.image and not s.built and s.replicas > 0)


def _replicas(spec: dict[str, Any]) -> int:
    deploy = spec.get("deploy") if isinstance(spec.get("deploy"), dict) else {}
    value = deploy.get("replicas", spec.get("scale", 1))
    try:
        return int(value)
    except (TypeError, ValueError):
        return 1


def _active(spec: dict[str, Any], profiles: set[str] | None) -> bool:
    """compose v2 leaves inactive services out of `config` (profiles=None: take what it printed);
    v1 prints them all, each with its profiles: it runs one when a profile of it is enabled."""
    wanted = spec.get("profiles")
    return profiles is None or not wanted or bool(set(map(str, wanted)) & profiles)


def _depends(spec: dict[str, Any]) -> dict[str, Any]:
    value = spec.get("depends_on")
    return value if isinstance(value, dict) else {}


_DURATION = re.compile(r"(\d+(?:\.\d+)?)(h|ms|us|µs|ns|m|s)")
_UNITS = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 1e-3, "us": 1e-6, "µs": 1e-6, "ns": 1e-9}


def _seconds(value: Any) -> float:
    """A compose duration (Go's: 1m30s, 500ms; compose v1 may print a number of nanoseconds)."""
    if isinstance(value, (int, float)):
        return float(value) / 1e9
    text = str(value).strip()
    return sum(float(n) * _UNITS[u] for n, u in _DURATION.findall(text))


def _healthcheck(name: str, spec: Any) -> Healthcheck | None:
    if not isinstance(spec, dict) or spec.get("disable") is True:
        return None
    test = spec.get("test")
    if isinstance(test, list) and test[:1] == ["NONE"]:
        return None
    interval = _seconds(spec["interval"]) if spec.get("interval") is not None else DEFAULT_INTERVAL
    start = spec.get("start_interval")
    return Healthcheck(name, interval or DEFAULT_INTERVAL, _seconds(spec.get("start_period") or 0),
                       _seconds(start) if start is not None else None)


def project(config_output: str, profiles: set[str] | None = None) -> ComposeProject:
    """The project as compose's `config` printed it; ComposeFileError if it printed none. profiles:
    the enabled ones, for the v1 CLI, whose `config` keeps inactive services (None: compose v2,
    which printed the active ones only)."""
    doc = load(config_output) if config_output.strip() else None
    services = doc.get("services") if isinstance(doc, dict) else None
    if not isinstance(services, dict):
        raise ComposeFileError("compose printed no project")
    specs = {str(name): spec for name, spec in services.items() if isinstance(spec, dict) and _active(spec, profiles)}
    found = tuple(Service(name, str(spec["image"]) if spec.get("image") else None, "build" in spec, _replicas(spec))
                  for name, spec in specs.items())
    one_shots = frozenset(str(dep) for spec in specs.values() for dep, how in _depends(spec).items()
                          if isinstance(how, dict) and how.get("condition") == "service_completed_successfully")
    checks = tuple(h for name, spec in specs.items() if (h := _healthcheck(name, spec.get("healthcheck"))))
    result = ComposeProject(found, one_shots, checks, {**doc, "services": specs})
    if not result.names:
        raise ComposeFileError("no service would run (there are none, or every one is gated by a profile "
                               "that is not enabled)")
    return result


def enabled_profiles(env: dict[str, str] | None, dotenv: bytes | None) -> set[str]:
    """The profiles the v1 CLI enables: COMPOSE_PROFILES from the environment it gets, else from the
    project directory's .env, read as v1 reads it (python-dotenv)."""
    value = (env or {}).get("COMPOSE_PROFILES")
    if value is None and dotenv:
        import io

        from dotenv import dotenv_values
        value = dotenv_values(stream=io.StringIO(dotenv.decode("utf-8-sig", "replace"))).get("COMPOSE_PROFILES")
    return {p for p in (value or "").split(",") if p}
