"""Moving between versions, from the profiles alone: what changes from version A to B (`dadc
diff`), and what a move changes for one definition's parameters (`dadc upgrade`)."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from dadc import profiles
from dadc.plan import Observed, plan_start, plan_stop

REDEPLOY = Observed(previous_file=True, project_running=True)
COMPOSE_KINDS = ("pull", "down", "remove", "up")


@dataclass(frozen=True)
class ParameterChange:
    name: str
    before: dict[str, Any] | None  # None: the version lacks it
    after: dict[str, Any] | None


@dataclass(frozen=True)
class VersionDiff:
    a: int
    b: int
    parameters: list[ParameterChange] = field(default_factory=list)
    start: tuple[list[str], list[str]] = ([], [])
    stop: tuple[list[str], list[str]] = ([], [])
    behaviour: dict[str, tuple[str, str]] = field(default_factory=dict)
    changelog: list[tuple[int, str]] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {"from": self.a, "to": self.b,
                "parameters": [{"name": c.name, "before": c.before, "after": c.after} for c in self.parameters],
                "start_sequence": {"before": self.start[0], "after": self.start[1]},
                "stop_sequence": {"before": self.stop[0], "after": self.stop[1]},
                "behaviour": {k: {"before": v[0], "after": v[1]} for k, v in self.behaviour.items()},
                "changelog": [{"version": v, "changes": text} for v, text in self.changelog]}


def _spec(p: profiles.Parameter | None) -> dict[str, Any] | None:
    if p is None:
        return None
    return {"required": p.required, "default": p.default, "pattern": p.pattern, "maximum": p.maximum}


def diff(a: profiles.Profile, b: profiles.Profile) -> VersionDiff:
    names = list(dict.fromkeys(a.parameter_names + b.parameter_names))
    changed = [ParameterChange(n, _spec(a.parameter(n)), _spec(b.parameter(n))) for n in names
               if _spec(a.parameter(n)) != _spec(b.parameter(n))]
    rows = profiles.behaviour_rows([a, b])
    lo, hi = sorted((a.version, b.version))
    log = [(v, profiles.get(v).changelog) for v in profiles.known_versions() if lo < v <= hi]
    return VersionDiff(a.version, b.version, changed,
                       ([c.describe() for c in a.start_sequence], [c.describe() for c in b.start_sequence]),
                       ([c.describe() for c in a.stop_sequence], [c.describe() for c in b.stop_sequence]),
                       {k: (v[0], v[1]) for k, v in rows.items() if v[0] != v[1]},
                       log if b.version > a.version else list(reversed(log)))


def _arrows(kinds: list[str]) -> str:
    return " → ".join(kinds) or "nothing"


def _attempts(n: int) -> str:
    return "one attempt" if n == 1 else f"up to {n} attempts"


def changes_for(a: profiles.Profile, b: profiles.Profile, params: dict[str, str]) -> list[str]:
    """The behaviour changes that apply to a definition with these parameters, in words."""
    out: list[str] = []
    params = {k: v for k, v in params.items() if isinstance(v, str)}  # a non-string is an error, said elsewhere
    kept = {k: v for k, v in params.items() if b.parameter(k) or not a.parameter(k)}
    for title, before, after in (
            ("on a redeploy", plan_start(a, params, REDEPLOY), plan_start(b, kept, REDEPLOY)),
            ("at a stop", plan_stop(a, params, REDEPLOY), plan_stop(b, kept, REDEPLOY))):
        was = [s.kind for s in before if s.kind in COMPOSE_KINDS]
        now = [s.kind for s in after if s.kind in COMPOSE_KINDS]
        if was != now:
            line = f"{title}, version {a.version} runs {_arrows(was)}; version {b.version} runs {_arrows(now)}"
            if "pull" in was and "pull" in now and "down" in was and "down" in now \
                    and (was.index("pull") < was.index("down")) != (now.index("pull") < now.index("down")):
                line += (": images are now pulled before the running application is stopped"
                         if now.index("pull") < now.index("down") else ": images are now pulled after it is stopped")
            out.append(line)
        for step in after:
            fallback_was = next((s.fallback for s in before if s.kind == step.kind), "")
            if step.fallback not in ("", "report") and step.fallback != fallback_was:
                out.append(f"{step.kind} now falls back to {step.fallback} on failure ({step.origin})")
            attempts_was = next((s.attempts for s in before if s.kind == step.kind), 1)
            if step.attempts != attempts_was:
                out.append(f"{step.kind} makes {_attempts(step.attempts)} (version {a.version}: {_attempts(attempts_was)})")
    for command in b.start_sequence + b.stop_sequence:
        gate = command.when
        if gate and not a.parameter(gate) and gate not in params:
            spec = b.parameter(gate)
            default = spec.default if spec else "true"
            out.append(f"{command.command} runs only while {gate} is true (default {default}): "
                       f"set {gate} to \"{'false' if default == 'true' else 'true'}\" to change that")
    for name in b.parameter_names:
        if not a.parameter(name) and not any(name == c.when for c in b.start_sequence + b.stop_sequence):
            spec = b.parameter(name)
            assert spec is not None
            out.append(f"version {b.version} adds {name} (default {spec.default}): {spec.description}")
    for name in params:
        before_spec, after_spec = a.parameter(name), b.parameter(name)
        if before_spec and after_spec and (before_spec.pattern, before_spec.maximum) != (after_spec.pattern, after_spec.maximum):
            out.append(f"{name}: version {b.version} accepts {after_spec.pattern}"
                       + (f" up to {after_spec.maximum}" if after_spec.maximum else "")
                       + f" (version {a.version}: {before_spec.pattern})")
    return list(dict.fromkeys(out))


def lost(a: profiles.Profile, b: profiles.Profile, params: dict[str, str]) -> list[str]:
    """Parameters set in a definition that version a has and version b does not (a misspelt
    name is no parameter of either: it stays, and stays an error)."""
    return [name for name in params if a.parameter(name) is not None and b.parameter(name) is None]
