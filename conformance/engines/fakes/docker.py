"""The fake `docker`: the subcommands dadc runs, on the state files (see the package's doc)."""
from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Callable, Sequence

from .state import REFUSED_OFFLINE, Fake, Reply, container_id, relay


class Docker(Fake):
    def call(self, argv: Sequence[str], stdin: str | None) -> Reply:
        password = (stdin or "").rstrip("\n") if "--password-stdin" in argv else ""
        self.journal("docker", argv, bool(password))
        real = self.env.get("DADC_REAL_DOCKER")
        if real:
            return relay([real, *argv], password if password else None)
        args = list(argv)
        while args and args[0].startswith("-"):
            args = args[2:] if args[0] == "--config" else args[1:]
        sub, rest = (args[0], args[1:]) if args else ("", [])
        handler = DOCKER.get(sub)
        return handler(self, rest, argv[-1] if argv else "", password) if handler else (0, "", "")

    def version(self, rest: list[str], last: str, password: str) -> Reply:
        return 0, "Docker version 0.0.0-dadc-recorded\n", ""

    def login(self, rest: list[str], last: str, password: str) -> Reply:
        if not password:
            return 1, "", "Error: no password on stdin\n"
        if self.unreachable(last):
            return 1, "", f'Error response from daemon: Get "https://{last}/v2/": {REFUSED_OFFLINE}\n'
        if password == "wrong-password":
            return 1, "", f"Error response from daemon: login attempt to http://{last}/v2/ failed with status: 401 Unauthorized\n"
        return 0, "Login Succeeded\n", ""

    def ps(self, rest: list[str], last: str, password: str) -> Reply:
        if "-q" in rest or "-aq" in rest:
            return 0, "".join(f"{container_id(row)}\n" for row in self.services()), ""
        lines = []
        for row in self.services():
            name, behaviour, image, _, replica = row
            state = {"exits": "exited", "oneshot": "exited", "crashloop": "restarting",
                     "unstartable": "created"}.get(behaviour, "running")
            lines.append(json.dumps({"ID": container_id(row), "Names": f"{self.project}-{name}-{replica}", "Image": image,
                                     "State": state, "Status": "Up 1 second",
                                     "Labels": f"com.docker.compose.project={self.project},com.docker.compose.service={name}"},
                                    separators=(",", ":")))
        return 0, "".join(line + "\n" for line in lines), ""

    def inspect(self, rest: list[str], last: str, password: str) -> Reply:
        """Containers: the fields the health gate and the release record read."""
        by_id = {container_id(row): row for row in self.services()}
        found, missing = [], False
        for cid in rest:
            if cid not in by_id:
                missing = True
                continue
            name, behaviour, image, image_id, replica = by_id[cid]
            state: dict[str, object] = {"Status": "running", "ExitCode": 0}
            restarts, policy = 0, "always"
            if behaviour in ("healthy", "unhealthy"):
                state["Health"] = {"Status": behaviour}
            elif behaviour == "probe":
                healthy = Path(self.env.get("DADC_FAKE_DEST", "/nonexistent"), "probe", "healthy").exists()
                state["Health"] = {"Status": "healthy" if healthy else "unhealthy"}
            elif behaviour == "exits":
                state.update(Status="exited", ExitCode=1)
            elif behaviour == "oneshot":
                state.update(Status="exited", ExitCode=0)
                policy = "no"
            elif behaviour == "crashloop":
                state.update(Status="restarting", ExitCode=1)
                restarts = 3
            elif behaviour == "unstartable":
                state.update(Status="created", ExitCode=128)
            found.append({"Id": cid, "Name": f"/{self.project}-{name}-{replica}", "RestartCount": restarts, "Image": image_id,
                          "State": state, "HostConfig": {"RestartPolicy": {"Name": policy}},
                          "Config": {"Image": image, "Labels": {"com.docker.compose.service": name}}})
        return (1 if missing else 0), json.dumps(found) + "\n", "Error: No such object\n" if missing else ""

    def image(self, rest: list[str], last: str, password: str) -> Reply:
        """image inspect [--format F] REF-or-ID...: presence (the exit status), ids, or "ID [repo digests]"."""
        if rest[:1] == ["inspect"]:
            rest = rest[1:]
        form = ""
        if rest[:1] == ["--format"]:
            form, rest = rest[1], rest[2:]
        rows = self._rows(self.images)
        out, err, code = [], [], 0
        for ref in rest:
            image_id = self.local_id(ref) or next((r[1] for r in rows if len(r) > 1 and r[1] == ref), "")
            if not image_id:
                err.append(f"Error: No such image: {ref}\n")
                code = 1
            elif "RepoDigests" in form:
                repo = next((r[0] for r in rows if len(r) > 1 and r[1] == image_id and "@" not in r[0]
                             and r[0] != "<none>"), "")
                out.append(f'{image_id} ["{repo.rsplit(":", 1)[0]}@{image_id}"]\n' if repo else f"{image_id} []\n")
            else:
                out.append(image_id + "\n")
        return code, "".join(out), "".join(err)

    def tag(self, rest: list[str], last: str, password: str) -> Reply:
        if len(rest) != 2:
            return 1, "", '"docker tag" requires exactly 2 arguments.\n'
        source, target = rest
        if "@" in target:
            return 1, "", "Error response from daemon: refusing to create a tag with a digest reference\n"
        self.store(target, self.local_id(source) or source)
        return 0, "", ""

    def pull(self, rest: list[str], last: str, password: str) -> Reply:
        if len(rest) != 1:
            return 1, "", '"docker pull" requires exactly 1 argument.\n'
        ref = rest[0]
        if self.unreachable(ref):
            return 1, "", REFUSED_OFFLINE + "\n"
        if "@" in ref:  # by digest: only what the registry has served under that repository
            repo, digest = ref.split("@", 1)
            served = any((strip_tag(row[0]) == repo or row[0] == repo) and row[1] == digest
                         for row in self._rows(self.registry) if len(row) > 1)
            if not served:
                return 1, "", f"Error response from daemon: manifest for {ref} not found: manifest unknown\n"
        with open(self.images, "a") as images:
            images.write(f"{ref} {ref.split('@', 1)[-1]}\n")
        return 0, "", ""

    def rmi(self, rest: list[str], last: str, password: str) -> Reply:
        if not self.local_id(last):
            return 1, "", f"Error: No such image: {last}\n"
        self.untag(last)
        return 0, "", ""

    def rm(self, rest: list[str], last: str, password: str) -> Reply:
        """rm ID...: an unknown id is an error, unless -f (as docker)."""
        known = {container_id(row) for row in self.services()}
        if "-f" not in rest:
            unknown = next((cid for cid in rest if cid not in known), None)
            if unknown:
                return 1, "", f"Error: No such container: {unknown}\n"
        self.state.write_text("")
        return 0, "", ""


def strip_tag(ref: str) -> str:
    """repo:tag -> repo (a registry's :port is not a tag)."""
    return re.sub(r":[^/:]*$", "", ref)


Handler = Callable[[Docker, list[str], str, str], Reply]
DOCKER: dict[str, Handler] = {name: getattr(Docker, name)
                              for name in ("version", "login", "ps", "inspect", "image", "tag", "pull", "rmi", "rm")}
