"""Behaviour cases: discovered from files, expanded per version, compared with what happened."""
from __future__ import annotations

import hashlib
import json
import shlex
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

HIDDEN = ("ps", "version", "logout", "inspect", "image")  # observation, not behaviour


def cases_root() -> Path:
    return Path(str(resources.files("conformance") / "cases"))


@dataclass(frozen=True)
class BehaviourCase:
    """One scenario at one version: the scenario's steps once, this version's expectation."""

    name: str  # the scenario file's stem
    version: int
    spec: dict[str, Any] = field(hash=False, compare=False)
    expect: dict[str, Any] = field(hash=False, compare=False, default_factory=dict)

    @property
    def id(self) -> str:
        return f"v{self.version}/{self.name}"

    @property
    def scenario(self) -> str:
        return str(self.spec["scenario"])

    def applies_to(self, cli_generation: int) -> bool:
        return f"v{cli_generation}" in self.spec.get("cli", ["v1", "v2"])


class CaseError(ValueError):
    """A scenario file that cannot be run as written (the harness's input is wrong: exit 3)."""


def versions_of(text: str) -> list[int]:
    first, _, last = text.partition("-")
    return list(range(int(first), int(last or first) + 1))


def expand(name: str, spec: dict[str, Any]) -> list[BehaviourCase]:
    """A scenario -> one case per version; every version needs exactly one expectation."""
    wanted = versions_of(spec["versions"])
    by_version: dict[int, dict[str, Any]] = {}
    for key, expectation in spec["expect"].items():
        for v in versions_of(key):
            if v in by_version:
                raise CaseError(f"{name}: version {v} has two expectations")
            by_version[v] = expectation
    if sorted(by_version) != wanted:
        raise CaseError(f"{name}: expectations cover versions {sorted(by_version)}, the scenario {wanted}")
    return [BehaviourCase(name, v, spec, by_version[v]) for v in wanted]


def discover(root: Path | None = None) -> tuple[list[BehaviourCase], dict[str, Any]]:
    """Every (scenario, version) case, and the compose files they use."""
    root = root or cases_root()
    compose = json.loads((root / "compose.json").read_text(encoding="utf-8"))
    found = []
    for path in sorted((root / "behaviour").glob("*.json")):
        found += expand(path.stem, json.loads(path.read_text(encoding="utf-8")))
    return found, compose


def file_hash(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def normalise(journal: list[str], names: dict[str, str]) -> list[str]:
    """Journal lines -> 'compose up -d @app-v1', 'docker login --password-stdin', 'docker rm -f'."""
    out = []
    for line in journal:
        tool, argv_text, digest, stdin = line.rstrip("\n").split("\t")
        argv = shlex.split(argv_text) if argv_text else []
        if tool == "compose":
            action = next((a for a in argv if a in ("pull", "down", "up", "version", "config")), "?")
            if action in ("version", "config"):  # reading, not behaviour
                continue
            rest = argv[argv.index(action):]
            out.append(" ".join(rest) + f" @{names.get(digest, digest)}")
            out[-1] = "compose " + out[-1]
            continue
        words = [a for a in argv if not a.startswith("{{")]
        while words and words[0] == "--config":
            words = words[2:]
        if not words or words[0] in HIDDEN or (words[0] == "compose"):
            continue
        if words[0] == "login":
            out.append("docker login --password-stdin" if stdin == "yes" else "docker login (no password on stdin)")
        elif words[0] == "rm":
            out.append("docker rm -f")
        else:
            out.append("docker " + " ".join(words))
    return out


def compare(case: BehaviourCase, commands: list[str], messages: list[dict[str, Any]],
            running: str | None) -> list[str]:
    """The differences from the case's expectations (empty: the case passes)."""
    expect = case.expect
    problems = []
    if commands != expect["commands"]:
        problems.append(f"commands {commands} != expected {expect['commands']}")
    if len(messages) != len(expect["status"]) or any(
            any(m.get(k) != v for k, v in e.items()) for m, e in zip(messages, expect["status"])):
        problems.append(f"status messages {messages} do not match {expect['status']}")
    if running != expect["running"]:
        problems.append(f"running {running!r} != expected {expect['running']!r}")
    return problems
