"""How `dadc fleet status` shows a job: a summary line and a row per device for a person, one
JSON object for a program."""
from __future__ import annotations

from typing import Any

COUNTS = (("numberOfSucceededThings", "succeeded"), ("numberOfFailedThings", "failed"),
          ("numberOfRejectedThings", "rejected"), ("numberOfTimedOutThings", "timed out"),
          ("numberOfInProgressThings", "in progress"), ("numberOfQueuedThings", "queued"),
          ("numberOfCanceledThings", "canceled"), ("numberOfRemovedThings", "removed"))
FAILED = ("FAILED", "REJECTED", "TIMED_OUT")
COLUMNS = ("release", "verdict", "service", "restored", "reason")


def progress(job: dict[str, Any]) -> str:
    counts = job.get("jobProcessDetails", {})
    parts = [f"{counts.get(key, 0)} {word}" for key, word in COUNTS if counts.get(key)]
    return f"{job['jobId']}: {job['status']}" + (f"; {', '.join(parts)}" if parts else "")


def failed(executions: list[dict[str, Any]]) -> int:
    return sum(1 for e in executions if e["status"] in FAILED)


def text(job: dict[str, Any], executions: list[dict[str, Any]]) -> str:
    rows = [("THING", "STATUS", *(c.upper() for c in COLUMNS))]
    for e in executions:
        d = e.get("statusDetails") or {}
        rows.append((e["thing"], e["status"] or "", *(str(d.get(c, "")) for c in COLUMNS)))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]) - 1)]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(r, widths)) + "  " + r[-1] for r in rows]
    by_status: dict[str, int] = {}
    for e in executions:
        by_status[e["status"]] = by_status.get(e["status"], 0) + 1
    summary = ", ".join(f"{n} {s}" for s, n in sorted(by_status.items()))
    return "\n".join([progress(job), *[line.rstrip() for line in lines],
                      f"{len(executions)} thing(s): {summary or 'none yet'}"])


def as_json(job: dict[str, Any], executions: list[dict[str, Any]]) -> dict[str, Any]:
    return {"jobId": job["jobId"], "jobArn": job.get("jobArn"), "status": job["status"],
            "counts": {word.replace(" ", "_"): job.get("jobProcessDetails", {}).get(key, 0) for key, word in COUNTS},
            "executions": [{k: e[k] for k in ("thing", "status", "executionNumber", "statusDetails")}
                           for e in executions],
            "failed": failed(executions)}
