"""A Hypothesis state machine that hunts recovery defects on the recorded engine: random sequences
of releases (healthy, unhealthy, exiting, crash-looping, one-shot, tag- or digest-pinned), reloads,
pruned images, a registry down, `dadc rollback`, stops and a crash between any two steps of a
start, with --health-gate on; invariants checked after every step.

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

from conformance.behaviour_cases import discover
from conformance.engines.base import HARNESS_ENV, KEY, CapturingSink, patched_environ
from conformance.engines.recorded import RecordedEngine
from connector.options import RuntimeOptions
from connector.plan import plan_rollback
from connector.runtime import context, executor, starting, stopping
from connector.runtime.seams import history
from connector.runtime.seams.local import digest

ARN = "arn:aws:greengrass:us-east-1::/connectors/DockerApplicationDeployment/versions/7"
HEALTHY = ("good", "good-2", "good-digest", "oneshot")
FAILING = ("unhealthy", "exits", "crashloop")
EXAMPLES = int(os.environ.get("DADC_HUNT_EXAMPLES", "15"))
STEPS = int(os.environ.get("DADC_HUNT_STEPS", "12"))


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
            DADC_FAKE_DEST=str(self.dest)))
        definition = self.work / "definition.json"
        definition.write_text(json.dumps({"Connectors": [{"Id": "hunt", "ConnectorArn": ARN, "Parameters": {
            "DockerComposeFileS3Bucket": "dadc-hunt", "DockerComposeFileS3Key": KEY,
            "DockerComposeFileDestinationPath": str(self.dest)}}]}))
        self.options = RuntimeOptions(definition=str(definition), compose_command=self.engine.compose_command(),
                                      stop_timeout=120, compose_env=HARNESS_ENV, health_gate=60, health_stable=1)
        self.serial = 0
        self.passed: set[str] = set()  # files that passed a gate: the only ones that may be recorded good
        self.failed_rollback = False
        self.before: list[dict[str, Any]] = []
        self.last: list[dict[str, Any]] = []  # the status messages of this step's start (none: no start)

    def teardown(self) -> None:
        self.stack.close()

    # --- the world ------------------------------------------------------------------------------
    def _release(self, variant: str) -> str:
        self.serial += 1  # every release is another file (its own sha), as a new compose file is
        return self.engine.render(variant) + f"# release {self.serial}\n"

    def _start(self) -> list[dict[str, Any]]:
        sink = CapturingSink()
        outcome = starting.start(self.options, sink, cloud=self.engine.cloud(), pause=self.engine.pause,
                              clock=self.engine.clock)
        messages = sink.messages
        if messages and messages[-1]["status"] == "success":
            self.passed.add(self._current_sha())
        elif messages and "rollback to" in str(messages[-1].get("error_message")) and "failed" in \
                str(messages[-1].get("error_message")):
            self.failed_rollback = True
            assert not outcome.retriable  # a failed rollback is final: --retry would not try it again
        if messages and "health gate failed" in str(messages[-1].get("error_message")):
            assert not outcome.retriable
        self.last = messages
        return messages

    def _current_sha(self) -> str:
        path = self.dest / "docker-compose.yml"
        return digest(path.read_bytes()) if path.exists() else ""

    @rule(variant=st.sampled_from(HEALTHY + FAILING))
    def deploy(self, variant: str) -> None:
        self.engine.put_object("dadc-hunt", self._release(variant))
        self._start()

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
    def prune_images(self) -> None:
        self.last = []
        self.engine.remove_images("")

    @rule(variant=st.sampled_from(HEALTHY + FAILING), at=st.integers(min_value=0, max_value=12))
    def crash_during_a_start(self, variant: str, at: int) -> None:
        """The process dies before its at-th step (a recovery's steps included)."""
        self.engine.put_object("dadc-hunt", self._release(variant))
        self.last = []  # a start that dies publishes nothing
        count = {"n": 0}
        real = dict(executor.HANDLERS)

        def dying(kind: str) -> Any:
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

    @rule()
    def rollback_by_hand(self) -> None:
        self.last = []
        ctx = context.for_options(self.options, self.engine.cloud(), self.engine.pause, self.engine.clock)
        try:
            with ctx.dest.lock():
                executor.execute(ctx, plan_rollback(ctx.config.profile, self.options))
        except Exception as exc:  # noqa: BLE001 - a refused rollback is an answer, not a defect
            assert "DadcError" in [c.__name__ for c in type(exc).__mro__], exc

    @rule()
    def stop(self) -> None:
        self.last = []
        if (self.dest / "docker-compose.yml").exists():
            stopping.stop_definition(self.options, self.engine.cloud())

    # --- what must always hold -----------------------------------------------------------------
    def _raw_history(self) -> list[dict[str, Any]]:
        path = self.dest / ".dadc" / history.FILE
        return json.loads(path.read_text())["releases"] if path.exists() else []

    @invariant()
    def every_record_names_bytes_it_holds(self) -> None:
        for e in self._raw_history():
            assert e["sha256"] == digest(e["compose"].encode()), e["n"]

    @invariant()
    def a_release_recorded_good_passed_its_gate(self) -> None:
        for e in self._raw_history():
            if e["outcome"] == "good":
                assert e["sha256"] in self.passed, f"release {e['n']} recorded good without passing a gate"

    @invariant()
    def the_history_is_bounded_and_loses_nothing_inside_its_bound(self) -> None:
        now = self._raw_history()
        assert len(now) <= history.HISTORY_KEPT
        numbers = [e["n"] for e in now]
        assert numbers == sorted(numbers, reverse=True) and len(set(numbers)) == len(numbers)
        kept = {e["n"]: e for e in now}
        newest_by_sha: dict[str, dict[str, Any]] = {}
        for e in now:
            newest_by_sha.setdefault(e["sha256"], e)
        pinned = [e["n"] for e in now if e["outcome"] == "good" and newest_by_sha[e["sha256"]] is e][:2]
        others = [n for n in numbers if n not in pinned]
        for old in self.before:
            if old["n"] in kept:  # never overwritten (a good release recorded again only updates its record)
                assert kept[old["n"]]["sha256"] == old["sha256"] and kept[old["n"]]["outcome"] == old["outcome"]
            else:  # dropped: only the oldest go, and only when the history is full
                assert len(now) == history.HISTORY_KEPT and (not others or old["n"] < min(others)), old["n"]
        self.before = now

    @invariant()
    def after_a_failed_gate_a_good_release_runs_when_one_could_come_back(self) -> None:
        messages = self.last
        if not messages or messages[-1]["status"] != "fail":
            return
        text = str(messages[-1].get("error_message"))
        state = self.work / "state"
        running = state.read_text().split("\n")[0].strip() if state.exists() else ""
        if "rolled back to" in text and text.endswith(", running again"):
            sha = text.split("rolled back to ")[1].split("(")[1][:12]
            assert self._current_sha().startswith(sha), text
            assert running, text  # the good release runs
        if "keeps running" in text:
            assert running, text  # none could come back: the failed release was left running


TestRecovery = Recovery.TestCase
TestRecovery.settings = settings(max_examples=EXAMPLES, stateful_step_count=STEPS, deadline=None,
                                 derandomize="DADC_HUNT_EXAMPLES" not in os.environ,
                                 suppress_health_check=list(HealthCheck))
