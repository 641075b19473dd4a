"""What the fake docker and compose share: the journal, the state files, the real tool behind them."""
from __future__ import annotations

import hashlib
import os
import subprocess
from pathlib import Path
from typing import Mapping, Sequence

Reply = tuple[int, str, str]  # exit code, stdout, stderr
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
        self.project_file = Path(f"{self.state}.project")

    @property
    def project(self) -> str:
        """The compose project, as compose was told it (-p): the engine names containers after it."""
        return self.project_file.read_text().strip() if self.project_file.exists() else "project"

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
        """NAME BEHAVIOUR IMAGE IMAGE-ID REPLICA of each container that is up (the id '' when the
        image was missing; replicas numbered from 1, as compose numbers them)."""
        lines = self.state.read_text().splitlines()[1:] if self.state.exists() else []
        return [(line.split() + ["", "", "", "", "1"])[:4] + [(line.split() + [""] * 5)[4] or "1"]
                for line in lines if line.strip()]


    def local_id(self, ref: str) -> str:
        return next((row[1] for row in self._rows(self.images) if row[0] == ref and len(row) > 1), "")

    def store(self, ref: str, image_id: str) -> None:
        self._write_images([r for r in self._rows(self.images) if r[0] != ref] + [[ref, image_id]])

    def untag(self, ref: str) -> None:
        """The tag goes; an image a container still runs from stays, untagged (dangling), as docker's."""
        in_use = {row[3] for row in self.services()}
        rows = [r for r in self._rows(self.images) if r[0] != ref]
        gone = [r[1] for r in self._rows(self.images) if r[0] == ref and len(r) > 1]
        self._write_images(rows + [["<none>", i] for i in gone if i in in_use])

    def _write_images(self, rows: list[list[str]]) -> None:
        self.images.write_text("".join(" ".join(r) + "\n" for r in rows))


def relay(argv: list[str], stdin: str | None) -> Reply:
    """The real tool, as the caller would have run it (the password, if any, on its stdin)."""
    done = subprocess.run(argv, input=stdin, capture_output=True, text=True, errors="replace")
    return done.returncode, done.stdout, done.stderr


def container_id(row: list[str]) -> str:
    """The fake container id of a row of services(): recorded-SERVICE, then -N for more replicas."""
    return f"recorded-{row[0]}" + (f"-{row[4]}" if row[4] != "1" else "")
