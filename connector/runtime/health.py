"""The health gate (--health-gate): after the start sequence, every service must be running with
its replicas, healthy where it declares a healthcheck, and stay so (no restart, no exit) for the
stability period, all within the gate. Judged from the engine's own container state, the same
for both compose CLIs: v1 has no `up --wait`, and compose's exit status says whether it started the
containers, not whether they stay up."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from dadc.runtime.seams.docker import ContainerState, Docker

POLL = 0.5  # seconds between looks at the engine


@dataclass(frozen=True)
class Verdict:
    ok: bool
    reason: str = ""


def judge(states: list[ContainerState], expected: dict[str, int],
          seen: dict[str, int], one_shots: frozenset[str] = frozenset()) -> tuple[str, str]:
    """(a failure, what is still awaited); both empty: every service is ready. `seen` holds each
    container's restart count when the gate last saw it: under restart `always`/`unless-stopped`
    (or `no`), any restart after the first look is a failure (a crash loop). As Compose sees it, a
    container that exited 0 and that its restart policy will not start again (no, on-failure) is
    complete, not failed; one_shots (services others wait on with service_completed_successfully)
    must be exactly that, and are awaited until they are. Under `on-failure`, failures Docker will
    retry are awaited, not failed: such a service is judged when the gate ends (completed, running
    and stable, or still failing), or when Docker gives up on it (its max_retries)."""
    waiting = []
    for service, replicas in expected.items():
        mine = [c for c in states if c.service == service]
        for c in mine:
            first = seen.setdefault(c.id, c.restarts)
            if c.restart_policy == "on-failure":
                seen[c.id] = c.restarts
                if c.retried:
                    waiting.append(f"service {service}: container {c.name} is still failing (exit code "
                                   f"{c.exit_code}, {c.restarts} restarts, restart: on-failure)")
                    continue
                if c.restarts > first:  # it restarted since the last look: stable from now on
                    waiting.append(f"service {service}: container {c.name} restarted (restart: on-failure)")
                    continue
            elif c.restarts > first or c.status == "restarting":
                return f"service {service}: container {c.name} restarted ({c.restarts} restarts, crash loop?)", ""
            if c.completed:
                continue
            if c.status in ("exited", "dead"):
                gave_up = f" after {c.restarts} restarts (its max_retries)" if c.restart_policy == "on-failure" else ""
                return f"service {service}: container {c.name} exited with code {c.exit_code}{gave_up}", ""
            if c.health == "unhealthy":
                return f"service {service}: container {c.name} is unhealthy", ""
            if service in one_shots and c.status == "running":
                waiting.append(f"service {service}: container {c.name} has not completed yet (others wait on it)")
            elif c.status != "running" or c.health == "starting":
                waiting.append(f"service {service}: container {c.name} is {c.status}"
                               + (f", health {c.health}" if c.health != "none" else ""))
        if len(mine) < replicas:
            waiting.append(f"service {service}: {len(mine)} of {replicas} containers")
    return "", "; ".join(waiting)


def after_up(states: list[ContainerState], expected: dict[str, int]) -> str:
    """What `up` left, judged whatever compose's exit status was (a compose that exits 0 having
    started nothing must not pass): each service's containers exist and were started. A container
    left `created` (compose could not start it: a host port taken, a dependency that failed), or
    exited non-zero with no restart coming, fails; one that exited 0 (a one-shot that completed, as
    Compose sees it) or is restarting (the gate judges that) does not. Empty: nothing wrong."""
    wrong = []
    for service, replicas in expected.items():
        mine = [c for c in states if c.service == service]
        if not mine:
            wrong.append(f"service {service}: no container")
        elif len(mine) < replicas:
            wrong.append(f"service {service}: {len(mine)} of {replicas} containers")
        for c in mine:
            if c.status == "created":
                wrong.append(f"service {service}: container {c.name} was created but never started")
            elif c.status in ("exited", "dead") and c.exit_code != 0 and not c.retried:
                wrong.append(f"service {service}: container {c.name} exited with code {c.exit_code}")
    return "; ".join(wrong)


def gate(docker: Docker, project: str, expected: dict[str, int], timeout: float, stable: float,
         clock: Callable[[], float], pause: Callable[[float], None],
         one_shots: frozenset[str] = frozenset()) -> Verdict:
    deadline = clock() + timeout
    seen: dict[str, int] = {}
    ready_since: float | None = None
    while True:
        failure, waiting = judge(docker.states(project), expected, seen, one_shots)
        if failure:
            return Verdict(False, failure)
        now = clock()
        if waiting:
            ready_since = None
        elif ready_since is None:
            ready_since = now
        elif now - ready_since >= stable:
            return Verdict(True)
        if now >= deadline:
            return Verdict(False, waiting or f"not stable for {stable:g} s within the {timeout:g} s gate")
        pause(min(POLL, max(deadline - now, 0.0)))
