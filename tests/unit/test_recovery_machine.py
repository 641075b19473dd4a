"""A Hypothesis state machine that hunts recovery defects on the recorded engine: random sequences
of releases (healthy, unhealthy, exiting, crash-looping, one-shot, tag- or digest-pinned, one
whose image is in no registry, one whose container cannot start), for version 7 (pull before
down) and version 4 (down before pull), reloads, tags pushed again, `.env` changed, pruned images,
a registry down, `dadc rollback`, stops, a crash between any two steps of a start, a full disk at
any write of dadc's state, and a damaged history, with --health-gate on. After every step: the
project runs a release recorded good, or the one that ran before, or nothing, and the last status
says which and why; the history lost nothing inside its bound; no failure is an unexpected fault.

CI runs it derandomized (a fixed seed) with a bounded number of examples. A long hunt:
    DADC_HUNT_EXAMPLES=2000 DADC_HUNT_STEPS=40 python3 -m pytest tests/unit/test_recovery_machine.py
"""
from __future__ import annotations

import json
import os
import shutil
import tempfile
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, settings, strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from dadc.conformance.behaviour_cases import discover
from dadc.conformance.engines.base import HARNESS_ENV, KEY, CapturingSink, patched_environ
from dadc.conformance.engines.recorded import RecordedEngine
from dadc.domain.release import sha256
from dadc.errors import DadcError, StateError
from dadc.options import RuntimeOptions
from dadc.plan import plan_rollback
from dadc.runtime import context, executor, starting, stopping
from dadc.runtime.seams import history, state
from dadc.runtime.seams.local import Destination
from dadc.runtime.session import Session

ARN = "arn:aws:greengrass:us-east-1::/connectors/DockerApplicationDeployment/versions/{}"
HEALTHY = ("good", "good-2", "good-digest", "oneshot")
FAILING = ("unhealthy", "exits", "crashloop", "missing-image", "unstartable")
EXAMPLES = int(os.environ.get("DADC_HUNT_EXAMPLES", "15"))
STEPS = int(os.environ.get("DADC_HUNT_STEPS", "12"))
RECOVERED = ("rolled back to", "runs instead", "taken down", "keeps running", "left running", "it stays",
             "history cannot be read")
UNEXPECTED = ("AttributeError", "TypeError", "KeyError", "ValueError", "OSError", "AssertionError", "IndexError",
              "FileNotFoundError", "PermissionError")


class Crash(BaseException):
    """The process dies here: nothing after it runs (not a DadcError: no handler sees it)."""


class Recovery(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.stack = ExitStack()
        self.work = Path(tempfile.mkdtemp(prefix="dadc-hunt-"))
        self.stack.callback(shutil.rmtree, self.work, True)
        _, compose = discover()
        self.engine = RecordedEngine(compose)
        self.dest = self.work / "dest"
        self.dest.mkdir(mode=0o700)
        (self.work / "journal").touch()
        self.stack.enter_context(self.engine.tools(self.work))
        self.stack.enter_context(patched_environ(
            **self.engine.environment(self.work),
            DADC_JOURNAL=str(self.work / "journal"), DADC_FAKE_STATE=str(self.work / "state"),
            DADC_FAKE_DEST=str(self.dest), DADC_LOCK_DIR=str(self.work / "locks")))
        self.definitions = {}
        for version in (4, 7):
            path = self.work / f"definition-{version}.json"
            path.write_text(json.dumps({"Connectors": [{"Id": "hunt", "ConnectorArn": ARN.format(version),
                                                        "Parameters": {
                "DockerComposeFileS3Bucket": "dadc-hunt", "DockerComposeFileS3Key": KEY,
                "DockerComposeFileDestinationPath": str(self.dest)}}]}))
            self.definitions[version] = RuntimeOptions(
                definition=str(path), compose_command=self.engine.compose_command(), stop_timeout=120,
                compose_env=HARNESS_ENV, health_gate=60, health_stable=1, state_dir=str(self.work / "dadc-state"))
        self.options = self.definitions[7]
        self.serial = 0
        self.passed: set[str] = set()  # compose files that passed a gate: the only ones that may be recorded good
        self.before: list[Any] = []
        self.last: list[dict[str, Any]] = []  # the status messages of this step's start (none: no start)
        self.running_before = ""

    def teardown(self) -> None:
        self.stack.close()

    # --- the world ------------------------------------------------------------------------------
    def _history(self) -> history.History:
        return context.for_options(self.options, self.engine.hooks()).ws.history

    def _release(self, variant: str) -> str:
        self.serial += 1  # every release is another file (its own sha), as a new compose file is
        return self.engine.render(variant) + f"# release {self.serial}\n"

    def _running(self) -> str:
        state_file = self.work / "state"
        return state_file.read_text().split("\n")[0].strip() if state_file.exists() else ""

    def _start(self, options: RuntimeOptions | None = None) -> list[dict[str, Any]]:
        sink = CapturingSink()
        self.running_before = self._running()
        outcome = starting.start(options or self.options, sink, hooks=self.engine.hooks())
        messages = sink.messages
        if messages and messages[-1]["status"] == "success":
            self.passed.add(self._current_sha())
        text = str(messages[-1].get("error_message")) if messages else ""
        if "rollback to" in text and "failed" in text or "health gate failed" in text:
            assert not outcome.retriable  # a failed release, or a failed rollback, is final
        self.last = messages
        return messages

    def _current_sha(self) -> str:
        path = self.dest / "docker-compose.yml"
        return sha256(path.read_bytes()) if path.exists() else ""

    @rule(variant=st.sampled_from(HEALTHY + FAILING), version=st.sampled_from((7, 7, 4)))
    def deploy(self, variant: str, version: int) -> None:
        self.engine.put_object("dadc-hunt", self._release(variant))
        self._start(self.definitions[version])

    @rule()
    def reload(self) -> None:
        """The same definition and file again (a poll, SIGHUP, a reboot)."""
        self.last = []
        if self.engine.cloud().objects:
            self._start()

    @rule(variant=st.sampled_from(HEALTHY + FAILING))
    def deploy_with_the_registry_down(self, variant: str) -> None:
        self.engine.put_object("dadc-hunt", self._release(variant))
        with self.engine.registry_down():
            self._start()

    @rule()
    def push_the_tag_again(self) -> None:
        """The same tag, new content (the next start of the same file is another release)."""
        self.last = []
        self.engine.retag(self.engine.images["flaky_image"])

    @rule(tag=st.integers(min_value=0, max_value=3))
    def change_the_env_file(self, tag: int) -> None:
        self.last = []
        if tag:
            (self.dest / ".env").write_text(f"TAG={tag}\n")
        elif (self.dest / ".env").exists():
            (self.dest / ".env").unlink()

    @rule()
    def prune_images(self) -> None:
        self.last = []
        self.engine.remove_images("")

    @rule(how=st.sampled_from([b"", b"{", b"[]", b'{"format": 2, "releases": {}}']), both=st.booleans())
    def damage_the_history(self, how: bytes, both: bool) -> None:
        self.last = []
        root = context.for_options(self.options, self.engine.hooks()).ws.state.root
        if (root / history.FILE).exists():
            (root / history.FILE).write_bytes(how)
            if both and (root / history.PREVIOUS).exists():
                (root / history.PREVIOUS).write_bytes(how)
        self.before = []  # what was damaged is not a loss of the machine's making

    @rule(variant=st.sampled_from(HEALTHY + FAILING), at=st.integers(min_value=0, max_value=14))
    def crash_during_a_start(self, variant: str, at: int) -> None:
        """The process dies before its at-th step (a recovery's steps included)."""
        self.engine.put_object("dadc-hunt", self._release(variant))
        self.last = []  # a start that dies publishes nothing
        count = {"n": 0}
        real = dict(executor.HANDLERS)

        def dying(kind: Any) -> Any:
            def handler(ctx: Any, s: Any, step: Any) -> None:
                count["n"] += 1
                if count["n"] > at:
                    raise Crash()
                real[kind](ctx, s, step)
            return handler
        executor.HANDLERS.update({kind: dying(kind) for kind in real})
        try:
            self._start()
        except Crash:
            self.last = []
        finally:
            executor.HANDLERS.update(real)

    @rule(variant=st.sampled_from(HEALTHY + FAILING), at=st.integers(min_value=0, max_value=10))
    def full_disk_during_a_start(self, variant: str, at: int) -> None:
        """Every write of dadc's state fails from the at-th one on (ENOSPC)."""
        self.engine.put_object("dadc-hunt", self._release(variant))
        count = {"n": 0}
        real_state, real_dest = state.atomic_write, Destination.write

        def full(real: Any) -> Any:
            def write(*args: Any, **kw: Any) -> None:
                count["n"] += 1
                if count["n"] > at:
                    raise StateError("writing: No space left on device")
                real(*args, **kw)
            return write
        state.atomic_write = full(real_state)  # type: ignore[assignment]
        Destination.write = full(real_dest)  # type: ignore[method-assign]
        try:
            self._start()
        finally:
            state.atomic_write = real_state  # type: ignore[assignment]
            Destination.write = real_dest  # type: ignore[method-assign]

    @rule()
    def rollback_by_hand(self) -> None:
        self.last = []
        try:
            ctx = context.for_options(self.options, self.engine.hooks())
            with ctx.lock():
                executor.execute(ctx, plan_rollback(ctx.config.profile, ctx.plan_options), Session())
        except DadcError:
            pass  # a refused rollback is an answer, not a defect (anything else is)

    @rule()
    def stop(self) -> None:
        self.last = []
        if (self.dest / "docker-compose.yml").exists():
            stopping.stop_definition(self.options, self.engine.hooks())

    # --- what must always hold -----------------------------------------------------------------
    def _entries(self) -> list[Any]:
        try:
            return self._history().entries()
        except DadcError:
            return []  # damaged on purpose (and said so by dadc status)

    @invariant()
    def every_record_names_bytes_it_holds(self) -> None:
        h = self._history()
        for e in self._entries():
            assert h.files(e.release) is not None, e.n

    @invariant()
    def a_release_recorded_good_passed_its_gate(self) -> None:
        for e in self._entries():
            if e.outcome == "good":
                assert e.release.compose_sha in self.passed, f"release {e.n} recorded good without passing a gate"

    @invariant()
    def the_history_is_bounded_and_loses_nothing_inside_its_bound(self) -> None:
        now = self._entries()
        assert len(now) <= history.HISTORY_KEPT
        numbers = [e.n for e in now]
        assert numbers == sorted(numbers, reverse=True) and len(set(numbers)) == len(numbers)
        kept = {e.n: e for e in now}
        pinned = [e.n for e in self._history().goods(now)[:2]] if now else []
        others = [n for n in numbers if n not in pinned]
        for old in self.before:
            if old.n in kept:  # never overwritten (a good release recorded again only updates its record)
                assert kept[old.n].release.files == old.release.files and kept[old.n].outcome == old.outcome
            elif now:  # dropped: only the oldest go, and only when the history is full
                assert len(now) == history.HISTORY_KEPT and (not others or old.n < min(others)), old.n
        self.before = now

    @invariant()
    def no_failure_is_an_unexpected_fault(self) -> None:
        for message in self.last:
            text = str(message.get("error_message", ""))
            assert not text.startswith(UNEXPECTED), text

    @invariant()
    def after_a_failed_start_what_runs_is_good_or_said(self) -> None:
        messages = self.last
        if not messages or messages[-1]["status"] != "fail":
            return
        text = str(messages[-1].get("error_message"))
        running = self._running()
        if "history cannot be read" in text:  # nothing brought back: it says what runs
            assert ("running: nothing" in text) == (not running), text
        elif "rolled back to" in text and text.endswith(", running again") or "runs instead" in text:
            sha = text.split("(")[-1][:12]
            assert self._current_sha().startswith(sha), text
            assert running, text  # the good release runs
        elif "keeps running" in text:
            assert running, text  # none could come back (or the history cannot say which): left running
        elif "taken down" in text:
            assert not running, text
        elif not any(words in text for words in RECOVERED):  # failed before anything went down
            assert running == self.running_before, text


TestRecovery = Recovery.TestCase
TestRecovery.settings = settings(max_examples=EXAMPLES, stateful_step_count=STEPS, deadline=None,
                                 derandomize="DADC_HUNT_EXAMPLES" not in os.environ,
                                 suppress_health_check=list(HealthCheck))
