"""The fake `docker-compose`: pull, up, down, config and version of the cases' compose files."""
from __future__ import annotations

import hashlib
import re
from typing import Callable, Sequence

from .state import REFUSED_OFFLINE, Fake, Reply, file_hash, relay

SERVICE = re.compile(r"^  ([A-Za-z0-9_.-]+):[ \t]*$")


class Compose(Fake):
    ACTIONS = ("pull", "down", "up", "version", "config")

    def call(self, argv: Sequence[str], stdin: str | None) -> Reply:
        self.journal("compose", argv, False)
        real = self.env.get("DADC_REAL_COMPOSE")
        if real:
            return relay([*real.split(), *argv], None)  # "docker compose" is two words on purpose
        action = next((a for prev, a in zip(["", *argv], argv) if a in self.ACTIONS and prev not in ("-f", "-p")), "")
        named = [argv[i + 1] for i, a in enumerate(argv[:-1]) if a == "-p"]
        if named and action == "up":
            self.project_file.write_text(named[-1])
        text = self.file.read_text() if self.file and self.file.is_file() else ""
        if action in ("config", "up"):
            bad = refused_service(text)
            if bad:
                return 1, "", f'service "{bad}" has neither an image nor a build context specified: invalid compose project\n'
        handler = COMPOSE.get(action)
        return handler(self, text) if handler else (0, "", "")

    def remote_id(self, ref: str) -> str:
        """What the registry gives: by digest, that; the last one it served; else an id made from the ref."""
        if "@" in ref:
            return ref.split("@", 1)[1]
        served = [row[1] for row in self._rows(self.registry) if len(row) > 1 and row[0] == ref]
        return served[-1] if served else "sha256:" + hashlib.sha256(ref.encode()).hexdigest()[:12]

    def fetch(self, image: str) -> str:
        """What a pull does; the error, or ''."""
        if "/missing/" in image:
            return f"pull access denied for {image}\n"
        if self.unreachable(image):
            return f'Get "https://{image.split("/")[0]}/v2/": {REFUSED_OFFLINE}\n'
        image_id = self.remote_id(image)
        self.store(image, image_id)
        if [image, image_id] not in self._rows(self.registry):  # what the registry served: pullable by digest
            with open(self.registry, "a") as registry:
                registry.write(f"{image} {image_id}\n")
        return ""

    def version(self, text: str) -> Reply:
        return 0, "Docker Compose version v2.99.0-dadc-recorded\n", ""

    def config(self, text: str) -> Reply:
        return 0, text, ""

    def pull(self, text: str) -> Reply:
        for image in file_images(text):
            error = self.fetch(image)
            if error:
                return 1, "", error
        return 0, "", ""

    def down(self, text: str) -> Reply:
        if "broken" in text:
            return 1, "", "yaml: did not find expected ',' or ']'\n"
        self.state.write_text("")
        return 0, "", ""

    def up(self, text: str) -> Reply:
        for image in file_images(text):
            error = "" if self.local_id(image) else self.fetch(image)
            if error:
                return 1, "", error
        digest = file_hash(self.file) if self.file and self.file.is_file() else "-"
        services = file_services(text)
        rows = [f"{name} {behaviour} {image} {self.local_id(image)} {i}"
                for name, behaviour, image, replicas in services for i in range(1, replicas + 1)]
        self.state.write_text("".join(line + "\n" for line in [digest, *rows]))
        taken = next((name for name, behaviour, _, _ in services if behaviour == "unstartable"), None)
        if taken:  # as the engine answers when a host port is in use: created, never started
            return 1, "", (f"Error response from daemon: driver failed programming external connectivity on endpoint "
                           f"{self.project}-{taken}-1: Error starting userland proxy: listen tcp4 127.0.0.1: bind: "
                           "address already in use\n")
        return 0, "", ""


def file_images(text: str) -> list[str]:
    """Every `image:` at any depth (a merge key's too), as the cases' files are laid out."""
    return [m.group(1) for m in re.finditer(r"^ *image: *(.*)$", text, re.M)]


def file_services(text: str) -> list[tuple[str, str, str, int]]:
    """(service, behaviour, image, replicas) from the layout the cases' files have (`scale: N` or
    `deploy: replicas: N`, as compose reads them)."""
    found: list[list[str]] = []
    for line in text.splitlines():
        start = SERVICE.match(line)
        if start:
            found.append([start.group(1), "none", "-", "1"])
        elif found and line.startswith("    image:"):
            found[-1][2] = (line.split() + [""])[1]
        elif found and re.match(r"^(    scale|      replicas): *\d+ *$", line):
            found[-1][3] = line.split(":")[1].strip()
        if found and "dadc.behaviour:" in line:
            found[-1][1] = (line.split() + [""])[1]
    return [(s, b, i, int(n)) for s, b, i, n in found]


def refused_service(text: str) -> str:
    """What compose itself refuses: a service with neither an image nor a build context."""
    bad, service, ok, in_services = "", "", False, False
    for line in text.splitlines():
        if re.match(r"[A-Za-z]", line):
            bad = service if service and not ok else bad
            service, in_services = "", line.startswith("services:")
        start = SERVICE.match(line)
        if in_services and start:
            bad = service if service and not ok else bad
            service, ok = start.group(1), False
        if re.match(r"^    (image|build|extends|<<):", line):
            ok = True
    return service if service and not ok else bad


Handler = Callable[[Compose, str], Reply]
COMPOSE: dict[str, Handler] = {name: getattr(Compose, name) for name in Compose.ACTIONS}
