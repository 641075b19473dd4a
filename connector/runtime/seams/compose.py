"""The compose CLI seam: which flavour is installed, its version, and the exact argv of each command."""
from __future__ import annotations

import os
import re
import shlex
import shutil
from dataclasses import dataclass
from pathlib import Path

from typing import TYPE_CHECKING

from packaging.version import InvalidVersion, Version

from dadc.domain.labels import PROJECT_LABEL
from dadc.profiles import project_name
from dadc.errors import CommandFailed, CommandNotFound, InvalidParameter
from dadc.runtime.seams import process

if TYPE_CHECKING:
    from dadc.domain.composefile import ComposeProject

SEARCH = ("/usr/bin", "/usr/local/bin")  # where the original required docker and docker-compose
__all__ = ["PROJECT_LABEL", "ComposeCli", "detect", "find_executable", "project_name"]


@dataclass(frozen=True)
class ComposeCli:
    base: tuple[str, ...]  # ("docker", "compose") or ("/usr/bin/docker-compose",)
    version: Version

    @property
    def name(self) -> str:
        return shlex.join(self.base)

    @property
    def generation(self) -> int:
        """1: the legacy Python docker-compose (names project_service_1); 2: compose v2."""
        return self.version.major if self.version.major in (1, 2) else 2

    def command(self, action: str, file: Path, project_dir: Path, *extra: str) -> list[str]:
        argv = [*self.base, "-p", project_name(), "-f", str(file), "--project-directory", str(project_dir)]
        return argv + {"up": ["up", "-d"], "down": ["down"], "pull": ["pull"], "config": ["config"]}[action] + list(extra)

    def run(self, action: str, file: Path, project_dir: Path, *extra: str, env: dict[str, str] | None = None,
            run_as: process.RunAs | None = None, timeout: float | None = None, check: bool = True) -> process.Result:
        return process.run(self.command(action, file, project_dir, *extra), env=env, run_as=run_as,
                           timeout=timeout, cwd=str(project_dir), check=check)

    def read_project(self, file: Path, project_dir: Path, where: str, *, env: dict[str, str] | None = None,
                     run_as: process.RunAs | None = None, timeout: float,
                     needs: tuple[str, ...] = (), dotenv: bytes | None = None) -> "ComposeProject":
        """The project as compose itself reads the file (`config`): compose is the authority on
        what a file means (v2 prints only the services its profiles enable; for v1, which prints
        them all, the profiles come from the environment, else from the project directory's .env
        as v1 reads it), and a file it refuses is refused with compose's own reason (both CLIs exit
        non-zero then; a compose that printed no project is a refusal too, whatever its exit status)."""
        from dadc.domain import composefile  # YAML: only a start needs it, never `dadc run`
        result = self.run("config", file, project_dir, env=env, run_as=run_as, timeout=timeout, check=False)
        try:
            profiles = composefile.enabled_profiles(env, dotenv) if self.generation == 1 else None
            return composefile.project(result.stdout if result.returncode == 0 else "", profiles)
        except InvalidParameter as exc:
            reason = " / ".join(result.stderr.strip().splitlines()[-3:]) or str(exc)
            hint = f" (the file uses {'; '.join(needs)}: this is {self.name} {self.version})" if needs else ""
            raise InvalidParameter(f"{where}: compose refuses it: {reason}{hint}") from None


def find_executable(name: str) -> str | None:
    found = shutil.which(name)
    if found:
        return found
    for folder in SEARCH:
        candidate = os.path.join(folder, name)
        if os.access(candidate, os.X_OK):
            return candidate
    return None


def _version(base: tuple[str, ...], env: dict[str, str] | None, run_as: process.RunAs | None) -> Version:
    out = process.run([*base, "version"], env=env, timeout=30, run_as=run_as).stdout
    m = re.search(r"(\d+\.\d+\.\d+)", out)
    try:
        return Version(m[1]) if m else Version("2.0.0")
    except InvalidVersion:
        return Version("2.0.0")


def detect(preferred: str | None = None, env: dict[str, str] | None = None,
           run_as: process.RunAs | None = None) -> ComposeCli:
    """The compose CLI to use: --compose-command, else the docker plugin, else docker-compose."""
    if preferred:
        base = tuple(shlex.split(preferred))
        return ComposeCli(base, _version(base, env, run_as))
    docker = find_executable("docker")
    if docker:
        try:
            return ComposeCli((docker, "compose"), _version((docker, "compose"), env, run_as))
        except (CommandFailed, CommandNotFound):
            pass
    standalone = find_executable("docker-compose")
    if standalone:
        return ComposeCli((standalone,), _version((standalone,), env, run_as))
    raise CommandNotFound("no compose CLI: install the docker compose plugin or docker-compose "
                          "in /usr/bin or /usr/local/bin")
