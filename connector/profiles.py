"""Version profiles: each version is an explicit, registered object built from versions/vN.json."""
from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from functools import lru_cache
from typing import Any

from dadc import steps
from dadc.data import data_dir, load_json
from dadc.errors import UnknownVersion

COMMANDS = ("fetch", "login", "pull", "down", "up")  # what a version's sequence may name


@dataclass(frozen=True)
class Parameter:
    name: str
    since: int
    required: bool
    kind: str
    description: str
    documented_pattern: str
    pattern: str | None = None
    default: str | None = None
    element_pattern: str | None = None
    maximum: int | None = None  # for a number written as a string: the largest value allowed
    changes: dict[str, dict[str, Any]] = field(default_factory=dict, hash=False, compare=False)

    def matches(self, value: str, *, ignore_case: bool = False) -> bool:
        if self.pattern is None:
            return True
        return re.fullmatch(self.pattern, value, re.IGNORECASE if ignore_case else 0) is not None

    def at(self, version: int) -> "Parameter":
        """The parameter as `version` has it: the last of its `changes` at or before that version."""
        spec = self
        for since in sorted(map(int, self.changes)):
            if since <= version:
                spec = replace(spec, **self.changes[str(since)])
        return spec

    def changed_in(self) -> list[int]:
        return sorted(map(int, self.changes))


@dataclass(frozen=True)
class Fallback:
    """What to do when a command fails: ``then`` (force-remove, offline, local-images), enabled
    by the boolean parameter ``when``."""

    when: str
    then: steps.Fallback


@dataclass(frozen=True)
class Command:
    """One command of a version's sequence. ``of``: the compose file it works on (new: the one
    just fetched; previous/current: the local copy); ``when``: the boolean parameter that gates
    it; ``attempts``: tries before it fails (login), ``retry_delay_seconds`` the first pause."""

    command: str
    of: str
    when: str | None = None
    fallback: Fallback | None = None
    attempts: int = 1
    retry_delay_seconds: float = 0.0

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> "Command":
        """A sequence entry, its names checked now: a command, file or fallback dadc does not know,
        or a member the command does not read (attempts on anything but login), fails the load."""
        if raw.get("command") not in COMMANDS or raw.get("of") not in ("new", "previous", "current"):
            raise ValueError(f"unknown command or file in {raw}")
        if raw["command"] != "login" and ({"attempts", "retry_delay_seconds"} & set(raw)):
            raise ValueError(f"{raw['command']}: attempts and retry_delay_seconds are read for login only")
        fallback = raw.get("fallback")
        return cls(**{**raw, "fallback": Fallback(fallback["when"], steps.fallback(fallback["then"]))
                      if fallback else None})

    def describe(self) -> str:
        text = self.command + (f" (when {self.when})" if self.when else "")
        if self.attempts > 1:
            text += f" (up to {self.attempts} attempts)"
        if self.fallback:
            text += f" (on failure, when {self.fallback.when}: {self.fallback.then})"
        return text


@dataclass(frozen=True)
class Profile:
    version: int
    changelog: str
    parameters: tuple[Parameter, ...]
    start_sequence: tuple[Command, ...]
    stop_sequence: tuple[Command, ...]
    stop_timeout_seconds: float

    @property
    def parameter_names(self) -> tuple[str, ...]:
        return tuple(p.name for p in self.parameters)

    def parameter(self, name: str) -> Parameter | None:
        return next((p for p in self.parameters if p.name == name), None)

    def effective(self, params: dict[str, str]) -> dict[str, str]:
        """Parameters with this version's defaults filled in; unknown names dropped."""
        out = {p.name: p.default for p in self.parameters if p.default is not None}
        out.update({k: v for k, v in params.items() if k in self.parameter_names})
        return out  # type: ignore[return-value]

    def flag(self, params: dict[str, str], name: str) -> bool:
        """A boolean parameter's value, in any case; one this version lacks reads as its catalogue
        default (a version without ForceDeploy never forces)."""
        value = self.effective(params).get(name)
        if value is None:
            value = catalogue()[name].default or "false"
        return value.strip().lower() == "true"

    def to_json(self) -> dict[str, Any]:
        return {
            "version": self.version,
            "changelog": self.changelog,
            "parameters": [
                {"name": p.name, "required": p.required, "default": p.default, "since": p.since}
                for p in self.parameters
            ],
            "start_sequence": [c.describe() for c in self.start_sequence],
            "stop_sequence": [c.describe() for c in self.stop_sequence],
            "stop_timeout_seconds": self.stop_timeout_seconds,
        }


@lru_cache(maxsize=None)
def catalogue() -> dict[str, Parameter]:
    raw = load_json("versions", "parameters.json")["parameters"]
    return {name: Parameter(name=name, **spec) for name, spec in raw.items()}


def settings() -> dict[str, Any]:
    return load_json("versions", "parameters.json")


def project_name() -> str:
    """The compose project of every version (parameters.json): containers are named after it."""
    return str(settings()["project_name"])


def _build(raw: dict[str, Any]) -> Profile:
    cat = catalogue()
    return Profile(
        version=raw["version"],
        changelog=raw["changelog"],
        parameters=tuple(cat[n].at(raw["version"]) for n in raw["parameters"]),
        start_sequence=tuple(Command.from_json(c) for c in raw["start_sequence"]),
        stop_sequence=tuple(Command.from_json(c) for c in raw["stop_sequence"]),
        stop_timeout_seconds=float(raw["stop_timeout_seconds"]),
    )


@lru_cache(maxsize=None)
def registry() -> dict[int, Profile]:
    names = [e.name for e in data_dir("versions").iterdir() if re.fullmatch(r"v\d+\.json", e.name)]
    profiles = [_build(load_json("versions", n)) for n in names]
    return {p.version: p for p in sorted(profiles, key=lambda p: p.version)}


def known_versions() -> list[int]:
    return list(registry())


def latest() -> Profile:
    return registry()[max(registry())]


def get(version: int) -> Profile:
    try:
        return registry()[version]
    except KeyError:
        raise UnknownVersion(
            f"unknown connector version {version}; known versions: {versions_text()}",
        ) from None


def versions_text() -> str:
    vs = known_versions()
    return f"{vs[0]}-{vs[-1]}" if vs == list(range(vs[0], vs[-1] + 1)) else ", ".join(map(str, vs))


COMPOSE = ("pull", "down", "up")  # the compose commands of a sequence, for the versions table


def behaviour_rows(versions: list[Profile]) -> dict[str, list[str]]:
    """What each version does, read from its sequences (`dadc resolve` shows what gates each command)."""
    def sequence(commands: tuple[Command, ...]) -> str:
        return "-".join(c.command for c in commands if c.command in COMPOSE) or "-"

    def fallback(p: Profile, then: tuple[str, ...]) -> str:
        found = {c.fallback.when for c in p.start_sequence if c.fallback and c.fallback.then in then}
        return ",".join(sorted(found)) or "-"
    return {
        "start sequence": [sequence(p.start_sequence) for p in versions],
        "stop sequence": [sequence(p.stop_sequence) for p in versions],
        "login attempts": [str(next((c.attempts for c in p.start_sequence if c.command == "login"), 1)) for p in versions],
        "cleanup fallback": [fallback(p, ("force-remove",)) for p in versions],
        "offline fallback": [fallback(p, ("offline", "local-images")) for p in versions],
        "stop limit (s)": [f"{p.stop_timeout_seconds:g}" for p in versions],
    }
