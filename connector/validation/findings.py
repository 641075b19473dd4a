"""Rules (stable id, severity from the id's letter) and the findings they produce."""
from __future__ import annotations

from dataclasses import dataclass

SEVERITIES = {"E": "error", "W": "warning", "I": "info"}
DOCS = "https://docs.aws.amazon.com/greengrass/v1/developerguide/docker-app-connector.html"


# What the JSON Schemas in schemas/ make of each rule: they enforce it, or only dadc validate can
# (JSON Schema cannot compare two values, count keys, or warn), or it is about reading the file.
ENFORCED = {"E0003", "E1001", "E1002", "E1003", "E1005", "E2001", "E2002", "E2003", "E2004", "E2005",
            "E3001", "E3002", "E3003", "E3004", "E3005", "W3006", "E4001", "E4002", "E4003"}
NOT_ABOUT_CONTENT = {"E0001", "E0004"}


@dataclass(frozen=True)
class Rule:
    id: str
    title: str
    description: str
    source: str = DOCS + "#docker-app-connector-param"

    @property
    def in_schemas(self) -> str:
        return "-" if self.id in NOT_ABOUT_CONTENT else "yes" if self.id in ENFORCED else "no"

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

    def to_json(self) -> dict[str, object]:
        return {"rule": self.rule, "severity": self.severity, "pointer": self.pointer,
                "message": self.message, "line": self.line, "column": self.column}


REGISTRY: dict[str, Rule] = {}


def rule(id: str, title: str, description: str, source: str | None = None) -> Rule:
    if id in REGISTRY:
        raise ValueError(f"rule {id} registered twice")
    REGISTRY[id] = Rule(id, title, description, source or Rule.source)
    return REGISTRY[id]


def quoted(value: object, limit: int = 80) -> str:
    """A value as a message quotes it: repr, cut after limit characters (a 30 MB bucket name is
    named by its start and its length, never printed whole)."""
    text = repr(value[:limit + 1] if isinstance(value, (str, bytes)) else value)
    if len(text) <= limit:
        return text
    length = f"{len(value)} characters" if isinstance(value, (str, bytes)) else f"{len(text)} characters written"
    return f"{text[:limit]}... ({length})"
