"""The release history: every release that ran, good or failed, newest first (typed entries,
connector/domain/release.py), kept in the state directory (runtime/seams/state.py).

Records are facts or a loud refusal. `records.json` is the index; each body a release read is
kept once under `bodies/`, by sha256, written before the index that names it. Every change writes
the index atomically after keeping the generation before it (`records.json.1`), so a crash at
any point leaves one whole generation. A damaged index (cut short, not JSON, the wrong shape) is
copied aside (`records.json.corrupt-HASH`) and logged; the generation before it is used if it is
whole; if not, reading raises RecordsDamaged, now and at every later read until someone moves the
index away: "no file" (no history yet) is never confused with "a file I cannot read".

Bounded: HISTORY_KEPT entries and MAX_BODIES bytes of bodies, the oldest dropped first, but never
the last good release nor the one before it (a run of failures cannot push out what a rollback
needs). A release recorded good again (a reload, a restart) updates its entry instead of adding
one; a failure always adds one. A release that failed and is good now (a rollback to it by hand)
is no longer a failed release: its newest entry decides."""
from __future__ import annotations

import json
import logging
import re
import time
from typing import Any

from dadc.domain.release import Entry, Outcome, Release, Source
from dadc.errors import InvalidParameter, RecordsDamaged, StateError
from dadc.runtime.seams.state import StateDir

log = logging.getLogger("dadc.history")
HISTORY_KEPT = 10
MAX_BODIES = 64 * 1024 * 1024
FILE = "records.json"
PREVIOUS = FILE + ".1"
FORMAT = 2


def _whole(raw: bytes | None) -> bool:
    try:
        return raw is not None and _parse(raw) is not None
    except (ValueError, TypeError, KeyError):
        return False


def _parse(raw: bytes) -> list[Entry]:
    """The entries of an index, or ValueError when it is not one as dadc writes it."""
    value = json.loads(raw)
    if not isinstance(value, dict) or value.get("format") != FORMAT or not isinstance(value.get("releases"), list):
        raise ValueError("not a release history")
    entries = [Entry.from_json(e) for e in value["releases"]]
    numbers = [e.n for e in entries]
    if len(set(numbers)) != len(numbers):
        raise ValueError("an entry number twice")
    return entries


class History:
    def __init__(self, state: StateDir) -> None:
        self.state = state
        self.recovered: str = ""  # said by `dadc status`: the index was damaged and set aside

    # --- reading -----------------------------------------------------------------------------
    def entries(self) -> list[Entry]:
        """Newest first. RecordsDamaged when neither generation can be read: the damaged index then
        stays where it is (and a copy is kept aside) until someone looks, so every later read says
        so too; it is never taken for an empty history."""
        raw = self.state.read(FILE)
        if raw is None:
            previous = self.state.read(PREVIOUS)  # a crash between keeping the generation and the index
            return self._recover(previous, None) if _whole(previous) else []
        try:
            return _parse(raw)
        except (ValueError, TypeError, KeyError):
            pass
        previous = self.state.read(PREVIOUS)
        aside = self._aside(raw)
        if _whole(previous):
            return self._recover(previous, aside)
        raise RecordsDamaged(f"the release history {self.state.root / FILE} is damaged (a copy is kept as {aside}) and "
                             "the generation before it cannot be read: no rollback can be planned from it; nothing "
                             f"was changed (move {FILE} away to start a new history)")

    def _aside(self, raw: bytes) -> str:
        """A copy of a damaged index, once per content, for whoever looks at it."""
        import hashlib
        name = f"{FILE}.corrupt-{hashlib.sha256(raw).hexdigest()[:12]}"
        if self.state.read(name) is None:
            self.state.write(name, raw)
            log.error("the release history %s is damaged: a copy is kept as %s", self.state.root / FILE, name)
        return name

    def _recover(self, previous: bytes | None, aside: str | None) -> list[Entry]:
        assert previous is not None
        entries = _parse(previous)
        self.recovered = f"the history was damaged (a copy is kept as {aside}); the generation before it is used" \
            if aside else "the history's index was missing; the generation before it is used"
        log.warning("%s", self.recovered)
        self.state.write(FILE, previous)  # the whole generation becomes the index again
        return entries

    def damaged(self) -> str:
        """'' when the history reads (or there is none); else why not."""
        try:
            self.entries()
        except (RecordsDamaged, StateError) as exc:
            return str(exc)
        return ""

    @staticmethod
    def _newest(entries: list[Entry]) -> dict[str, Entry]:
        newest: dict[str, Entry] = {}
        for e in entries:
            newest.setdefault(e.release.id, e)
        return newest

    def goods(self, entries: list[Entry] | None = None) -> list[Entry]:
        """The good releases, newest first, one per release, none that failed since."""
        entries = self.entries() if entries is None else entries
        newest = self._newest(entries)
        return [e for e in entries if e.outcome == "good" and newest[e.release.id] is e]

    def last_good(self) -> Entry | None:
        goods = self.goods()
        return goods[0] if goods else None

    def previous_good(self) -> Entry | None:
        goods = self.goods()
        return goods[1] if len(goods) > 1 else None

    def failed_releases(self) -> list[Entry]:
        """Releases whose newest entry is a failure, newest first."""
        entries = self.entries()
        newest = self._newest(entries)
        return [e for e in entries if e.outcome == "failed" and newest[e.release.id] is e]

    def failed_files(self, release: Release, source: Source) -> Entry | None:
        """The failure this definition names again: the same files from the same place, whose newest
        entry with those files is a failure (no good start of them since)."""
        for e in self.entries():
            if e.release.same_files(release) and e.source.names_the_same(source):
                return e if e.outcome == "failed" else None
        return None

    def entry(self, ref: str) -> Entry:
        """An entry by its number (`dadc status` shows it) or its compose file's sha256 prefix (4+)."""
        entries = self.entries()
        if re.fullmatch(r"\d{1,4}", ref):
            found = [e for e in entries if e.n == int(ref)]
        elif re.fullmatch(r"[0-9a-f]{4,64}", ref):
            found = list(self._newest([e for e in entries if e.release.compose_sha.startswith(ref)]).values())
        else:
            raise InvalidParameter(f"--to {ref!r}: give a history number or a sha256 prefix (4 or more hex digits)")
        if not found:
            raise InvalidParameter(f"--to {ref}: no such release in the history (dadc status lists it)")
        if len(found) > 1:
            raise InvalidParameter(f"--to {ref}: several releases match; give more of the sha256")
        return found[0]

    def files(self, release: Release) -> dict[str, bytes] | None:
        """The bodies of a release's files; None when one is missing or not what its name says."""
        out = {}
        for name, sha in release.files:
            body = self.state.body(sha)
            if body is None:
                return None
            out[name] = body
        return out

    # --- writing -----------------------------------------------------------------------------
    def record(self, outcome: Outcome, release: Release, source: Source, files: dict[str, bytes],
               reason: str = "") -> Entry:
        """Keep the bodies, then the entry: one atomic change of the index."""
        entries = self.entries()
        for raw in files.values():
            self.state.put_body(raw)
        now = time.time()
        if outcome == "good" and entries and entries[0].outcome == "good" and entries[0].release.id == release.id:
            entry = Entry(entries[0].n, "good", release, source, now, reason)  # the same release recorded again
            entries[0] = entry
        else:
            entry = Entry(max((e.n for e in entries), default=0) + 1, outcome, release, source, now, reason)
            entries.insert(0, entry)
        self._save(self._bounded(entries))
        return entry

    def _bounded(self, entries: list[Entry]) -> list[Entry]:
        keep = {id(e) for e in self.goods(entries)[:2]}  # what a rollback needs is never dropped
        sizes = self.state.bodies_size()

        def weight(es: list[Entry]) -> int:
            return sum(sizes.get(sha, 0) for sha in {sha for e in es for _, sha in e.release.files})
        while len(entries) > HISTORY_KEPT or (weight(entries) > MAX_BODIES and len(entries) > len(keep)):
            oldest = next((i for i in range(len(entries) - 1, -1, -1) if id(entries[i]) not in keep), None)
            if oldest is None:
                break
            del entries[oldest]
        return entries

    def _save(self, entries: list[Entry]) -> None:
        current = self.state.read(FILE)
        if current is not None:
            try:
                _parse(current)
                self.state.write(PREVIOUS, current)  # the generation before: whole, or not kept
            except (ValueError, TypeError, KeyError):
                pass
        self.state.write_json(FILE, {"format": FORMAT, "releases": [e.to_json() for e in entries]})
        self.state.drop_bodies({sha for e in entries for _, sha in e.release.files} |
                               {sha for e in self._previous() for _, sha in e.release.files})

    def _previous(self) -> list[Entry]:
        try:
            raw = self.state.read(PREVIOUS)
            return _parse(raw) if raw is not None else []
        except (ValueError, TypeError, KeyError, StateError):
            return []

    def import_legacy(self, raw: bytes) -> int:
        """dadc 0.2's history (`.dadc/records.json` in the destination, each entry with its compose
        text), once, when the state directory has none: its entries, as far as they are whole."""
        try:
            value: Any = json.loads(raw)
        except ValueError:
            return 0
        from dadc.domain.release import COMPOSE_NAME, Image, sha256
        entries = []
        for e in value.get("releases", []) if isinstance(value, dict) else []:
            if not (isinstance(e, dict) and isinstance(e.get("compose"), str) and isinstance(e.get("record"), dict)
                    and e.get("outcome") in ("good", "failed") and isinstance(e.get("n"), int)):
                continue
            body = e["compose"].encode()
            if sha256(body) != e.get("sha256"):
                continue
            record = e["record"]
            images = {str(s): Image.from_json(i) for s, i in (record.get("images") or {}).items() if isinstance(i, dict)}
            self.state.put_body(body)
            entries.append(Entry(e["n"], e["outcome"], Release(((COMPOSE_NAME, sha256(body)),), tuple(sorted(images.items())), False),
                                 Source.from_json(record), float(record.get("at") or 0), str(record.get("reason") or "")))
        if entries:
            self._save(self._bounded(sorted(entries, key=lambda x: -x.n)))
        return len(entries)
