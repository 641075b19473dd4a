"""Rules (stable id, severity from the id's letter) and the findings they produce."""
from __future__ import annotations

from dataclasses import dataclass, replace

SEVERITIES = {"E": "error", "W": "warning", "I": "info"}
DOCS = "https://docs.aws.amazon.com/greengrass/v1/developerguide/docker-app-connector.html"


@dataclass(frozen=True)
class Rule:
    id: str
    title: str
    description: str
    source: str = DOCS + "#docker-app-connector-param"

    @property
    def severity(self) -> str:
        return SEVERITIES[self.id[0]]

    def __call__(self, pointer: str, message: str, *, offset: int | None = None) -> "Finding":
        return Finding(rule=self.id, severity=self.severity, pointer=pointer, message=message,
                       offset=offset)


@dataclass(frozen=True)
class Finding:
    rule: str
    severity: str
    pointer: str
    message: str
    line: int = 0
    column: int = 0
    file: str = ""
    offset: int | None = None  # an exact text offset, when the pointer alone is not precise

    def escalated(self) -> "Finding":
        return replace(self, severity="error") if self.severity == "warning" else self

    def to_json(self) -> dict[str, object]:
        return {"rule": self.rule, "severity": self.severity, "pointer": self.pointer,
                "message": self.message, "line": self.line, "column": self.column}


REGISTRY: dict[str, Rule] = {}


def rule(id: str, title: str, description: str, source: str | None = None) -> Rule:
    if id in REGISTRY:
        raise ValueError(f"rule {id} registered twice")
    REGISTRY[id] = Rule(id, title, description, source or Rule.source)
    return REGISTRY[id]
