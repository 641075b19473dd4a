"""dadc's rules as cfn-lint rules (connector/cfnlint.py): their ids, and which are left to cfn-lint
in a cfn-lint run. Here, not there, so docs/rules.md lists them without cfn-lint installed."""
from __future__ import annotations

# dadc rules that cfn-lint's own checks report at the same place: left to cfn-lint in a cfn-lint run
LEFT_TO_CFN_LINT = {"E0001": "E0000", "E0002": "E0000", "E1001": "E3012", "E1002": "E3003", "E8001": "E3003",
                    "E8004": "E1020"}
NOT_IN_TEMPLATES = ("E0004", "E6", "E7", "W7", "I7")  # --version, the role policy, compose files


def cfn_lint_id(rule_id: str) -> str:
    """dadc's X#0NN as cfn-lint's X9#NN (its range for rules of one's own; the letter kept)."""
    return f"{rule_id[0]}9{rule_id[1]}{rule_id[3:]}"


def in_cfn_lint(rule_id: str) -> str:
    """The rule's id inside cfn-lint, or what stands for it there."""
    if rule_id in LEFT_TO_CFN_LINT:
        return f"cfn-lint's {LEFT_TO_CFN_LINT[rule_id]}"
    if rule_id.startswith(NOT_IN_TEMPLATES):
        return "-"
    return cfn_lint_id(rule_id)
