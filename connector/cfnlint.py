"""dadc's connector checks inside cfn-lint: `cfn-lint template.yaml -a dadc.cfnlint` (the template
first: -a takes several values). Each dadc rule is a cfn-lint rule of its own, in cfn-lint's range
for rules of one's own: dadc's X#0NN is cfn-lint's X9#NN (E3005 -> E9305, W7010 -> W9710, the
severity letter kept; docs/rules.md lists both), so cfn-lint's --ignore-checks and
--include-checks, its SARIF and JUnit work rule by rule. Findings stand where cfn-lint places its
own (at the key). The structural rules cfn-lint's schema already reports at the same place (a
required property, a type, a Ref to nothing) are left to cfn-lint. --regions is honoured: each
region is judged (the ARN's partition against the stack's, pseudo parameters standing for that
region), as cfn-lint does for its own rules. dadc's rule selection (.dadc.toml, [tool.dadc], a
resource's Metadata.dadc.ignore_checks) applies as in `dadc validate`."""
from __future__ import annotations

import json
from functools import lru_cache
from typing import Any

from cfnlint.rules import CloudFormationLintRule, RuleMatch

import dadc.validation.rulesdoc  # noqa: F401  -- every dadc rule registered
from dadc.validation.cfnlint_ids import cfn_lint_id, in_cfn_lint
from dadc.validation.engine import FileResult, validate_bytes
from dadc.validation.findings import REGISTRY, Rule

DOCS = "https://github.com/dadc/dadc/blob/main/docs/rules.md"


@lru_cache(maxsize=32)
def _validated(name: str, raw: bytes, region: str | None) -> FileResult:
    from dadc.validation import selection
    return selection.apply(validate_bytes(name, raw, region=region), selection.configured())


def _raw(cfn: Any) -> tuple[str, bytes]:
    """The template as written (dadc reads YAML scalars as written), or, for a template that came on
    stdin, cfn-lint's own reading of it."""
    name = getattr(cfn, "filename", None) or "template"
    try:
        with open(name, "rb") as handle:
            return name, handle.read()
    except OSError:
        return name, json.dumps(cfn.template, default=str).encode()


def _path(template: Any, pointer: str) -> list[str | int]:
    """The pointer as a cfn-lint path, cut where the template has no deeper node (a finding inside
    Parameters written as a JSON string is placed at that string)."""
    path: list[str | int] = []
    node = template
    for token in (t.replace("~1", "/").replace("~0", "~") for t in pointer.strip("/").split("/") if pointer):
        if isinstance(node, list) and token.isdigit() and int(token) < len(node):
            path.append(int(token))
            node = node[int(token)]
        elif isinstance(node, dict) and token in node:
            path.append(token)
            node = node[token]
        else:
            break
    return path


class _DadcRule(CloudFormationLintRule):  # type: ignore[misc]
    """One dadc rule, as cfn-lint runs it."""

    tags = ["greengrass", "connectors", "dadc"]
    source_url = DOCS
    dadc_id = ""

    def match(self, cfn: Any) -> list[Any]:
        name, raw = _raw(cfn)
        regions = list(getattr(cfn, "regions", None) or [None])
        seen: dict[tuple[tuple[str | int, ...], str], None] = {}
        for region in regions:
            for f in _validated(name, raw, region).findings:
                if f.rule == self.dadc_id:
                    seen.setdefault((tuple(_path(cfn.template, f.pointer)), f.message), None)
        return [RuleMatch(list(path), message) for path, message in seen]  # a region's own findings name it


def _make(rule: Rule) -> type[_DadcRule]:
    return type(f"Dadc{rule.id}", (_DadcRule,), {
        "id": cfn_lint_id(rule.id), "dadc_id": rule.id, "shortdesc": f"{rule.title} (dadc {rule.id})",
        "description": rule.description, "source_url": rule.source or DOCS, "__module__": __name__})


# one class per dadc rule, at module level, where cfn-lint's loader finds them
for _rule in sorted(REGISTRY.values(), key=lambda r: r.id):
    if in_cfn_lint(_rule.id) == cfn_lint_id(_rule.id):
        globals()[f"Dadc{_rule.id}"] = _make(_rule)
del _rule
