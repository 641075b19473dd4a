"""From a definition (or a bare Parameters object) to the configuration the runtime runs: one
pass through the validator, whose located connector is used as is."""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

from dadc import arn, profiles
from dadc.errors import DefinitionUnreadable, InvalidParameter
from dadc.validation.engine import FileResult, LocatedConnector, validate_bytes
from dadc.validation.findings import Finding


@dataclass(frozen=True)
class Config:
    profile: profiles.Profile
    params: dict[str, str]
    region: str | None
    source: str  # the file or s3:// URL, for messages
    digest: str = ""  # of the connector's ARN and parameters: a changed definition changes it

    @property
    def destination(self) -> Path:
        return Path(self.params["DockerComposeFileDestinationPath"])

    def value(self, name: str) -> str | None:
        return self.profile.effective(self.params).get(name)

    def secret_arns(self) -> list[str]:
        raw = self.params.get("AWSSecretsArnList")
        return json.loads(raw) if raw else []


def _raise(errors: list[Finding], source: str, kind: type[InvalidParameter] = InvalidParameter) -> None:
    first = errors[0]
    more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
    raise kind(f"{source}:{first.line}:{first.column}: {first.rule} {first.message}{more}")


def _names(c: LocatedConnector) -> set[str | None]:
    """A connector's Id; in a template also LOGICAL-ID/Id (two resources may use the same Id)."""
    parts = c.pointer.split("/")
    return {c.id, f"{parts[2]}/{c.id}"} if c.pointer.startswith("/Resources/") else {c.id}


def _pick(connectors: list[LocatedConnector], connector_id: str | None, source: str) -> LocatedConnector:
    ours = [c for c in connectors if connector_id is None or connector_id in _names(c)]
    if not ours:
        which = f" with Id {connector_id!r}" if connector_id else ""
        raise InvalidParameter(f"{source}: no DockerApplicationDeployment connector{which}")
    if len(ours) > 1:
        raise InvalidParameter(f"{source}: several DockerApplicationDeployment connectors; pick one with --connector-id"
                               " (in a template, LOGICAL-ID/Id names one)")
    from dadc.validation.rules_parameters import Deferred
    later = [name for name, value in (ours[0].parameters or {}).items() if isinstance(value, Deferred)]
    if later:  # a template's value CloudFormation decides: dadc cannot run what it cannot know
        raise InvalidParameter(f"{source}: connector {ours[0].id or ours[0].pointer} has parameters CloudFormation "
                               f"sets at deploy time: {', '.join(later)}; give them literal values to run it here "
                               "(or --parameters with the deployed ones)")
    return ours[0]


def from_bytes(source: str, raw: bytes, *, version: str | None = None, connector_id: str | None = None,
               bare: bool = False, api_shape: bool = True) -> Config:
    """Validate and pick our connector; raise InvalidParameter naming the first error and its place.
    bare: raw is a Parameters object and version (N, vN, an ARN, latest) says whose."""
    return located(source, raw, version=version, connector_id=connector_id, bare=bare, api_shape=api_shape)[0]


def located(source: str, raw: bytes, *, version: str | None = None, connector_id: str | None = None,
            bare: bool = False, api_shape: bool = True) -> tuple[Config, LocatedConnector, FileResult]:
    """from_bytes, with the connector as the validator located it and the whole file's result
    (`dadc export` names the other connectors it leaves out)."""
    ref = None
    if bare:
        if not version:
            raise InvalidParameter("--parameters needs --version")
        ref = arn.resolve(version)
    result = validate_bytes(source, raw, version=ref.version if ref else None, api_shape=api_shape)
    if result.fatal:  # not JSON, not a template: bad usage (exit 2), like a file that cannot be read
        _raise([f for f in result.findings if f.severity == "error"], source, DefinitionUnreadable)
    if result.document_errors:
        _raise(result.document_errors, source)
    errors = [f for f in result.findings if f.severity == "error"]
    if not result.connectors and errors:  # no connector could be made out: say why, where
        _raise(errors, source)
    connector = _pick(result.connectors, connector_id, source)
    if connector.errors:
        _raise(connector.errors, source)
    assert connector.ref is not None  # an unreadable ARN is an error above
    region = connector.ref.region or (ref.region if ref else None)
    params = dict(connector.parameters or {})
    digest = hashlib.sha256(json.dumps([connector.ref.version, params], sort_keys=True).encode()).hexdigest()
    return Config(profiles.get(connector.ref.version), params, region, source, digest), connector, result
