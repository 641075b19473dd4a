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
    return Path(str(resources.files("dadc.conformance") / "cases"))


@dataclass(frozen=True)
class BehaviourCase:
    """One scenario at one version: the scenario's steps once, this version's expectation."""

    name: str  # the scenario file's stem
    version: int
    spec: dict[str, Any] = field(hash=False, compare=False)
    expect: dict[str, Any] = field(hash=False, compare=False, default_factory=dict)
    group: str = ""  # the expectation's key: versions that must behave alike

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
    """'4' -> [4]; '1-3' -> [1, 2, 3]; '1,5-7' -> [1, 5, 6, 7]; '5-' -> 5 and every later version
    the profiles know (a new version inherits the newest expectation until a case says otherwise)."""
    from dadc import profiles
    newest = max(profiles.known_versions())
    out: list[int] = []
    for part in text.split(","):
        first, dash, last = part.partition("-")
        out += range(int(first), (int(last) if last else newest if dash else int(first)) + 1)
    return sorted(set(out))


def expand(name: str, spec: dict[str, Any]) -> list[BehaviourCase]:
    """A scenario -> one case per version; every version needs exactly one expectation."""
    wanted = versions_of(spec["versions"])
    by_version: dict[int, tuple[str, dict[str, Any]]] = {}
    for key, expectation in spec["expect"].items():
        for v in versions_of(key):
            if v in by_version:
                raise CaseError(f"{name}: version {v} has two expectations")
            by_version[v] = (key, expectation)
    if sorted(by_version) != wanted:
        raise CaseError(f"{name}: expectations cover versions {sorted(by_version)}, the scenario {wanted}")
    return [BehaviourCase(name, v, spec, by_version[v][1], by_version[v][0]) for v in wanted]


def one_per_group(cases: list[BehaviourCase]) -> list[BehaviourCase]:
    """The latest version of each group of versions that share an expectation (so version 7,
    the most used, always runs): the recorded engine shows the others issue the same commands."""
    latest: dict[tuple[str, str], int] = {}
    for c in cases:
        latest[(c.name, c.group)] = max(latest.get((c.name, c.group), 0), c.version)
    return [c for c in cases if c.version == latest[(c.name, c.group)]]


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
        elif words[0] in ("rm", "tag", "pull"):  # ids and digests differ from run to run
            out.append({"rm": "docker rm -f", "tag": "docker tag", "pull": "docker pull"}[words[0]])
        else:
            out.append("docker " + " ".join(words))
    return out


def _member_matches(got: Any, want: Any) -> bool:
    if isinstance(want, dict) and set(want) == {"contains"}:
        return isinstance(got, str) and all(part in got for part in _listed(want["contains"]))
    return bool(got == want)


def _listed(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def compare(case: BehaviourCase, commands: list[str], messages: list[dict[str, Any]],
            running: str | None, images: dict[str, set[str]] | None = None) -> list[str]:
    """The differences from the case's expectations (empty: the case passes). images: the image
    ids marked after steps (by mark name), and "now": those running at the end."""
    expect = case.expect
    problems = []
    if commands != expect["commands"]:
        problems.append(f"commands {commands} != expected {expect['commands']}")
    if len(messages) != len(expect["status"]) or any(
            any(not _member_matches(m.get(k), v) for k, v in e.items()) for m, e in zip(messages, expect["status"])):
        problems.append(f"status messages {messages} do not match {expect['status']}")
    if running != expect["running"]:
        problems.append(f"running {running!r} != expected {expect['running']!r}")
    if "image_as" in expect:
        images = images or {}
        marked, now = images.get(expect["image_as"]), images.get("now")
        if not marked or marked != now:
            problems.append(f"running images {sorted(now or [])} are not those marked "
                            f"{expect['image_as']!r}: {sorted(marked or [])}")
    return problems
