"""Compose settings that hand a container the host: warnings, judged on what compose's own `config`
printed (so `extends`, anchors, merge keys and interpolation cannot hide a setting), located in
the file as written (the setting's own line where it is written there, else its service's)."""
from __future__ import annotations

import re
from typing import Any, Iterator

import yaml

from dadc.validation.findings import Finding, rule

COMPOSE_DOCS = "https://docs.docker.com/reference/compose-file/services/"
PRIVILEGED = rule("W7001", "compose-privileged", "A service runs `privileged: true`: every device and capability "
                  "of the host; a fleet-wide compose file should not need it.", COMPOSE_DOCS + "#privileged")
HOST_NAMESPACE = rule("W7002", "compose-host-namespace", "A service shares the host's `pid`, `ipc` or user "
                      "namespace (`userns_mode: host`: root in it is root on the host when the engine remaps users), "
                      "or its network (`network_mode: host`) while adding capabilities: it can see and act on the "
                      "host's processes or network.", COMPOSE_DOCS + "#pid")
CAP_ALL = rule("W7003", "compose-cap-add-all", "`cap_add: [ALL]` gives a service every capability: as good as "
               "privileged.", COMPOSE_DOCS + "#cap_add")
HOST_MOUNT = rule("W7004", "compose-host-mount", "A bind mount of `/`, `/etc`, `/proc`, `/sys`, `/run`, `/var/run` or "
                  "the Docker socket: the container can change the host or, through the socket, start anything "
                  "on it as root.", COMPOSE_DOCS + "#volumes")
DEVICES = rule("W7005", "compose-devices", "A service maps host devices (`devices`).", COMPOSE_DOCS + "#devices")
UNCONFINED = rule("W7006", "compose-unconfined", "`security_opt` turns off seccomp or AppArmor for a service.",
                  COMPOSE_DOCS + "#security_opt")
UNPINNED = rule("W7007", "compose-image-unpinned", "An image with neither a tag nor a digest runs whatever `latest` "
                "is at the next pull: pin a tag, or better a digest.", COMPOSE_DOCS + "#image")

PROJECT_MOUNT = rule("W7010", "compose-project-mount", "A bind mount whose source is the compose project's own "
                    "directory or a folder above it (`.`, `./`, `..`, an absolute path that contains it): the "
                    "container can read and rewrite the local copy of the compose file, its `.env`, and the "
                    "registry credentials the connector keeps in `.docker/config.json` (the getting-started "
                    "`.:/code` shape).", COMPOSE_DOCS + "#volumes")

REFUSED = rule("E7008", "compose-refuses", "The compose CLI refuses the file (its own reason is given): "
                "no version of the connector could run it.", COMPOSE_DOCS)
UNREAD = rule("I7009", "compose-not-consulted", "No compose CLI was found, so the file was judged as written: "
              "what `extends`, `include` or interpolation bring was not seen.", COMPOSE_DOCS)

HOST_PATHS = ("/", "/etc", "/proc", "/sys", "/run", "/var/run", "/var/run/docker.sock", "/run/docker.sock")


def _esc(name: str) -> str:
    return name.replace("~", "~0").replace("/", "~1")


def _bind_sources(volumes: Any) -> Iterator[tuple[int, str]]:
    """(index, host path) of each bind mount: compose v2 prints the long form, v1 the short one."""
    for i, v in enumerate(volumes if isinstance(volumes, list) else []):
        if isinstance(v, dict):
            if v.get("type", "bind") == "bind" and isinstance(v.get("source"), str):
                yield i, v["source"]
        elif isinstance(v, str) and ":" in v and v.startswith("/"):
            yield i, v.split(":", 1)[0]


def _unpinned(image: str) -> bool:
    if "@" in image:
        return False
    last = image.rsplit("/", 1)[-1]
    return ":" not in last


def _list(value: Any) -> list[Any]:
    """A setting compose prints as a list; anything else (a hostile file judged as written) is none."""
    return value if isinstance(value, list) else []


def _contains(source: str, project_dir: str) -> bool:
    """The bind source is the project directory or a folder above it (compose prints it absolute)."""
    import posixpath
    src = posixpath.normpath(source)
    return project_dir == src or project_dir.startswith(src.rstrip("/") + "/")


def check(doc: Any, project_dir: str | None = None) -> list[Finding]:
    """The warnings for a project as compose's `config` printed it. project_dir: the folder compose
    ran in (the destination, or a validated file's folder), for W7010."""
    services = doc.get("services") if isinstance(doc, dict) else None
    found: list[Finding] = []
    for name, spec in (services if isinstance(services, dict) else {}).items():
        if not isinstance(spec, dict):
            continue
        at = f"/services/{_esc(str(name))}"
        caps = [str(c).upper().removeprefix("CAP_") for c in _list(spec.get("cap_add"))]
        if spec.get("privileged") is True:
            found.append(PRIVILEGED(f"{at}/privileged", f"service {name} runs privileged"))
        for key, space in (("pid", "pid"), ("ipc", "ipc"), ("userns_mode", "user")):
            if str(spec.get(key, "")).lower() == "host":
                found.append(HOST_NAMESPACE(f"{at}/{key}", f"service {name} shares the host's {space} namespace"))
        if str(spec.get("network_mode", "")).lower() == "host" and caps:
            found.append(HOST_NAMESPACE(f"{at}/network_mode", f"service {name} uses the host's network and adds "
                                        f"capabilities {', '.join(caps)}"))
        if "ALL" in caps:
            found.append(CAP_ALL(f"{at}/cap_add", f"service {name} adds every capability (cap_add: ALL)"))
        for index, source in _bind_sources(spec.get("volumes")):
            path = "/" + source.strip("/") if source.strip("/") else "/"
            if path in HOST_PATHS:
                found.append(HOST_MOUNT(f"{at}/volumes/{index}", f"service {name} mounts the host's {path}"))
            elif project_dir and _contains(path, project_dir):
                what = "the project directory" if path == project_dir.rstrip("/") else f"{path}, which holds the project directory"
                found.append(PROJECT_MOUNT(f"{at}/volumes/{index}", f"service {name} bind-mounts {what} ({project_dir}): "
                                           "the container can rewrite the compose file, its .env and the registry "
                                           "credentials in .docker/config.json"))
        if spec.get("devices"):
            found.append(DEVICES(f"{at}/devices", f"service {name} maps host devices"))
        for option in _list(spec.get("security_opt")):
            if re.fullmatch(r"(seccomp|apparmor)[:=]unconfined", str(option).strip(), re.IGNORECASE):
                found.append(UNCONFINED(f"{at}/security_opt", f"service {name}: security_opt {option}"))
        image = spec.get("image")
        if isinstance(image, str) and "build" not in spec and _unpinned(image):
            found.append(UNPINNED(f"{at}/image", f"service {name}: image {image} has neither a tag nor a digest"))
    return found


def _child(node: Any, key: str) -> tuple[Any, Any] | None:
    if isinstance(node, yaml.MappingNode):
        for k, v in node.value:
            if isinstance(k, yaml.ScalarNode) and k.value == key:
                return k, v
    return None


_COMPOSE_PATH = re.compile(r"\b(services(?:\.[A-Za-z0-9_.-]+?)*)(?= |:|$)")


def pointer_of(reason: str) -> str:
    """Where compose's own refusal points, when it names a path (`services.web.image must be a
    string`): as a pointer; '' otherwise."""
    found = _COMPOSE_PATH.search(reason)
    return "/" + "/".join(_esc(p) for p in found.group(1).split(".")) if found else ""


def locate(findings: list[Finding], raw: bytes | str, file: str) -> list[Finding]:
    """Each finding at its place in the file as written: the deepest key of its pointer the file
    writes (the setting's own line, else its service's: it came by extends, a merge key or an
    include), else line 1."""
    from dataclasses import replace
    try:
        text = raw.decode("utf-8") if isinstance(raw, bytes) else raw
        root = next(iter(yaml.compose_all(text, Loader=yaml.SafeLoader)), None)  # the first document
    except (yaml.YAMLError, UnicodeDecodeError, RecursionError):
        root = None
    placed = []
    for f in findings:
        parts = [p.replace("~1", "/").replace("~0", "~") for p in f.pointer.strip("/").split("/") if p]
        node, mark = root, None
        for part in parts[:3]:  # services / NAME / SETTING
            pair = _child(node, part)
            if pair is None:
                break
            mark, node = pair[0].start_mark, pair[1]
        line, column = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        placed.append(replace(f, line=line, column=column, file=file))
    return placed
