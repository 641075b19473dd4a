"""The recording `docker` and `docker-compose` of the conformance harness, in one place.

Every call appends one line to $DADC_JOURNAL: tool, argv, the hash of the compose file given
with -f, and whether a password came on stdin ("yes"/"no"; never the password itself). With
$DADC_REAL_DOCKER / $DADC_REAL_COMPOSE (the docker engine) the real CLI then runs; otherwise
this fakes an engine whose state sits beside $DADC_FAKE_STATE:

  $DADC_FAKE_STATE           the hash of the compose file that is up, then one line per
                             service: NAME BEHAVIOUR IMAGE IMAGE-ID
  $DADC_FAKE_STATE.images    the local images: REF ID
  $DADC_FAKE_STATE.registry  what the registry has served: REF ID (default: an id of the ref)

BEHAVIOUR (the dadc.behaviour label) is what `inspect` says of the container: healthy,
unhealthy, exits, oneshot (exited 0, restart policy no), crashloop, probe (healthy while
$DADC_FAKE_DEST/probe/healthy exists) or none. $DADC_FAKE_OFFLINE: the registries that do not
answer (hosts, comma-separated; "1": none answers).

The recorded engine calls `call()` in-process, behind dadc's process seam (a fork and exec per
command was most of its time); `fakebin/` runs this file as a script for whoever needs the
executables (the contract test, the fleet bench, the docker engine's recording). It imports only
the standard library, so it starts with `python -I -S`. What it accepts and refuses is held to
the real tools' by tests/integration/test_fake_contract.py; `COMMANDS` lists what it implements.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Callable, Mapping, Sequence

Reply = tuple[int, str, str]  # exit code, stdout, stderr
PROJECT = "greengrassdockerapplicationdeployment"
REFUSED_OFFLINE = "dial tcp: connect: connection refused"


def file_hash(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()[:16]


class Fake:
    """One call's view of the fake engine (the state files, the environment it was given)."""

    def __init__(self, env: Mapping[str, str], cwd: str | None = None) -> None:
        self.env = env
        self.cwd = Path(cwd or os.getcwd())
        self.state = Path(env.get("DADC_FAKE_STATE", "state"))
        self.images = Path(f"{self.state}.images")
        self.registry = Path(f"{self.state}.registry")
        self.down = [h for h in env.get("DADC_FAKE_OFFLINE", "").split(",") if h]
        self.file: Path | None = None

    def unreachable(self, reference: str) -> bool:
        """A registry that does not answer: the host of a reference (or a host itself) is down."""
        return "1" in self.down or reference.split("/")[0] in self.down

    # -- the journal, and the real tool behind it -----------------------------------------------
    def journal(self, tool: str, argv: Sequence[str], stdin: bool) -> None:
        named = [argv[i + 1] for i, a in enumerate(argv[:-1]) if a == "-f"]
        self.file = self.cwd / named[-1] if named else None
        digest = file_hash(self.file) if self.file and self.file.is_file() else "-"
        with open(self.env["DADC_JOURNAL"], "a") as journal:
            journal.write(f"{tool}\t{' '.join(argv)}\t{digest}\t{'yes' if stdin else 'no'}\n")

    # -- the state files --------------------------------------------------------------------------
    def _rows(self, path: Path) -> list[list[str]]:
        return [line.split() for line in path.read_text().splitlines() if line.strip()] if path.exists() else []

    def services(self) -> list[list[str]]:
        """NAME BEHAVIOUR IMAGE IMAGE-ID of what is up (the id '' when the image was missing)."""
        lines = self.state.read_text().splitlines()[1:] if self.state.exists() else []
        return [(line.split() + ["", "", "", ""])[:4] for line in lines if line.strip()]

    def local_id(self, ref: str) -> str:
        return next((row[1] for row in self._rows(self.images) if row[0] == ref and len(row) > 1), "")

    def store(self, ref: str, image_id: str) -> None:
        rows = [r for r in self._rows(self.images) if r[0] != ref] + [[ref, image_id]]
        self.images.write_text("".join(" ".join(r) + "\n" for r in rows))


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
            return 0, "".join(f"recorded-{row[0]}\n" for row in self.services()), ""
        lines = []
        for name, behaviour, image, _ in self.services():
            state = {"exits": "exited", "oneshot": "exited", "crashloop": "restarting"}.get(behaviour, "running")
            lines.append(json.dumps({"ID": f"recorded-{name}", "Names": f"{PROJECT}-{name}-1", "Image": image,
                                     "State": state, "Status": "Up 1 second",
                                     "Labels": f"com.docker.compose.project={PROJECT},com.docker.compose.service={name}"},
                                    separators=(",", ":")))
        return 0, "".join(line + "\n" for line in lines), ""

    def inspect(self, rest: list[str], last: str, password: str) -> Reply:
        """Containers: the fields the health gate and the release record read."""
        by_id = {f"recorded-{row[0]}": row for row in self.services()}
        found, missing = [], False
        for cid in rest:
            if cid not in by_id:
                missing = True
                continue
            name, behaviour, image, image_id = by_id[cid]
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
            found.append({"Id": cid, "Name": f"/{PROJECT}-{name}-1", "RestartCount": restarts, "Image": image_id,
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
        rows = [r for r in self._rows(self.images) if r[0] != last]
        self.images.write_text("".join(" ".join(r) + "\n" for r in rows))
        return 0, "", ""

    def rm(self, rest: list[str], last: str, password: str) -> Reply:
        """rm ID...: an unknown id is an error, unless -f (as docker)."""
        known = {f"recorded-{row[0]}" for row in self.services()}
        if "-f" not in rest:
            unknown = next((cid for cid in rest if cid not in known), None)
            if unknown:
                return 1, "", f"Error: No such container: {unknown}\n"
        self.state.write_text("")
        return 0, "", ""


def strip_tag(ref: str) -> str:
    """repo:tag -> repo (a registry's :port is not a tag)."""
    return re.sub(r":[^/:]*$", "", ref)


SERVICE = re.compile(r"^  ([A-Za-z0-9_.-]+):[ \t]*$")


class Compose(Fake):
    ACTIONS = ("pull", "down", "up", "version", "config")

    def call(self, argv: Sequence[str], stdin: str | None) -> Reply:
        self.journal("compose", argv, False)
        real = self.env.get("DADC_REAL_COMPOSE")
        if real:
            return relay([*real.split(), *argv], None)  # "docker compose" is two words on purpose
        action = next((a for prev, a in zip(["", *argv], argv) if a in self.ACTIONS and prev not in ("-f", "-p")), "")
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
        rows = [f"{name} {behaviour} {image} {self.local_id(image)}" for name, behaviour, image in file_services(text)]
        self.state.write_text("".join(line + "\n" for line in [digest, *rows]))
        return 0, "", ""


def file_images(text: str) -> list[str]:
    """Every `image:` at any depth (a merge key's too), as the cases' files are laid out."""
    return [m.group(1) for m in re.finditer(r"^ *image: *(.*)$", text, re.M)]


def file_services(text: str) -> list[tuple[str, str, str]]:
    """(service, behaviour, image) from the layout the cases' files have."""
    found: list[list[str]] = []
    for line in text.splitlines():
        start = SERVICE.match(line)
        if start:
            found.append([start.group(1), "none", "-"])
        elif found and line.startswith("    image:"):
            found[-1][2] = (line.split() + [""])[1]
        if found and "dadc.behaviour:" in line:
            found[-1][1] = (line.split() + [""])[1]
    return [(s, b, i) for s, b, i in found]


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


def relay(argv: list[str], stdin: str | None) -> Reply:
    """The real tool, as the caller would have run it (the password, if any, on its stdin)."""
    done = subprocess.run(argv, input=stdin, capture_output=True, text=True, errors="replace")
    return done.returncode, done.stdout, done.stderr


DockerHandler = Callable[[Docker, list[str], str, str], Reply]
ComposeHandler = Callable[[Compose, str], Reply]
DOCKER: dict[str, DockerHandler] = {name: getattr(Docker, name)
                                    for name in ("version", "login", "ps", "inspect", "image", "tag", "pull", "rmi", "rm")}
COMPOSE: dict[str, ComposeHandler] = {name: getattr(Compose, name) for name in Compose.ACTIONS}
COMMANDS = {f"docker {name}" for name in DOCKER} | {f"compose {name}" for name in COMPOSE}
TOOLS: dict[str, type[Docker] | type[Compose]] = {"docker": Docker, "docker-compose": Compose}


def call(argv: Sequence[str], stdin: str | None, env: Mapping[str, str], cwd: str | None = None) -> Reply | None:
    """Run argv if it names a fake tool (by its base name), or None: not one of ours."""
    tool = TOOLS.get(os.path.basename(argv[0])) if argv else None
    if tool is None:
        return None
    return tool(env, cwd).call(list(argv[1:]), stdin)


def main() -> int:
    tool, argv = sys.argv[1], sys.argv[2:]
    stdin = sys.stdin.read() if "--password-stdin" in argv else None
    reply = call([tool, *argv], stdin, os.environ)
    assert reply is not None, tool
    code, out, err = reply
    sys.stdout.write(out)
    sys.stderr.write(err)
    return code


if __name__ == "__main__":
    sys.exit(main())
