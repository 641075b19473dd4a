"""The recorded engine's fakes refuse what the real CLIs refuse: the same commands run through dadc's
process seam against the fake `docker` and `docker-compose` (conformance/engines/fakes, in-process
as the recorded engine runs them) and the real ones on the test bed,
each must accept or refuse alike, and leave the same state behind. Every command a fake implements
has a case here."""
from __future__ import annotations

import os
import subprocess
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest

from dadc.conformance.engines import fakes
from dadc.runtime.seams import process
from tests.integration.conftest import docker

ZEROS = "sha256:" + "0" * 64
UNKNOWN = "sha256:" + "e" * 64
CLOSED = "127.0.0.1:9"  # a registry address where nothing listens: the connection is refused


@dataclass(frozen=True)
class Case:
    name: str
    argv: tuple[str, ...]  # "docker ..." or "compose ..." with {base}, {project}, {file}, {registry}...
    refused: bool
    then: tuple[str, ...] = ()  # a docker command whose accept/refuse must then agree too
    before: tuple[str, ...] = ()  # a docker command run first on both sides
    stdin: str | None = None
    file: str = ""  # a compose file's text for {file}
    # how a refusal shows for compose: its exit status, and what it left (as dadc judges it)
    judge: str = "exit"


IMAGELESS = "services:\n  web:\n    command: [\"true\"]\n"
GOOD = "services:\n  web:\n    image: {base}\n    command: [\"sh\", \"-c\", \"trap 'exit 0' TERM; while true; do sleep 1 & wait $$!; done\"]\n"
CASES = [
    Case("version", ("docker", "version"), False),
    Case("tag with a digest", ("docker", "tag", "{base}", "dadc/contract@" + ZEROS), True,
         then=("docker", "image", "inspect", "dadc/contract@" + ZEROS)),
    Case("tag", ("docker", "tag", "{base}", "dadc/contract:{unique}"), False,
         then=("docker", "image", "inspect", "dadc/contract:{unique}")),
    Case("inspect of a missing image", ("docker", "image", "inspect", "dadc/no-such-image:{unique}"), True),
    Case("pull of an unknown digest", ("docker", "pull", "{open}/dadc/busybox@" + UNKNOWN), True,
         then=("docker", "image", "inspect", "{open}/dadc/busybox@" + UNKNOWN)),
    Case("pull from a registry that refuses the connection", ("docker", "pull", "{closed}/dadc/busybox:1"), True,
         then=("docker", "image", "inspect", "{closed}/dadc/busybox:1")),
    Case("compose pull from a registry that refuses the connection", ("compose", "-p", "{project}", "-f", "{file}", "pull"),
         True, file=GOOD.replace("{base}", "{closed}/dadc/busybox:1"), judge="absent",
         then=("docker", "image", "inspect", "{closed}/dadc/busybox:1")),
    Case("pull of a known digest", ("docker", "pull", "{digest}"), False, then=("docker", "image", "inspect", "{digest}")),
    Case("login refused", ("docker", "--config", "{tmp}/cfg", "login", "-u", "{user}", "--password-stdin", "{registry}"),
         True, stdin="wrong-password"),
    Case("ps of a missing project", ("docker", "ps", "-aq", "--filter", "label=com.docker.compose.project={project}"),
         False),
    Case("rm -f of a missing container", ("docker", "rm", "-f", "no-such-container-{unique}"), False),
    Case("rm of a missing container", ("docker", "rm", "no-such-container-{unique}"), True),
    Case("rmi of a missing image", ("docker", "rmi", "dadc/no-such-image:{unique}"), True),
    Case("rmi", ("docker", "rmi", "dadc/contract:{unique}"), False, then=("docker", "image", "inspect",
                                                                       "dadc/contract:{unique}"),
         before=("docker", "tag", "{base}", "dadc/contract:{unique}")),
    Case("inspect of a missing container", ("docker", "inspect", "no-such-container-{unique}"), True),
    Case("compose version", ("compose", "version"), False),
    Case("config of a file compose refuses", ("compose", "-p", "{project}", "-f", "{file}", "config"), True,
         file=IMAGELESS, judge="printed"),
    Case("up of a file compose refuses", ("compose", "-p", "{project}", "-f", "{file}", "up", "-d"), True,
         file=IMAGELESS, judge="created"),
    Case("down of a missing project", ("compose", "-p", "{project}", "-f", "{file}", "down"), False, file=GOOD),
    Case("pull of a missing image", ("compose", "-p", "{project}", "-f", "{file}", "pull"), True,
         file=GOOD.replace("{base}", "{open}/missing/app:{unique}"), judge="pulled"),
]


def _fill(parts: tuple[str, ...], values: dict[str, str]) -> list[str]:
    return [p.format(**values) for p in parts]


class Tools:
    """One side of the contract: the fakes (with a state folder of their own) or the real CLIs."""

    def __init__(self, fake: bool, tmp: Path, compose_v2: str) -> None:
        self.fake, self.tmp = fake, tmp
        self.env = dict(os.environ)
        if fake:
            self.env.update(DADC_JOURNAL=str(tmp / "journal"), DADC_FAKE_STATE=str(tmp / "state"),
                            DADC_FAKE_DEST=str(tmp), DADC_FAKE_OFFLINE=CLOSED)  # nothing listens there
            self.docker, self.compose = ["docker"], ["docker-compose"]
        else:
            self.docker, self.compose = ["docker"], compose_v2.split()

    def run(self, argv: list[str], stdin: str | None = None) -> process.Result:
        tool, rest = argv[0], argv[1:]
        command = [*(self.docker if tool == "docker" else self.compose), *rest]
        if not self.fake:
            return process.run(command, input=stdin, env=self.env, timeout=300, cwd=str(self.tmp), check=False)
        with process.substituted(fakes.call):
            return process.run(command, input=stdin, env=self.env, timeout=300, cwd=str(self.tmp), check=False)


def _refused(case: Case, tools: Tools, done: process.Result, values: dict[str, str]) -> bool:
    if done.returncode != 0 or case.judge == "exit":
        return done.returncode != 0
    if case.judge == "printed":  # dadc judges a refusal by the project printed, as well as the exit status
        return "services:" not in done.stdout
    if case.judge == "created":
        found = tools.run(["docker", "ps", "-aq", "--filter", f"label=com.docker.compose.project={values['project']}"])
        return not found.stdout.split()
    if case.judge == "absent":  # dadc judges a pull by the image present, as well as the exit status
        return tools.run(_fill(case.then, values)).returncode != 0
    if case.judge == "pulled":
        return tools.run(["docker", "image", "inspect", values["open"] + "/missing/app:" + values["unique"]]).returncode != 0
    raise AssertionError(case.judge)


@pytest.fixture(scope="module")
def known_digest(testbed_env: dict[str, str]) -> str:
    ref = f"{testbed_env['DADC_OPEN_REGISTRY']}/{testbed_env['DADC_BASE_IMAGE']}"
    out = docker("image", "inspect", "--format", "{{json .RepoDigests}}", ref).stdout
    import json
    return next(d for d in json.loads(out) if d.startswith(ref.rsplit(":", 1)[0] + "@"))


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_the_fakes_accept_and_refuse_what_the_real_tools_do(case: Case, testbed_env: dict[str, str], tmp_path: Path,
                                                            known_digest: str) -> None:
    verdicts = {}
    for side in ("real", "fake"):
        folder = tmp_path / side
        folder.mkdir()
        tools = Tools(side == "fake", folder, testbed_env["DADC_COMPOSE_V2"])
        values = {"base": f"{testbed_env['DADC_OPEN_REGISTRY']}/{testbed_env['DADC_BASE_IMAGE']}",
                  "open": testbed_env["DADC_OPEN_REGISTRY"], "registry": testbed_env["DADC_REGISTRY"],
                  "user": testbed_env["DADC_REGISTRY_USER"], "unique": uuid.uuid4().hex[:10],
                  "project": f"dadc-contract-{uuid.uuid4().hex[:8]}", "tmp": str(folder), "digest": known_digest,
                  "file": str(folder / "docker-compose.yml"), "closed": CLOSED}
        if case.file:
            (folder / "docker-compose.yml").write_text(case.file.format(**values))
        if tools.fake:  # what the real engine already has: the base image, and the registry's digest of it
            state = Path(tools.env["DADC_FAKE_STATE"])
            state.with_suffix(".images").write_text(f"{values['base']} sha256:base\n")
            Path(str(state) + ".images").write_text(f"{values['base']} sha256:base\n")
            Path(str(state) + ".registry").write_text(f"{values['base']} {known_digest.split('@')[1]}\n")
        if case.before:
            tools.run(_fill(case.before, values))
        done = tools.run(_fill(case.argv, values), case.stdin)
        then = tools.run(_fill(case.then, values)).returncode != 0 if case.then else None
        verdicts[side] = (_refused(case, tools, done, values), then)
        if side == "real":
            subprocess.run(["docker", "rmi", f"dadc/contract:{values['unique']}"], capture_output=True)
            _cleanup(values["project"])
    assert verdicts["real"] == verdicts["fake"], verdicts
    assert verdicts["real"][0] is case.refused  # the case says what the real tool does


def _cleanup(project: str) -> None:
    ids = docker("ps", "-aq", "--filter", f"label=com.docker.compose.project={project}").stdout.split()
    if ids:
        docker("rm", "-f", *ids, check=False)


def test_every_command_a_fake_implements_has_a_case() -> None:
    """What the fakes act on (fakes.COMMANDS, built from their handler tables) each appear in CASES."""
    covered: set[str] = set()
    for case in CASES:
        words = [w for w in case.argv[1:] if not w.startswith("-") and "{" not in w and "/" not in w]
        covered |= {f"{case.argv[0]} {w}" for w in words}
    assert fakes.COMMANDS <= covered, fakes.COMMANDS - covered
