"""Compose files: dadc's own safe check of the bytes, then the project as compose itself reads it.

What must be decided before any CLI runs is decided here, on the bytes: size, UTF-8, one YAML
document, no tags, no repeated keys, a bounded expansion of aliases and merge keys. What the file
*means* (merge keys, extends, include, profiles, interpolation, format 1) is compose's call: its
`config` output is read into the project dadc checks against (services, images, replicas).
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from typing import Any

import yaml

from connector.errors import ComposeFileError

MAX_BYTES = 4 * 1024 * 1024
MAX_NODES = 100_000  # compose v2 caps alias/node visits at the same figure
_MERGE = "tag:yaml.org,2002:merge"


class _Loader(yaml.SafeLoader):
    """SafeLoader (no arbitrary tags) that rejects keys written twice in one mapping. Keys that a
    merge (`<<: *anchor`) brings in may be overridden, as YAML and compose allow."""

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


def load(raw: bytes | str) -> Any:
    """One YAML document, safely: bounded in size, nesting and alias expansion."""
    if len(raw) > MAX_BYTES:
        raise ComposeFileError(f"the compose file is larger than {MAX_BYTES} bytes")
    try:
        text = raw.decode("utf-8") if isinstance(raw, bytes) else raw
    except UnicodeDecodeError as exc:
        raise ComposeFileError(f"the compose file is not UTF-8 (byte {exc.start})") from None
    loader = _Loader(text)
    try:
        node = loader.get_node() if loader.check_node() else None
        if loader.check_node():
            raise ComposeFileError("the compose file holds more than one YAML document")
        if node is not None and _expanded_size(node, {}) > MAX_NODES:
            raise ComposeFileError(f"the compose file expands to more than {MAX_NODES} nodes "
                                   "through aliases (an alias bomb?)")
        return loader.construct_document(node) if node is not None else None
    except yaml.YAMLError as exc:
        raise ComposeFileError(f"the compose file is not valid YAML: {exc}".replace("\n", " ")) from None
    except RecursionError:
        raise ComposeFileError("the compose file is nested too deeply") from None
    finally:
        loader.dispose()


def check(raw: bytes) -> None:
    """dadc's own check, before any CLI sees the file."""
    if not isinstance(load(raw), dict):
        raise ComposeFileError("the compose file must be a YAML mapping")


@dataclass(frozen=True)
class Service:
    name: str
    image: str | None
    built: bool  # it has build: compose builds its image at up; nothing to pull
    replicas: int


@dataclass(frozen=True)
class ComposeProject:
    services: tuple[Service, ...] = field(default_factory=tuple)
    risky: tuple[Any, ...] = ()  # validation findings (rules_compose): settings that hand a container the host
    one_shots: frozenset[str] = frozenset()  # services others wait on with service_completed_successfully
    start_periods: tuple[tuple[str, float], ...] = ()  # each healthcheck's start_period, in seconds

    def slow_starts(self, gate: float) -> list[str]:
        """Services whose healthcheck's start_period is longer than the gate: it will fail them."""
        return [f"service {name}: its healthcheck's start_period ({period:g} s) is longer than the health gate "
                f"({gate:g} s)" for name, period in self.start_periods if period > gate]

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


def _active(spec: dict[str, Any], profiles: set[str]) -> bool:
    """A service gated by profiles runs only when one of them is enabled (COMPOSE_PROFILES).
    compose v2 leaves inactive services out of `config`; v1 keeps them, marked."""
    wanted = spec.get("profiles")
    return not wanted or bool(set(map(str, wanted)) & profiles)


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


def project(config_output: str, environ: dict[str, str] | None = None) -> ComposeProject:
    """The project as compose's `config` printed it; ComposeFileError if it printed none."""
    doc = load(config_output) if config_output.strip() else None
    services = doc.get("services") if isinstance(doc, dict) else None
    if not isinstance(services, dict):
        raise ComposeFileError("compose printed no project")
    enabled = {p for p in (environ or os.environ).get("COMPOSE_PROFILES", "").split(",") if p}
    found = tuple(Service(str(name), str(spec["image"]) if spec.get("image") else None, "build" in spec,
                          _replicas(spec))
                  for name, spec in services.items() if isinstance(spec, dict) and _active(spec, enabled))
    from connector.validation import rules_compose
    specs = {name: spec for name, spec in services.items() if isinstance(spec, dict)}
    one_shots = frozenset(str(dep) for spec in specs.values() for dep, how in _depends(spec).items()
                          if isinstance(how, dict) and how.get("condition") == "service_completed_successfully")
    periods = tuple((str(name), _seconds(spec["healthcheck"].get("start_period")))
                    for name, spec in specs.items() if isinstance(spec.get("healthcheck"), dict)
                    and spec["healthcheck"].get("start_period") is not None)
    result = ComposeProject(found, tuple(rules_compose.check(doc)), one_shots, periods)
    if not result.names:
        raise ComposeFileError("no service would run (there are none, or every one is gated by a profile "
                               "that is not enabled)")
    return result
