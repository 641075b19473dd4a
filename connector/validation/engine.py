"""Run every rule over one document and place each finding at its line and column."""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, Iterator

from dadc import arn, profiles
from dadc.validation import apishape, rules_connectors as rc
from dadc.validation.document import Document, load
from dadc.validation.findings import Finding, rule
from dadc.validation.positions import join
from dadc.validation.rules_parameters import check_parameters
from dadc.validation.rules_secrets import check_secrets

NEEDS_VERSION = rule("E0004", "needs-version",
                     "A bare Parameters object carries no ARN: give --version N (exit 2 without it).")


@dataclass(frozen=True)
class LocatedConnector:
    """One DockerApplicationDeployment connector as the validator found it: where it is, its
    version (when its ARN or --version says), its parameters, and the findings inside it."""

    pointer: str
    id: str | None
    ref: arn.ConnectorRef | None
    parameters: Any
    findings: tuple[Finding, ...] = ()

    @property
    def errors(self) -> list[Finding]:
        return [f for f in self.findings if f.severity == "error"]


@dataclass
class FileResult:
    file: str
    findings: list[Finding] = field(default_factory=list)
    fatal: bool = False  # unreadable, unparsable or unusable without more options: exit 2
    units: list[tuple[str, str]] = field(default_factory=list)  # (name, pointer) for junit
    connectors: list[LocatedConnector] = field(default_factory=list)
    connectors_pointer: str | None = None  # where the Connectors array is
    template: bool = False  # a CloudFormation template: connectors in its resources
    suppressions: dict[str, tuple[str, ...]] = field(default_factory=dict)  # a resource's Metadata.dadc.ignore_checks
    suppressed: int = 0  # findings that rule selection or a resource's Metadata left out

    @property
    def document_errors(self) -> list[Finding]:
        """Errors that belong to no connector entry (the file, its shape, a misplaced member)."""
        if self.template:  # a template's errors are its resources': each connector carries its own
            return [f for f in self.findings if f.severity == "error"
                    and not any(f.pointer.startswith(c.pointer) for c in self.connectors)
                    and f.rule in ("E0001", "E0002")]
        under = self.connectors_pointer
        return [f for f in self.findings if f.severity == "error"
                and not (under is not None and f.pointer.startswith(under + "/"))]

    @property
    def errors(self) -> int:
        return sum(f.severity == "error" for f in self.findings)

    @property
    def warnings(self) -> int:
        return sum(f.severity == "warning" for f in self.findings)

    @property
    def valid(self) -> bool:
        return not self.fatal and self.errors == 0


def _check_connector(doc: Document, entry: dict[str, Any], here: str) -> Iterator[Finding]:
    carn = entry.get("ConnectorArn")
    if not isinstance(carn, str) or "/connectors/" not in carn or not arn.is_this_connector(carn):
        return  # another connector: its shapes are the API's (apishape), nothing of ours is judged
    ref, found = rc.check_arn(carn, join(here, "ConnectorArn"))
    yield from found
    if ref is None:
        return
    yield from _check_params(doc, entry.get("Parameters"), join(here, "Parameters"),
                             profiles.get(ref.version), ref, here)


def _check_params(doc: Document, params: Any, pointer: str, profile: profiles.Profile,
                  ref: arn.ConnectorRef | None, owner: str) -> Iterator[Finding]:
    yield from check_parameters(params, pointer, profile, owner)
    if isinstance(params, dict) and "AWSSecretsArnList" in params and profile.parameter("AWSSecretsArnList"):
        value = params["AWSSecretsArnList"]
        if isinstance(value, (str, list)):
            yield from check_secrets(value, join(pointer, "AWSSecretsArnList"), ref, lambda: doc.positions)


def _shape(doc: Document) -> tuple[str | None, str | None]:
    """(the API shape the document is, where its Connectors are)."""
    if not isinstance(doc.data, dict):
        return None, None
    kind = apishape.kind_of(doc.data)
    return kind, apishape.connectors_pointer(kind) if kind else None


def _connectors(doc: Document) -> tuple[str | None, Any]:
    kind, pointer = _shape(doc)
    if pointer is None:
        return None, None
    value: Any = doc.data
    for token in pointer.strip("/").split("/"):
        value = value.get(token) if isinstance(value, dict) else None
    return pointer, value


def _ours(doc: Document, version: int | None) -> list[LocatedConnector]:
    """Where each of our connectors is (before its findings are attached)."""
    kind, _ = _shape(doc)
    pointer, connectors = _connectors(doc)
    if kind is None:
        return [LocatedConnector("", None, arn.ConnectorRef(version), doc.data)] if version is not None else []
    found = []
    for index, entry in enumerate(connectors if isinstance(connectors, list) else []):
        carn = entry.get("ConnectorArn") if isinstance(entry, dict) else None
        if isinstance(carn, str) and "/connectors/" in carn and arn.is_this_connector(carn):
            ref, _ = rc.check_arn(carn, "")
            cid = entry.get("Id")
            assert pointer is not None
            found.append(LocatedConnector(join(pointer, index), cid if isinstance(cid, str) else None, ref,
                                          entry.get("Parameters")))
    return found


def _collect(doc: Document, version: int | None, api_shape: bool = True) -> Iterator[Finding]:
    data = doc.data
    if not isinstance(data, dict):
        yield rc.SHAPE("", f"the document must be a JSON object, not {apishape._kind_of(data)}")
        return
    kind, _ = _shape(doc)
    if kind is None:
        yield from _no_shape(doc, version)
        return
    pointer, connectors = _connectors(doc)
    ours = {c.pointer for c in _ours(doc, version)}
    # our connectors' Parameters are judged by their own rules below; api_shape=False: the caller
    # had the same bytes checked already, in a child (botocore's model costs a long-lived process 10 MB)
    for f in apishape.check(data, kind) if api_shape else ():
        if not (f.rule in ("E3001", "E3002") and any(f.pointer.startswith(o + "/Parameters") for o in ours)):
            yield f
    if connectors is None or connectors == []:
        yield apishape.NO_CONNECTOR("", f"a {kind} with no connector: nothing to check")
        return
    assert pointer is not None
    yield from rc.check_connector_list(connectors, pointer, shapes=False)
    if isinstance(connectors, list):
        for index, entry in enumerate(connectors):
            if isinstance(entry, dict):
                yield from _check_connector(doc, entry, join(pointer, index))


def _no_shape(doc: Document, version: int | None) -> Iterator[Finding]:
    """No API shape: a bare Parameters object (with --version), `{}`, or something else."""
    data = doc.data
    if version is not None:
        yield from _check_params(doc, data, "", profiles.get(version), None, "")
    elif not data:
        yield apishape.NO_CONNECTOR("", "an empty object: no connector to check")
    elif set(data) & set(profiles.catalogue()):
        doc.fatal = True
        yield NEEDS_VERSION("", "no Connectors here: for a bare Parameters object give --version N")
    else:
        yield rc.SHAPE("", f"keys {', '.join(sorted(map(str, data)))} make no definition: a connector definition "
                           "version (Connectors), a create-connector-definition(-version) input, the output of "
                           "get-connector-definition-version, or a Parameters object with --version")


def _units(doc: Document) -> list[tuple[str, str]]:
    pointer, connectors = _connectors(doc)
    if pointer is None:
        return [("Parameters", "")]
    if not isinstance(connectors, list):
        return [("Connectors", pointer)]
    return [(str(c.get("Id", i)) if isinstance(c, dict) else str(i), join(pointer, i))
            for i, c in enumerate(connectors)]


def _template(doc: Document, name: str, strict: bool, region: str | None = None) -> FileResult:
    from dadc.validation import template
    findings, ours, units, suppressions = template.check(doc.data, doc.positions, region)
    result = FileResult(name, template=True, units=units, suppressions=suppressions)
    _place(doc, result, list(doc.findings) + findings, strict)
    result.connectors = [LocatedConnector(c.pointer, c.id, c.ref, c.parameters, tuple(
        f for f in result.findings if f.pointer == c.pointer or f.pointer.startswith(c.pointer + "/")))
        for c in ours]
    return result


def _place(doc: Document, result: FileResult, findings: list[Finding], strict: bool) -> None:
    for f in findings:
        if not f.line:
            line, column = (doc.positions.line_column(f.offset) if f.offset is not None
                            else doc.positions.locate(f.pointer))
            f = replace(f, line=line, column=column)
        f = replace(f, file=result.file, offset=None)
        result.findings.append(f)  # --strict: the exit code, not the severity
    result.findings.sort(key=lambda f: (f.line, f.column, f.rule))


def validate_bytes(name: str, raw: bytes, *, version: int | None = None, strict: bool = False,
                   region: str | None = None, api_shape: bool = True) -> FileResult:
    """region: a template's stack region, when known (cfn-lint's --regions)."""
    doc = load(name, raw)
    if not doc.fatal and doc.template:
        return _template(doc, name, strict, region)
    findings = list(doc.findings)
    if not doc.fatal:
        findings.extend(_collect(doc, version, api_shape))
    result = FileResult(name, fatal=doc.fatal)
    if not doc.fatal:
        result.units = _units(doc)
        result.connectors_pointer = _shape(doc)[1]
        located = _ours(doc, version)
    _place(doc, result, findings, strict)
    if not doc.fatal:
        result.connectors = [replace(c, findings=tuple(
            f for f in result.findings if f.pointer == c.pointer or f.pointer.startswith(c.pointer + "/")
            or not c.pointer)) for c in located]
    return result


def exit_code(results: list[FileResult], strict: bool) -> int:
    """0 clean; 1 errors (or warnings with --strict); 2 a file unreadable, unparsable or unusable."""
    if any(r.fatal for r in results):
        return 2
    if any(r.errors for r in results) or (strict and any(r.warnings for r in results)):
        return 1
    return 0
