"""`dadc run --jobs --thing-name NAME`: the device takes part in AWS IoT Jobs. Each execution it
is handed (start-next: the one IN_PROGRESS first, so a handler restarted mid-job resumes it) is
made ready in a child (fleet/prepare.py: the document checked, the definition fetched and
verified), applied by `dadc run`'s own loop as a new deployment (the health gate as the job or
the device says), and answered with its verdict in statusDetails:

  REJECTED  the document or its definition is invalid: nothing was touched
  SUCCEEDED the release runs (started, or already running: a re-delivered job restarts nothing)
  FAILED    it did not start, or failed its gate; `restored` says whether the previous release
            runs again

A rollback job leaves its release for the release this device ran before it (kept with every
release it ran, under --state-dir/jobs/)."""
from __future__ import annotations

import base64
import json
import logging
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

from dadc.errors import DadcError
from dadc.fleet import requests
from dadc.fleet.jobsclient import JobsClient, Rejected
from dadc.runtime.lifecycle import Applied, Runner
from dadc.runtime.seams.local import atomic_write

log = logging.getLogger("dadc.jobs")
KEEP = 10  # releases kept for rollback jobs
VERDICT = {"started": "SUCCEEDED", "unchanged": "SUCCEEDED", "invalid": "REJECTED"}


class ReleaseBook:
    """The releases this device ran, newest last (a rollback job's target is the one before)."""

    def __init__(self, state_dir: Path) -> None:
        self.dir = state_dir / "jobs"
        self.index = self.dir / "releases.json"

    def releases(self) -> list[str]:
        try:
            return list(json.loads(self.index.read_text()))
        except (OSError, ValueError):
            return []

    def raw(self, release: str) -> bytes:
        return (self.dir / f"{release}.json").read_bytes()

    def add(self, raw: bytes) -> None:
        from dadc.fleet.document import release_of
        release = release_of(raw)
        self.dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        atomic_write(self.dir / f"{release}.json", raw)
        kept = [r for r in self.releases() if r != release] + [release]
        for old in kept[:-KEEP]:
            (self.dir / f"{old}.json").unlink(missing_ok=True)
        atomic_write(self.index, json.dumps(kept[-KEEP:]).encode())

    def current(self) -> str | None:
        kept = self.releases()
        return kept[-1] if kept else None

    def before(self, release: str) -> str | None:
        kept = self.releases()
        return kept[kept.index(release) - 1] if release in kept and kept.index(release) > 0 else None


class JobsSource:
    """The Source of `dadc run --jobs`: the release the device ran last (what a restart runs
    again), then only what jobs bring."""

    def __init__(self, book: ReleaseBook, initial: bytes | None) -> None:
        self.name, self.book, self.initial, self._read = "AWS IoT Jobs", book, initial, False

    def read(self, *, force: bool = False) -> bytes | None:
        if self._read:
            return None
        self._read = True
        current = self.book.current()
        return self.book.raw(current) if current else self.initial

    def keep(self, raw: bytes) -> None:
        self.book.add(raw)


class JobAgent:
    def __init__(self, runner: Runner, book: ReleaseBook, settings: Any, thing: str, version: str) -> None:
        self.runner, self.book, self.thing, self.version = runner, book, thing, version
        # start-next on every notification and on every (re)connection (the first included)
        self.client = JobsClient(settings, thing, lambda execution: runner.submit(self.work),
                                 on_connected=lambda: runner.submit(self.work))
        self.client.connected.wait(30)

    def close(self) -> None:
        self.client.close()

    def work(self) -> None:
        """Every pending execution, one after the other, until none is left."""
        while not self.runner.stopping:
            try:
                execution = self.client.start_next({"dadc": self.version})
            except DadcError as exc:
                log.warning("jobs: start-next: %s", exc)
                return
            if not execution:
                return
            self.handle(execution)

    def handle(self, execution: dict[str, Any]) -> None:
        job, version = execution["jobId"], execution.get("versionNumber")
        log.info("jobs: %s (execution %s)", job, execution.get("executionNumber"))
        ready = self._prepare(execution.get("jobDocument"))
        if self.runner.stopping:
            return self._interrupted(job)
        if "error" in ready:
            status = "REJECTED" if ready["error"] == "InvalidParameter" else "FAILED"
            self._report(job, version, status, {"verdict": "refused" if status == "REJECTED" else "failed",
                                                "reason": ready["message"]})
            return
        release = str(ready["release"])
        if ready["operation"] == "rollback":
            target = self.book.before(release) if self.book.current() == release else None
            if self.book.current() != release:
                self._report(job, version, "SUCCEEDED", {"release": (self.book.current() or "")[:12],
                                                         "verdict": "not-on-release"})
                return
            if target is None:
                self._report(job, version, "FAILED", {"release": release[:12], "verdict": "failed",
                                                      "reason": "no release before it is kept on this device"})
                return
            raw = self.book.raw(target)
        else:
            raw = base64.b64decode(str(ready["raw"]))
        applied = self._apply(raw, ready)
        status = VERDICT.get(applied.outcome, "FAILED")
        if self.runner.stopping and status != "SUCCEEDED":
            return self._interrupted(job)
        runs = self.book.current() or ""
        self._report(job, version, status, {
            "release": runs[:12], "verdict": applied.outcome, "service": _service(applied.message),
            "restored": "true" if applied.outcome in ("rolled-back", "kept-back") else
                        "false" if status == "FAILED" else None, "reason": applied.message or None})

    @staticmethod
    def _interrupted(job: str) -> None:
        """A stop (SIGTERM: a shutdown, `systemctl stop`) cut the execution short: that is no verdict
        on the release, and a FAILED would count towards the job's abort. It stays IN_PROGRESS; the
        next start asks start-next, which hands it back (or its in-progress timeout ends it)."""
        log.warning("jobs: %s interrupted by a stop: it stays IN_PROGRESS, and the next start resumes it", job)

    def _apply(self, raw: bytes, ready: dict[str, Any]) -> Applied:
        options = self.runner.options
        gate = ready.get("healthGate") or options.health_gate
        stable = ready.get("healthStable") or options.health_stable
        self.runner.options = replace(options, health_gate=gate, health_stable=stable)
        try:
            return self.runner._apply(raw, api_shape=False)  # the prepare child checked it
        finally:
            self.runner.options = options

    def _prepare(self, document: Any) -> dict[str, Any]:
        import os

        from dadc.runtime.seams import process
        text = document if isinstance(document, str) else json.dumps(document)
        root = str(Path(__file__).resolve().parents[2])  # the same dadc as this process, wherever it runs from
        env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, (root, os.environ.get("PYTHONPATH")))))
        done = process.run([sys.executable, "-m", "dadc.fleet.prepare"], timeout=300, check=False, input=text,
                           env=env)
        try:
            return dict(json.loads(done.stdout.strip().splitlines()[-1]))
        except (ValueError, IndexError):
            return {"error": "InternalError", "message": f"preparing the job exited {done.returncode}: "
                                                         f"{done.stderr.strip()[-300:] or 'no answer'}"}

    def _report(self, job: str, version: int | None, status: str, details: dict[str, Any]) -> None:
        details = requests.details({**details, "dadc": self.version})
        log.info("jobs: %s %s %s", job, status, details)
        payload = requests.update_execution(self.thing, job, status, details, version, "")
        payload.pop("clientToken")
        try:
            self.client.update(job, payload)
        except Rejected as exc:
            # VersionMismatch: the answer to an earlier send of this same update was lost;
            # TerminalStateReached / InvalidStateTransition: canceled (or forced) meanwhile
            try:
                now = self.client.get(job).get("status")
            except DadcError as again:
                log.warning("jobs: %s: the update was refused (%s) and the execution cannot be read: %s",
                            job, exc, again)
                return
            if now == status:
                return
            log.warning("jobs: %s is %s (%s): this device stays on release %s", job, now, exc,
                        (self.book.current() or "none")[:12])
        except DadcError as exc:
            log.warning("jobs: %s: %s", job, exc)


def _service(message: str) -> str | None:
    """The failing service a gate's message names ("service web: ..."), if any."""
    import re
    m = re.search(r"service[s]? '?([A-Za-z0-9._-]+)'?", message or "")
    return m[1] if m else None
