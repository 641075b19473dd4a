"""From --definition / --parameters to a validated connector configuration."""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from connector import arn, profiles
from connector.errors import InvalidParameter
from connector.validation import rules_connectors
from connector.validation.engine import validate_bytes
from connector.validation.findings import Finding


@dataclass(frozen=True)
class Config:
    profile: profiles.Profile
    params: dict[str, str]
    region: str | None
    source: str  # the file, for messages

    @property
    def destination(self) -> Path:
        return Path(self.params["DockerComposeFileDestinationPath"])

    def value(self, name: str) -> str | None:
        return self.profile.effective(self.params).get(name)

    def flag(self, name: str) -> bool:
        return self.profile.flag(self.params, name)

    def secret_arns(self) -> list[str]:
        raw = self.params.get("AWSSecretsArnList")
        return json.loads(raw) if raw else []


def _errors(findings: list[Finding], prefix: str) -> list[Finding]:
    return [f for f in findings if f.severity == "error" and (f.pointer == prefix or f.pointer.startswith(prefix + "/") or not f.pointer.startswith("/"))]


def _raise(errors: list[Finding], source: str) -> None:
    first = errors[0]
    more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
    raise InvalidParameter(f"{source}:{first.line}:{first.column}: {first.rule} {first.message}{more}",
                           findings=[f.to_json() for f in errors])


def load(definition: str | None, parameters: str | None, version: str | None,
         connector_id: str | None) -> Config:
    """Read and validate; raise InvalidParameter naming the first error and its place."""
    path = definition or parameters
    assert path is not None
    try:
        raw = Path(path).read_bytes()
    except OSError as exc:
        raise InvalidParameter(f"cannot read {path}: {exc.strerror}") from None
    if parameters:
        if not version:
            raise InvalidParameter("--parameters needs --version")
        ref = arn.resolve(version)
        result = validate_bytes(path, raw, version=ref.version)
        errors = [f for f in result.findings if f.severity == "error"]
        if errors:
            _raise(errors, path)
        return Config(profiles.get(ref.version), json.loads(raw), ref.region, path)
    result = validate_bytes(path, raw)
    if result.fatal:
        _raise([f for f in result.findings if f.severity == "error"], path)
    data = json.loads(raw)
    pointer, _ = rules_connectors.connectors_pointer(data)
    connectors: Any = rules_connectors.connectors_at(data, pointer) if pointer else []
    ours = [(i, c) for i, c in enumerate(connectors if isinstance(connectors, list) else [])
            if isinstance(c, dict) and isinstance(c.get("ConnectorArn"), str) and arn.is_this_connector(c["ConnectorArn"])
            and (connector_id is None or c.get("Id") == connector_id)]
    if not ours:
        which = f" with Id {connector_id!r}" if connector_id else ""
        raise InvalidParameter(f"{path}: no DockerApplicationDeployment connector{which}")
    if len(ours) > 1:
        raise InvalidParameter(f"{path}: several DockerApplicationDeployment connectors; pick one with --connector-id")
    index, connector = ours[0]
    errors = _errors(result.findings, f"{pointer}/{index}")
    if errors:
        _raise(errors, path)
    ref = arn.parse_connector_arn(connector["ConnectorArn"])
    return Config(profiles.get(ref.version), dict(connector.get("Parameters") or {}), ref.region, path)
