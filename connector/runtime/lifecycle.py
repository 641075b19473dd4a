"""`dadc run`: the long-lived connector. It keeps boto3 out of its own memory: each start
sequence runs in a `dadc deploy` child whose status lines it relays to the sink."""
from __future__ import annotations

import json
import logging
import random
import signal
import subprocess
import sys
import threading
from typing import Any

from connector.runtime import monitor, stopping
from connector.runtime.entry import FINAL
from connector.runtime.context import Context
from connector.runtime.status import Sink

log = logging.getLogger("dadc.run")


class Runner:
    def __init__(self, ctx: Context, sink: Sink) -> None:
        self.ctx, self.sink, self.options = ctx, sink, ctx.options
        self.stopping = threading.Event()
        self.child: subprocess.Popen[str] | None = None

    def _signal(self, signum: int, frame: Any) -> None:
        log.info("received %s: stopping", signal.Signals(signum).name)
        self.stopping.set()
        if self.child and self.child.poll() is None:
            self.child.terminate()

    def deploy_once(self) -> str | None:
        """Run the start sequence in a child; relay its status; None on success, "final" when a
        retry would not help, else the error kind."""
        argv = [sys.executable, "-m", "connector", "deploy", "--under-run",
                *self.options.child_argv(compose_command=self.ctx.compose.name)]
        self.child = subprocess.Popen(argv, stdout=subprocess.PIPE, text=True)
        outcome: str | None = "InternalError"
        assert self.child.stdout is not None
        for line in self.child.stdout:
            try:
                payload = json.loads(line)
            except ValueError:
                continue
            self.sink.publish(payload)
            outcome = None if payload.get("status") == "success" else payload.get("error", "InternalError")
        if self.child.wait() == FINAL:
            return "final"
        return outcome

    def run(self) -> int:
        """0 once stopped cleanly; 1 when the stop sequence left containers behind."""
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, self._signal)
        attempt = 0
        while not self.stopping.is_set():
            outcome = self.deploy_once()
            # a failed start is final, as it was for the original, unless --retry asks for more
            if outcome in (None, "final", "InvalidParameter") or not self.options.retry or self.stopping.is_set():
                break
            delay = min(self.options.retry_cap, self.options.retry_base * 2 ** attempt) * random.uniform(0.5, 1.0)
            attempt += 1
            log.warning("deployment failed (%s); --retry: attempt %d in %.1fs", outcome, attempt + 1, delay)
            self.stopping.wait(delay)
        frequency = int(self.ctx.config.value("DockerContainerStatusLogFrequency") or 300)
        while not self.stopping.is_set():
            monitor.log_status(self.ctx.docker, self.ctx.project)
            self.stopping.wait(frequency)
        ok = stopping.stop(self.ctx)
        self.sink.close()
        log.info("stopped%s", "" if ok else " (with containers left, see above)")
        return 0 if ok else 1
