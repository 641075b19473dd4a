"""The Docker engine seam: the docker CLI for what compose does not do (the project's containers
and their state, removal by label, `docker login` with the password on stdin, local images)."""
from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass
from pathlib import Path

from dadc.errors import CommandFailed, CommandNotFound, CredentialError, CredentialsUnreachable
from dadc.runtime.seams import process
from dadc.domain.images import LocalImage
from dadc.domain.labels import PROJECT_LABEL, SERVICE_LABEL
from dadc.runtime.seams.compose import find_executable
from dadc.runtime.seams.secrets import Login

log = logging.getLogger("dadc.docker")
# What docker and compose print when a registry could not be reached at all (as opposed to a
# refusal: "unauthorized", "denied", "manifest unknown"). Go's net errors, as the CLIs pass them on.
UNREACHABLE = ("connection refused", "no such host", "i/o timeout", "network is unreachable", "no route to host",
               "tls handshake timeout", "connection reset by peer", "server misbehaving",
               "temporary failure in name resolution", "context deadline exceeded",
               "client.timeout exceeded", "dial tcp", "eof")
# a refusal: words, or an HTTP status 401/403 standing alone (never the digits of a port or an
# address: a registry at 127.0.0.1:40399 refusing the connection is out of reach, not a 403)
REFUSED = re.compile(r"unauthorized|denied|forbidden|incorrect username or password|authentication required|"
                     r"(?<![\w.:/-])40[13](?![\w.:])", re.IGNORECASE)


def unreachable(text: str) -> bool:
    """A registry that could not be reached (never one that answered with a refusal)."""
    lowered = text.lower()
    return not REFUSED.search(text) and any(word in lowered for word in UNREACHABLE)


@dataclass(frozen=True)
class Container:
    id: str
    name: str
    image: str
    state: str
    health: str  # healthy, unhealthy, starting or none
    service: str = ""

    def __str__(self) -> str:
        return f"container {self.name} image={self.image} state={self.state} health={self.health}"


@dataclass(frozen=True)
class ContainerState:
    id: str
    name: str
    service: str
    status: str  # created, running, restarting, exited, dead, paused
    health: str  # healthy, unhealthy, starting, or none (no healthcheck)
    exit_code: int
    restarts: int
    image_id: str
    image: str  # the reference it was created from
    restart_policy: str = "no"  # no, on-failure, always, unless-stopped
    max_retries: int = 0  # on-failure's limit (0: none)

    @property
    def retried(self) -> bool:
        """restart: on-failure, and Docker will start it again (it is restarting, or exited non-zero
        below its retry limit): a migration that fails until its database answers is not done yet."""
        if self.restart_policy != "on-failure":
            return False
        if self.status == "restarting":
            return True
        return self.status in ("exited", "dead") and self.exit_code != 0 and \
            (self.max_retries == 0 or self.restarts < self.max_retries)

    @property
    def completed(self) -> bool:
        """A one-shot that ran to its end: exited 0, and its restart policy will not start it again."""
        return self.status == "exited" and self.exit_code == 0 and self.restart_policy in ("no", "", "on-failure")


# docker prints sizes as go-units' HumanSize: 4 significant digits, decimal units
UNITS = {"B": 1, "kB": 10**3, "KB": 10**3, "MB": 10**6, "GB": 10**9, "TB": 10**12, "PB": 10**15}
SIZE = re.compile(r"\s*([0-9.]+)\s*([kKMGTP]?B)\s*")


def human_bytes(text: str) -> int | None:
    m = SIZE.fullmatch(text)
    return int(float(m[1]) * UNITS[m[2]]) if m else None


def _health(status: str) -> str:
    for word in ("unhealthy", "healthy", "health: starting"):
        if f"({word})" in status:
            return word.replace("health: ", "")
    return "none"


@dataclass(frozen=True)
class Docker:
    binary: str
    env: dict[str, str] | None = None
    run_as: process.RunAs | None = None

    @classmethod
    def find(cls, env: dict[str, str] | None = None, run_as: process.RunAs | None = None) -> "Docker":
        found = find_executable("docker")
        if not found:
            raise CommandNotFound("docker not found on PATH, /usr/bin or /usr/local/bin")
        return cls(found, env, run_as)

    def run(self, *args: str, timeout: float | None = 60, check: bool = True, input: str | None = None,
            secrets: tuple[str, ...] = ()) -> process.Result:
        return process.run([self.binary, *args], env=self.env, run_as=self.run_as, timeout=timeout, check=check,
                           input=input, secrets=secrets)

    def containers(self, project: str) -> list[Container]:
        """The project's containers, running or not: one `docker ps` per call."""
        out = self.run("ps", "-a", "--no-trunc", "--filter", f"label={PROJECT_LABEL}={project}",
                       "--format", "{{json .}}").stdout
        found = []
        for line in out.splitlines():
            if line.strip():
                row = json.loads(line)
                labels = dict(item.partition("=")[::2] for item in row.get("Labels", "").split(",") if item)
                found.append(Container(row["ID"], row["Names"], row["Image"], row["State"], _health(row["Status"]),
                                       labels.get(SERVICE_LABEL, "")))
        return sorted(found, key=lambda c: c.name)

    def remove(self, ids: list[str], timeout: float = 300) -> None:
        if ids:
            self.run("rm", "-f", *ids, timeout=timeout)

    def states(self, project: str, ids: tuple[str, ...] = ()) -> list["ContainerState"]:
        """What the engine says of each of the project's containers: one `docker ps` (unless their
        ids are known), one `inspect`; a container gone since is left out."""
        ids = ids or tuple(self.run("ps", "-aq", "--no-trunc", "--filter",
                                    f"label={PROJECT_LABEL}={project}").stdout.split())
        if not ids:
            return []
        found = []
        for c in json.loads(self.run("inspect", *ids, check=False).stdout or "[]"):
            state = c.get("State") or {}
            labels = (c.get("Config") or {}).get("Labels") or {}
            found.append(ContainerState(
                id=c.get("Id", ""), name=str(c.get("Name", "")).lstrip("/"), service=labels.get(SERVICE_LABEL, ""),
                status=state.get("Status", ""), health=(state.get("Health") or {}).get("Status", "none"),
                exit_code=int(state.get("ExitCode") or 0), restarts=int(c.get("RestartCount") or 0),
                image_id=c.get("Image", ""), image=(c.get("Config") or {}).get("Image", ""),
                restart_policy=str(((c.get("HostConfig") or {}).get("RestartPolicy") or {}).get("Name") or "no"),
                max_retries=int(((c.get("HostConfig") or {}).get("RestartPolicy") or {}).get("MaximumRetryCount") or 0)))
        return sorted(found, key=lambda c: c.name)

    def repo_digests(self, image_ids: list[str]) -> dict[str, list[str]]:
        """Each image's repo digests (how to pull it again exactly), in one call."""
        if not image_ids:
            return {}
        out = self.run("image", "inspect", "--format", "{{.Id}} {{json .RepoDigests}}", *image_ids, check=False)
        found: dict[str, list[str]] = {i: [] for i in image_ids}
        for line in out.stdout.splitlines():
            image_id, _, digests = line.partition(" ")
            try:
                found[image_id] = [str(d) for d in json.loads(digests or "[]") or []]
            except ValueError:
                pass
        return found

    def tag(self, source: str, target: str) -> None:
        self.run("tag", source, target)

    def pull(self, reference: str) -> None:
        self.run("pull", reference, timeout=600)

    def image_ids(self, refs: list[str] | tuple[str, ...]) -> dict[str, str]:
        """The local image each reference names (one call when all are present); absent ones left out."""
        refs = list(dict.fromkeys(refs))
        if not refs:
            return {}
        done = self.run("image", "inspect", "--format", "{{.Id}}", *refs, check=False)
        if done.returncode == 0 and len(done.stdout.split()) == len(refs):
            return dict(zip(refs, done.stdout.split()))
        found = {}
        for ref in refs:
            one = self.run("image", "inspect", "--format", "{{.Id}}", ref, check=False)
            if one.returncode == 0 and one.stdout.strip():
                found[ref] = one.stdout.strip()
        return found

    def missing_images(self, images: tuple[str, ...]) -> list[str]:
        """Which of these images the engine does not have locally (one call when all are there)."""
        if not images or self.run("image", "inspect", "--format", "{{.Id}}", *images, check=False).returncode == 0:
            return []
        return [image for image in images
                if self.run("image", "inspect", "--format", "{{.Id}}", image, check=False).returncode != 0]

    def local_images(self) -> list[LocalImage]:
        """Every image the engine keeps (not build layers) with its references, in two calls."""
        ids = list(dict.fromkeys(self.run("image", "ls", "-q", "--no-trunc").stdout.split()))
        if not ids:
            return []
        out = self.run("image", "inspect", "--format", "{{json .}}", *ids, check=False).stdout
        found = []
        for line in out.splitlines():
            if line.strip():
                row = json.loads(line)
                found.append(LocalImage(str(row.get("Id", "")), tuple(row.get("RepoTags") or ()),
                                        tuple(row.get("RepoDigests") or ())))
        return found

    def images_in_use(self) -> set[str]:
        """The image ids of every container on the engine, of any project, running or not."""
        ids = self.run("ps", "-aq", "--no-trunc").stdout.split()
        if not ids:
            return set()
        return set(self.run("inspect", "--format", "{{.Image}}", *ids, check=False).stdout.split())

    def remove_image(self, reference: str) -> None:
        """docker image rm, never forced: the engine refuses an image a container uses."""
        self.run("image", "rm", reference, timeout=300)

    def images_size(self) -> int | None:
        """The engine's own figure for the disk its images take (shared layers once), in bytes."""
        try:
            done = self.run("system", "df", "--format", "{{json .}}", check=False)
        except CommandFailed:  # past its limit on a host with many volumes: the figure is unknown
            return None
        for line in done.stdout.splitlines():
            try:
                row = json.loads(line)
            except ValueError:
                continue
            if row.get("Type") == "Images":
                return human_bytes(str(row.get("Size", "")))
        return None

    def login(self, config_dir: Path, login: Login, timeout: float | None = 120) -> None:
        """docker --config DIR login -u USER --password-stdin HOST; the file docker writes stays 0600.
        CredentialError carries docker's own answer (scrubbed), never the password."""
        try:
            self.run("--config", str(config_dir), "login", "-u", login.username, "--password-stdin", login.registry,
                     input=login.password, secrets=(login.password,), timeout=timeout or 120)
        except CommandFailed as exc:
            text = process.scrub(str(exc), [login.password])
            gone = exc.timed_out or unreachable(exc.stderr or text)
            kind = CredentialsUnreachable if gone else CredentialError
            raise kind(f"docker login to {login.registry} ({login.source}) failed: {text}") from None
        log.info("logged in to %s as %s (%s)", login.registry, login.username, login.source)
