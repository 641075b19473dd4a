"""The compose CLI seam: which flavour is installed, and the exact argv of each command."""
from __future__ import annotations

import os
import shlex
import shutil
from dataclasses import dataclass
from pathlib import Path

from connector.errors import CommandFailed, CommandNotFound
from connector.runtime import process

PROJECT = "greengrassdockerapplicationdeployment"
PROJECT_LABEL = "com.docker.compose.project"
SEARCH = ("/usr/bin", "/usr/local/bin")  # where the original required docker and docker-compose


@dataclass(frozen=True)
class ComposeCli:
    base: tuple[str, ...]  # ("docker", "compose") or ("/usr/bin/docker-compose",)
    generation: int  # 1 = legacy python docker-compose, 2 = compose v2

    @property
    def name(self) -> str:
        return shlex.join(self.base)

    def command(self, action: str, file: Path, project_dir: Path) -> list[str]:
        argv = [*self.base, "-p", PROJECT, "-f", str(file), "--project-directory", str(project_dir)]
        return argv + {"up": ["up", "-d"], "down": ["down"], "pull": ["pull"], "config": ["config"]}[action]


def find_executable(name: str) -> str | None:
    found = shutil.which(name)
    if found:
        return found
    for folder in SEARCH:
        candidate = os.path.join(folder, name)
        if os.access(candidate, os.X_OK):
            return candidate
    return None


def _generation(base: tuple[str, ...], env: dict[str, str] | None, run_as: process.RunAs | None) -> int:
    out = process.run([*base, "version"], env=env, timeout=30, run_as=run_as).stdout
    return 1 if "version 1." in out else 2


def detect(preferred: str | None = None, env: dict[str, str] | None = None,
           run_as: process.RunAs | None = None) -> ComposeCli:
    """The compose CLI to use: --compose-command, else the docker plugin, else docker-compose."""
    if preferred:
        base = tuple(shlex.split(preferred))
        return ComposeCli(base, _generation(base, env, run_as))
    docker = find_executable("docker")
    if docker:
        try:
            return ComposeCli((docker, "compose"), _generation((docker, "compose"), env, run_as))
        except (CommandFailed, CommandNotFound):
            pass
    standalone = find_executable("docker-compose")
    if standalone:
        return ComposeCli((standalone,), _generation((standalone,), env, run_as))
    raise CommandNotFound("no compose CLI: install the docker compose plugin or docker-compose "
                          "in /usr/bin or /usr/local/bin")


def docker_binary() -> str:
    found = find_executable("docker")
    if not found:
        raise CommandNotFound("docker not found on PATH, /usr/bin or /usr/local/bin")
    return found
