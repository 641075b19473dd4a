"""A destination and dadc's state for it: the project directory compose runs in (seams/local.py),
the state kept out of the application's reach (seams/state.py), the release history
(seams/history.py), and what is installed.

Installing a release is one atomic change as far as the check of the local copy goes: state.json
first names the file about to be installed (`pending`), then the file is written, then state.json
names it as installed. A crash between any two of those writes leaves a local copy whose sha256 is
the installed one or the pending one, and both pass the check (tests/unit/test_records.py)."""
from __future__ import annotations

import json
import logging
import posixpath
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dadc.domain.release import COMPOSE_NAME, Source, sha256
from dadc.errors import StateError
from dadc.runtime.seams.history import History
from dadc.runtime.seams.local import STAGED, Destination
from dadc.runtime.seams.state import StateDir

log = logging.getLogger("dadc.workspace")
STATE = "state.json"
MAX_PROJECT_FILE = 1024 * 1024  # a .env or env_file larger than this is not kept with a release


@dataclass(frozen=True)
class Installed:
    sha256: str
    source: Source


class Workspace:
    def __init__(self, dest: Destination, state: StateDir) -> None:
        self.dest, self.state = dest, state
        self.history = History(state)

    @property
    def root(self) -> Path:
        return self.dest.root

    def prepare(self) -> list[str]:
        """Check the destination, make the state folder, import dadc 0.2's history once."""
        warnings = self.dest.check()
        self.state.ensure()
        if self.state.read("records.json") is None and self.state.read("records.json.1") is None:
            legacy = self.dest.legacy_history()
            if legacy is not None:
                count = self.history.import_legacy(legacy)
                log.warning("imported %d release(s) from %s/.dadc/records.json (dadc 0.2 kept its history in the "
                            "destination, where the application could write it)", count, self.root)
        return warnings

    # --- what is installed ------------------------------------------------------------------------
    def _state(self) -> dict[str, Any]:
        raw = self.state.read(STATE)
        try:
            value = json.loads(raw) if raw is not None else {}
        except ValueError:
            raise StateError(f"{self.state.root / STATE} is damaged: remove it to start from nothing "
                             "(dadc then treats the local copy as unknown)") from None
        return value if isinstance(value, dict) else {}

    def installed(self) -> Installed | None:
        """What dadc installed last: the pending install when the local copy is already its file
        (a crash after the file was written, before state.json said so)."""
        state = self._state()
        pending = state.get("pending")
        if isinstance(pending, dict) and pending.get("sha256"):
            local = self.dest.local_copy()
            if local is not None and sha256(local) == pending["sha256"]:
                return Installed(str(pending["sha256"]), Source.from_json(pending.get("source")))
        if not state.get("sha256"):
            return None
        return Installed(str(state["sha256"]), Source.from_json(state.get("source")))

    def stage(self, raw: bytes) -> None:
        """The fetched file, written into the destination now (a full disk fails the start here,
        before anything is taken down); install renames it into place."""
        self.dest.stage(raw, COMPOSE_NAME)

    def install(self, raw: bytes, source: Source) -> None:
        """The compose file becomes the local copy (the staged one renamed, when it holds these
        bytes; else written), and where it came from is remembered."""
        state = self._state()
        new = {"sha256": sha256(raw), "source": source.to_json()}
        self.state.write_json(STATE, {**{k: state[k] for k in ("sha256", "source") if k in state}, "pending": new})
        staged = self.dest.read(STAGED)
        if staged != raw or not self.dest.commit(COMPOSE_NAME):  # swapped since (or none): written anew
            self.dest.write(raw, COMPOSE_NAME)
        self.state.write_json(STATE, new)

    def unchanged(self) -> str | None:
        """None when the local copy is the file dadc installed; else what is wrong with it (the
        DockerUserId user, or a container that mounts the folder, may write it)."""
        raw = self.dest.local_copy()
        if raw is None:
            return f"{self.dest.compose_file} is gone"
        installed = self.installed()
        if installed is not None and sha256(raw) != installed.sha256:
            return (f"{self.dest.compose_file} changed since dadc installed it (sha256 {sha256(raw)[:12]}, "
                    f"not {installed.sha256[:12]})")
        return None

    # --- every file compose reads -----------------------------------------------------------------
    def project_files(self, raw: bytes) -> dict[str, bytes]:
        """The compose file and the other files of the project directory compose reads for it: the
        directory's .env, and each env_file, extends file and include the file names there. Paths
        outside the directory are not the project's to keep (their sha256 is not recorded)."""
        files = {COMPOSE_NAME: raw}
        for name in [".env", *named_files(raw)]:
            body = self._project_file(name)
            if body is not None:
                files[name] = body
        return files

    def _project_file(self, name: str) -> bytes | None:
        clean = posixpath.normpath(name)
        if clean.startswith(("/", "../")) or clean in ("..", ".", COMPOSE_NAME):
            return None
        try:
            return self.dest.read(*clean.split("/"), limit=MAX_PROJECT_FILE)
        except StateError as exc:
            log.warning("%s: not kept with the release: %s", name, exc)
            return None

    def restore(self, files: dict[str, bytes], source: Source, complete: bool = True) -> None:
        """A recorded release's files back in the project directory: its compose file (installed),
        each other file it read, and no .env when it had none (when its files are all known)."""
        for name, body in files.items():
            if name != COMPOSE_NAME:
                self.dest.write(body, *posixpath.normpath(name).split("/"))
        if ".env" not in files and complete:
            self.dest.remove(".env")
        self.install(files[COMPOSE_NAME], source)


def named_files(raw: bytes) -> list[str]:
    """The files a compose file names relative to the project directory (as written)."""
    from dadc.domain import composefile
    try:
        documents = composefile.read(raw).documents
    except Exception:  # noqa: BLE001 - a file dadc refuses has no files to keep
        return []
    out: list[str] = []

    def paths(value: Any) -> list[str]:
        items = value if isinstance(value, list) else [value]
        found = []
        for item in items:
            if isinstance(item, str):
                found.append(item)
            elif isinstance(item, dict) and isinstance(item.get("path"), (str, list)):
                found += paths(item["path"])
        return found
    for doc in documents:
        if not isinstance(doc, dict):
            continue
        out += paths(doc.get("include"))
        services = doc.get("services")
        for spec in (services.values() if isinstance(services, dict) else []):
            if isinstance(spec, dict):
                out += paths(spec.get("env_file"))
                extends = spec.get("extends")
                if isinstance(extends, dict) and isinstance(extends.get("file"), str):
                    out.append(extends["file"])
    return [p for p in dict.fromkeys(out) if "$" not in p]
