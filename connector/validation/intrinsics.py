"""CloudFormation's intrinsic functions, read as far as they can be and never guessed: a string
through !Sub or Fn::Join with pseudo parameters standing in, a Ref of a template parameter through
its Default and AllowedValues, each branch of an Fn::If, literal scalars as CloudFormation passes
them to a string property; and every Ref, Fn::GetAtt or ${} of !Sub that names nothing the template
defines."""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Mapping, Iterator

from dadc.validation.findings import Finding, rule
from dadc.validation.positions import join

UNDEFINED = rule("E8004", "template-ref-undefined", "A Ref, Fn::GetAtt or ${} of !Sub names neither a template "
                 "parameter, a pseudo parameter (AWS::...) nor a resource of the template: CloudFormation refuses the "
                 "template.", "https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/intrinsic-function-reference-ref.html")
# what a pseudo parameter stands for while an ARN is read (the partition's own region: valid together)
PSEUDO = {"AWS::Partition": "aws", "AWS::Region": "us-east-1", "AWS::URLSuffix": "amazonaws.com",
          "AWS::AccountId": "123456789012", "AWS::StackName": "stack", "AWS::StackId": "stack-id"}
SUB = re.compile(r"\$\{([^}!][^}]*)\}")
NO_VALUE = {"Ref": "AWS::NoValue"}


@dataclass
class Template:
    """The template's parameters, and the region it is judged for (cfn-lint's --regions: the pseudo
    parameters stand for that region and its partition)."""

    data: dict[str, Any]
    region: str | None = None
    parameters: dict[str, Any] = field(default_factory=dict)
    pseudo: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        from dadc import arn
        params = self.data.get("Parameters")
        self.parameters = params if isinstance(params, dict) else {}
        self.pseudo = dict(PSEUDO)
        if self.region and arn.partition_of(self.region):
            self.pseudo.update({"AWS::Region": self.region, "AWS::Partition": str(arn.partition_of(self.region))})

    def defines(self, name: str) -> bool:
        """A name a Ref may use: a template parameter, a pseudo parameter, a resource."""
        resources = self.data.get("Resources")
        return name.startswith("AWS::") or name in self.parameters or \
            (isinstance(resources, dict) and name in resources)

    def undefined(self, value: Any, here: str, local: frozenset[str] = frozenset()) -> Iterator[Finding]:
        """Each Ref, Fn::GetAtt and ${} of !Sub under value that names nothing the template defines."""
        if isinstance(value, list):
            for i, item in enumerate(value):
                yield from self.undefined(item, join(here, i), local)
            return
        if not isinstance(value, dict):
            return
        if len(value) == 1:
            (name, arg), = value.items()
            at = join(here, name)
            if name == "Ref" and isinstance(arg, str) and not self.defines(arg) and arg not in local:
                yield UNDEFINED(at, f"Ref {arg}: no template parameter, pseudo parameter or resource of that name")
                return
            if name == "Fn::GetAtt":
                target = arg[0] if isinstance(arg, list) and arg else arg.split(".")[0] if isinstance(arg, str) else None
                if isinstance(target, str) and not self.defines(target):
                    yield UNDEFINED(at, f"Fn::GetAtt {target}: no resource of that name")
                return
            if name == "Fn::Sub":
                text, names = (arg, {}) if isinstance(arg, str) else (arg[0], arg[1]) if isinstance(arg, list) and \
                    len(arg) == 2 and isinstance(arg[0], str) and isinstance(arg[1], dict) else (None, {})
                if text is not None:
                    for var in SUB.findall(text):
                        base = var.split(".")[0]
                        if not self.defines(base) and base not in names and base not in local:
                            yield UNDEFINED(at, f"!Sub ${{{var}}}: no template parameter, pseudo parameter or "
                                                "resource of that name")
                    yield from self.undefined(names, join(at, 1), local)
                return
        for key, item in value.items():
            yield from self.undefined(item, join(here, key), local)


def _text(value: Any, pseudo: dict[str, str] = PSEUDO) -> tuple[str | None, bool]:
    """A string as far as intrinsics let it be read: (text, exact). Pseudo parameters stand in
    (exact False); anything else CloudFormation decides at deploy time gives (None, False)."""
    if isinstance(value, str):
        return value, True
    if not isinstance(value, dict) or len(value) != 1:
        return None, False
    (name, arg), = value.items()
    if name == "Ref" and arg in pseudo:
        return pseudo[arg], False
    if name == "Fn::Sub":
        text = arg if isinstance(arg, str) else arg[0] if isinstance(arg, list) and arg and isinstance(arg[0], str) else None
        if text is None:
            return None, False
        names = SUB.findall(text)
        if any(n not in pseudo for n in names):
            return None, False
        return SUB.sub(lambda m: pseudo[m[1]], text).replace("${!", "${"), not names
    if name == "Fn::Join" and isinstance(arg, list) and len(arg) == 2 and isinstance(arg[0], str) \
            and isinstance(arg[1], list):
        parts = [_text(p, pseudo) for p in arg[1]]
        if any(p is None for p, _ in parts):
            return None, False
        return arg[0].join(p for p, _ in parts if p is not None), all(exact for _, exact in parts)
    return None, False


NO_VALUE = {"Ref": "AWS::NoValue"}


def _literal(value: Any) -> str | None:
    """A scalar as CloudFormation passes it to a string property (true -> "true", 60 -> "60")."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return str(value)
    return value if isinstance(value, str) else None


def _if(value: Any) -> tuple[str, Any, Any] | None:
    """(condition, value when true, value when false) of an Fn::If, or None."""
    if isinstance(value, dict) and len(value) == 1 and "Fn::If" in value:
        arg = value["Fn::If"]
        if isinstance(arg, list) and len(arg) == 3 and isinstance(arg[0], str):
            return arg[0], arg[1], arg[2]
    return None


def _candidates(value: Any, template: Template, assumed: Mapping[str, bool] | None = None) -> tuple[
        list[tuple[str, str]], list[str]]:
    """The values a parameter may take, each with what it is (for messages), and what of it
    CloudFormation decides at deploy time (why it cannot be told): an Fn::If gives both branches,
    but only the one that can be reached under the conditions already taken on the way here (an
    enclosing Fn::If, the resource's Condition): CloudFormation never reads the other."""
    assumed = assumed or {}
    literal = _literal(value)
    if literal is not None:
        return [(literal, "")], []
    branches = _if(value)
    if branches is not None:
        condition, yes, no = branches
        found: list[tuple[str, str]] = []
        later: list[str] = []
        for branch, word in ((yes, "true"), (no, "false")):
            if branch == NO_VALUE or assumed.get(condition, word == "true") != (word == "true"):
                continue
            if condition in assumed:  # the branch already named by whatever fixed the condition
                options, deferred = _candidates(branch, template, assumed)
                found += options
                later += deferred
                continue
            options, deferred = _candidates(branch, template, assumed)
            found += [(v, f"{what} (when condition {condition} is {word})") for v, what in options]
            later += [f"{reason} (when condition {condition} is {word})" for reason in deferred]
        return found, later
    if isinstance(value, dict) and len(value) == 1 and "Ref" in value:
        name = value["Ref"]
        spec = template.parameters.get(name) if isinstance(name, str) else None
        if not isinstance(spec, dict):
            return [], [f"Ref {name}: set at deploy time"]
        found = [(str(_literal(spec["Default"])), f" (template parameter {name}'s Default)")] if "Default" in spec \
            and _literal(spec["Default"]) is not None else []
        for allowed in spec.get("AllowedValues") or []:
            if _literal(allowed) is not None and _literal(allowed) not in [v for v, _ in found]:
                found.append((str(_literal(allowed)), f" (one of template parameter {name}'s AllowedValues)"))
        return (found, []) if found else ([], [f"Ref {name}: a template parameter with neither Default nor "
                                                f"AllowedValues, set at deploy time"])
    if isinstance(value, dict) and len(value) == 1:
        return [], [f"{next(iter(value))}: set at deploy time"]
    return [], []  # not a string: the type rule speaks


def _sub_literals(value: Any) -> list[str] | None:
    if isinstance(value, dict) and len(value) == 1 and "Fn::Sub" in value:
        text = value["Fn::Sub"] if isinstance(value["Fn::Sub"], str) else None
        return SUB.split(text)[::2] if text is not None else None
    return None
