"""dadc's connector checks inside cfn-lint: `cfn-lint template.yaml -a connector.cfnlint` (the
template first: -a takes several values). Each dadc finding becomes a cfn-lint match of the rule
of its severity, E9101, W9101 or I9101 (cfn-lint's range for rules of one's own), at the place
cfn-lint gives its path, with dadc's own rule id first in the message; so a team that runs cfn-lint
gets the connector checks in the same report, SARIF and pre-commit hook. dadc's rule selection
(.dadc.toml, [tool.dadc], a resource's Metadata.dadc.ignore_checks) applies as in `dadc validate`;
cfn-lint's own applies to the three rules. cfn-lint is an optional extra: dadc never needs it."""
from __future__ import annotations

import json
from functools import lru_cache
from typing import Any

from cfnlint.rules import CloudFormationLintRule, RuleMatch

from connector.validation.engine import FileResult, validate_bytes

DOCS = "https://github.com/dadc/dadc/blob/main/docs/rules.md"


@lru_cache(maxsize=8)
def _validated(name: str, raw: bytes) -> FileResult:
    from connector.validation import selection
    return selection.apply(validate_bytes(name, raw), selection.configured())


def _raw(cfn: Any) -> tuple[str, bytes]:
    """The template as written (dadc reads YAML scalars as written: `true` is not "true"), or, for
    a template that came on stdin, cfn-lint's own reading of it."""
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
    severity = "error"
    tags = ["greengrass", "connectors", "dadc"]
    source_url = DOCS

    def match(self, cfn: Any) -> list[Any]:
        name, raw = _raw(cfn)
        result = _validated(name, raw)
        return [RuleMatch(_path(cfn.template, f.pointer), f"[{f.rule}] {f.message}")
                for f in result.findings if f.severity == self.severity]


class DadcErrors(_DadcRule):
    id = "E9101"
    shortdesc = "DockerApplicationDeployment connector: errors (dadc)"
    description = ("A Greengrass DockerApplicationDeployment connector's definition breaks its version's "
                   "documented rules (dadc validate's E rules)")
    severity = "error"


class DadcWarnings(_DadcRule):
    id = "W9101"
    shortdesc = "DockerApplicationDeployment connector: warnings (dadc)"
    description = "dadc validate's W rules for a DockerApplicationDeployment connector"
    severity = "warning"


class DadcInfo(_DadcRule):
    id = "I9101"
    shortdesc = "DockerApplicationDeployment connector: information (dadc)"
    description = "dadc validate's I rules for a DockerApplicationDeployment connector"
    severity = "info"
