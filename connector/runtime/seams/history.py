"""The destination's release history: every release that ran, good or failed, newest first, with
its compose file, where it came from and its exact images. One JSON file (`.dadc/records.json`),
each change one atomic write: a crash leaves the history before or after, never without its last
good release. The last good, the one before it and the failed releases are all read from it.

Bounded: HISTORY_KEPT entries, the oldest dropped first, but never the last good release nor the
one before it (a run of failures cannot push out what a rollback needs). A release recorded good
again (a reload, a restart) updates its entry instead of adding one; a failure always adds one,
so a later failure never overwrites an earlier one. A release that failed and is good now (a
rollback to it by hand) is no longer a failed release: its newest entry decides."""
from __future__ import annotations

import hashlib
import re
from typing import Any

from connector.errors import InvalidParameter

HISTORY_KEPT = 10
FILE = "records.json"
LEGACY = ("last-good.json", "previous-good.json", "failed.json")  # dadc 0.2's records, read once


def _sha(raw: bytes) -> str:
    return hashlib.sha256(raw).hexdigest()


class History:
    """Mixed into Destination: uses its _read_json/_write_json (atomic, confined to .dadc/)."""

    FAILED_KEPT = HISTORY_KEPT

    def _read_json(self, *parts: str) -> dict[str, Any]:  # pragma: no cover - Destination's
        raise NotImplementedError

    def _write_json(self, value: dict[str, Any], *parts: str) -> None:  # pragma: no cover - Destination's
        raise NotImplementedError

    # --- reading -----------------------------------------------------------------------------
    def history(self) -> list[dict[str, Any]]:
        """Entries newest first: n (a serial), outcome (good, failed), sha256, compose, record.
        An entry whose compose text does not match its sha256 is not a record (left out)."""
        value = self._read_json(".dadc", FILE)
        entries = value.get("releases") if value else self._legacy()
        out = []
        for e in entries if isinstance(entries, list) else []:
            if isinstance(e, dict) and isinstance(e.get("compose"), str) and isinstance(e.get("record"), dict) \
                    and e.get("outcome") in ("good", "failed") and e.get("sha256") == _sha(e["compose"].encode()):
                out.append(e)
        return out

    def _legacy(self) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        for name in ("last-good.json", "previous-good.json"):
            v = self._read_json(".dadc", name)
            if isinstance(v.get("compose"), str) and isinstance(v.get("record"), dict):
                out.append({"outcome": "good", "sha256": _sha(v["compose"].encode()), "compose": v["compose"],
                            "record": v["record"]})
        failed = self._read_json(".dadc", "failed.json").get("releases")
        for f in failed if isinstance(failed, list) else []:
            if isinstance(f, dict) and isinstance(f.get("compose"), str):
                record = {k: v for k, v in f.items() if k not in ("compose", "sha256", "kept")}
                out.append({"outcome": "failed", "sha256": _sha(f["compose"].encode()), "compose": f["compose"],
                            "record": record})
        out.sort(key=lambda e: -float(e["record"].get("at") or 0))
        for i, e in enumerate(out):
            e["n"] = len(out) - i
        return out

    def _newest_by_sha(self, entries: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
        newest: dict[str, dict[str, Any]] = {}
        for e in entries:
            newest.setdefault(e["sha256"], e)
        return newest

    def _goods(self, entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """The good releases, newest first, one per file, none that failed since."""
        newest = self._newest_by_sha(entries)
        return [e for e in entries if e["outcome"] == "good" and newest[e["sha256"]] is e]

    @staticmethod
    def _pair(e: dict[str, Any] | None) -> tuple[bytes, dict[str, Any]] | None:
        return (e["compose"].encode(), {**e["record"], "sha256": e["sha256"]}) if e else None

    def last_good(self) -> tuple[bytes, dict[str, Any]] | None:
        goods = self._goods(self.history())
        return self._pair(goods[0] if goods else None)

    def previous_good(self) -> tuple[bytes, dict[str, Any]] | None:
        goods = self._goods(self.history())
        return self._pair(goods[1] if len(goods) > 1 else None)

    def failed_releases(self) -> list[dict[str, Any]]:
        """Releases whose newest entry is a failure, newest first (record, sha256 and compose)."""
        entries = self.history()
        newest = self._newest_by_sha(entries)
        return [{**e["record"], "sha256": e["sha256"], "compose": e["compose"]} for e in entries
                if e["outcome"] == "failed" and newest[e["sha256"]] is e]

    def failed(self) -> dict[str, Any]:
        releases = self.failed_releases()
        return {k: v for k, v in releases[0].items() if k != "compose"} if releases else {}

    def failed_release(self, sha: str) -> dict[str, Any] | None:
        return next(({k: v for k, v in r.items() if k != "compose"} for r in self.failed_releases()
                     if r["sha256"] == sha), None)

    def entry(self, ref: str) -> dict[str, Any]:
        """A history entry by its number (`dadc status` shows it) or a file's sha256 prefix (4+)."""
        entries = self.history()
        if re.fullmatch(r"\d{1,4}", ref):
            found = [e for e in entries if e.get("n") == int(ref)]
        elif re.fullmatch(r"[0-9a-f]{4,64}", ref):
            found = list(self._newest_by_sha([e for e in entries if e["sha256"].startswith(ref)]).values())
        else:
            raise InvalidParameter(f"--to {ref!r}: give a history number or a sha256 prefix (4 or more hex digits)")
        if not found:
            raise InvalidParameter(f"--to {ref}: no such release in the history (dadc status lists it)")
        if len(found) > 1:
            raise InvalidParameter(f"--to {ref}: several releases match; give more of the sha256")
        return found[0]

    # --- writing -----------------------------------------------------------------------------
    def _save(self, entries: list[dict[str, Any]]) -> None:
        goods = self._goods(entries)
        keep = {id(e) for e in goods[:2]}  # what a rollback needs is never dropped
        while len(entries) > HISTORY_KEPT:
            oldest = next(i for i in range(len(entries) - 1, -1, -1) if id(entries[i]) not in keep)
            del entries[oldest]
        self._write_json({"releases": entries}, ".dadc", FILE)

    def _add(self, outcome: str, raw: bytes, record: dict[str, Any]) -> None:
        entries = self.history()
        sha = _sha(raw)
        record = {k: v for k, v in record.items() if k != "sha256"}
        if outcome == "good" and entries and entries[0]["outcome"] == "good" and entries[0]["sha256"] == sha:
            entries[0] = {**entries[0], "record": record}  # the same release recorded again
        else:
            n = max((e.get("n", 0) for e in entries), default=0) + 1
            entries.insert(0, {"n": n, "outcome": outcome, "sha256": sha, "compose": raw.decode("utf-8", "replace"),
                               "record": record})
        self._save(entries)

    def record_good(self, raw: bytes, record: dict[str, Any]) -> None:
        self._add("good", raw, record)

    def record_failed(self, raw: bytes, record: dict[str, Any]) -> str:
        self._add("failed", raw, record)
        return f".dadc/{FILE}"
