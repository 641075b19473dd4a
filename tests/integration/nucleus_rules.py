"""The nucleus's rules the stand-in (nucleus.py) follows, each beside the source it follows
(aws-greengrass/aws-greengrass-nucleus; docs/ggv2.md lists them). Pure where it can be: the
configuration, the recipe variables, `docker:` URIs, version requirements, the token exchange
endpoint (which can answer as it does offline)."""
from __future__ import annotations

import copy
import http.server
import json
import re
import secrets
import threading
import time
from typing import Any

from packaging.specifiers import SpecifierSet
from packaging.version import Version

# Lifecycle.java: DEFAULT_INSTALL_STAGE_TIMEOUT_IN_SEC, DEFAULT_STARTUP_STAGE_TIMEOUT_IN_SEC,
# DEFAULT_SHUTDOWN_STAGE_TIMEOUT_IN_SEC; the uninstall step's default (2.17) is 120 s
DEFAULT_TIMEOUT = {"install": 120, "startup": 120, "shutdown": 15, "uninstall": 120}
MAXIMUM_CONTINUAL_ERROR = 3  # Lifecycle.java: three ERRORED in a row make a service BROKEN
KERNEL_STOP_SECONDS = 30  # the kernel's shutdown: every service stopped within 30 s, then killed
GRACE = 5.0  # Exec.close(): SIGTERM to the process tree, SIGKILL after the grace
UNINSTALL_SINCE = Version("2.17.0")  # the Uninstall lifecycle step

# KernelConfigResolver: {namespace:key}; an unknown namespace is logged as an error and left as written
SAME_COMPONENT = re.compile(r"\{([.\w]+):([^:}]+)}")
NAMESPACES = {"artifacts", "work", "configuration", "iot", "kernel"}

# What the stand-in knows of a dependency version's own nucleus requirement (the issue that brought
# these rules: DockerApplicationManager 2.0.0 requires nucleus >=2.1.0 <2.2.0). The dependency
# resolver refuses a deployment that would move the nucleus's minor version for a dependency.
NUCLEUS_REQUIREMENTS = {("aws.greengrass.DockerApplicationManager", "2.0.0"): ">=2.1.0 <2.2.0"}


class Refused(Exception):
    """The nucleus refuses the deployment before anything runs (its error code first)."""


def requirement(text: str) -> SpecifierSet:
    """A recipe's VersionRequirement (npm-style, space-separated) as a specifier set."""
    return SpecifierSet(",".join(text.split()))


def check_versions(nucleus: str, components: dict[str, Any], recipes: dict[str, dict[str, Any]]) -> None:
    """DependencyResolver: every dependency a pinned version (or left to the cloud's resolution,
    which picks one that runs on this nucleus), every pin within the dependants' requirements, and
    no pin whose own nucleus requirement excludes this nucleus."""
    pins = {name: c["componentVersion"] for name, c in components.items()}
    for name, version in pins.items():
        need = NUCLEUS_REQUIREMENTS.get((name, version))
        if need and Version(nucleus) not in requirement(need):
            raise Refused(f"UNAUTHORIZED_NUCLEUS_MINOR_VERSION_UPDATE: {name} {version} requires the nucleus "
                          f"{need}; this device runs {nucleus}")
    for name, recipe in recipes.items():
        for dep, spec in (recipe.get("ComponentDependencies") or {}).items():
            if dep in pins and Version(pins[dep]) not in requirement(spec["VersionRequirement"]):
                raise Refused(f"NO_AVAILABLE_COMPONENT_VERSION: {name} needs {dep} {spec['VersionRequirement']}, "
                              f"the deployment pins {pins[dep]}")


def _pointer_path(pointer: str) -> list[str]:
    return [p.replace("~1", "/").replace("~0", "~") for p in pointer.split("/")[1:]]


def _merge(base: dict[str, Any], update: dict[str, Any], only_missing: bool = False) -> dict[str, Any]:
    out = copy.deepcopy(base)
    for key, value in update.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value, only_missing)
        elif not only_missing or key not in out:
            out[key] = copy.deepcopy(value)
    return out


def resolve_configuration(running: dict[str, Any] | None, defaults: dict[str, Any],
                          update: dict[str, Any] | None) -> dict[str, Any]:
    """KernelConfigResolver.resolveConfigurationToApply: the running configuration, the reset paths
    removed ("" is the whole document), the recipe's defaults merged in without overwriting, then the
    deployment's merge."""
    config = copy.deepcopy(running or {})
    for pointer in (update or {}).get("reset", []):
        if pointer == "":
            config = {}
            continue
        *parents, last = _pointer_path(pointer)
        node: Any = config
        for part in parents:
            node = node.get(part) if isinstance(node, dict) else None
        if isinstance(node, dict):
            node.pop(last, None)
    config = _merge(config, defaults, only_missing=True)
    merge = (update or {}).get("merge")
    return _merge(config, json.loads(merge)) if merge else config


def _pointer(doc: Any, pointer: str) -> Any:
    for part in _pointer_path(pointer):
        if not isinstance(doc, dict) or part not in doc:
            return None
        doc = doc[part]
    return doc


def interpolate(value: Any, values: dict[str, str], configuration: dict[str, Any], errors: list[str]) -> Any:
    """Every string under Lifecycle: {artifacts:path}, {work:path}, {iot:thingName}, {configuration:/P}
    (a value as text, an object as JSON, a missing one left as written); any other {x:y} is logged as
    an error (errors) and left as written."""
    if isinstance(value, dict):
        return {k: interpolate(v, values, configuration, errors) for k, v in value.items()}
    if not isinstance(value, str):
        return value

    def one(m: re.Match[str]) -> str:
        space, key = m[1], m[2]
        if space not in NAMESPACES:
            errors.append(f"unrecognized namespace for interpolation: {m[0]}")
            return m[0]
        if space == "configuration":
            found = _pointer(configuration, key)
            if found is None:
                return m[0]
            return json.dumps(found, separators=(",", ":")) if isinstance(found, (dict, list)) else \
                (str(found).lower() if isinstance(found, bool) else str(found))
        return values.get(f"{space}:{key}", m[0])
    return SAME_COMPONENT.sub(one, value)


# DockerImageArtifactParser: registry, path, then a tag or a digest, never both
_DOMAIN = re.compile(r"^([a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])(\.([a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*"
                     r"[a-zA-Z0-9]))*(:[0-9]+)?$")
_PATH = re.compile(r"^(([a-z0-9]+)(([_.]|__|[-]*)([a-z0-9]+))*(/([a-z0-9]+)(([_.]|__|[-]*)([a-z0-9]+))*)*)$")
_TAG = re.compile(r"^([\w][\w.-]{0,127})$")
_DIGEST = re.compile(r"^([A-Za-z][A-Za-z0-9]*:[0-9a-fA-F]{32,})$")


def docker_image(uri: str) -> tuple[str, str, str]:
    """(registry, name, tag or digest) of a docker: URI, or Refused (DOCKER_ARTIFACT_URI_NOT_VALID)."""
    rest = uri[uri.index(":") + 1:]
    registry = ""
    if "/" in rest:
        registry, rest = rest.split("/", 1)
        if not rest or not _DOMAIN.search(registry):
            raise Refused(f"DOCKER_ARTIFACT_URI_NOT_VALID: {uri}")
    if "@" in rest:
        name, ref = rest.split("@", 1)
        ok = bool(ref) and bool(_DIGEST.search(ref))
        ref = "@" + ref
    elif ":" in rest:
        name, ref = rest.split(":", 1)
        ok = bool(ref) and bool(_TAG.search(ref))
        ref = ":" + ref
    else:
        name, ref, ok = rest, ":latest", True
    if not ok or not _PATH.search(name):
        raise Refused(f"DOCKER_ARTIFACT_URI_NOT_VALID: {uri}")
    return registry, name, ref


def pull_needed(ref: str, present: bool) -> bool:
    """The stricter of the downloader's rules reported for 2.18: a docker: artifact is pulled for
    :latest or when the image is missing (the versions we could read pull every time; an export that
    holds under the stricter rule holds under both)."""
    return ref == ":latest" or not present


class TokenExchange(http.server.ThreadingHTTPServer):
    """The credentials the token exchange service hands components, behind its token. answer: 200,
    or 500 (offline: it cannot reach AWS IoT's credentials provider), or 504 (after `late` seconds)."""

    daemon_threads = True

    def __init__(self, credentials: dict[str, str]) -> None:
        self.token = secrets.token_hex(16)
        self.credentials = credentials
        self.requests = 0
        self.answer, self.late = 200, 0.0
        super().__init__(("127.0.0.1", 0), _Handler)
        threading.Thread(target=self.serve_forever, daemon=True).start()

    @property
    def uri(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/2016-11-01/credentialprovider/"


class _Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 (the http.server API)
        server: TokenExchange = self.server  # type: ignore[assignment]
        if self.headers.get("Authorization") != server.token:
            self.send_response(403)
            self.end_headers()
            return
        server.requests += 1
        if server.answer != 200:
            time.sleep(server.late)
            self.send_response(server.answer)
            self.end_headers()
            return
        body = json.dumps({**server.credentials, "Expiration": "2099-01-01T00:00:00Z"}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass
