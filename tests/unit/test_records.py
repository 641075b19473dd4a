"""The destination's records: each one atomic write (a crash never loses the last good deployment),
failed releases kept as a bounded list that a later failure never overwrites."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from connector.runtime.seams import history, local
from connector.runtime.seams.local import Destination, digest

A, B, C = (f"services:\n  web:\n    image: app:{n}\n".encode() for n in (1, 2, 3))


def test_a_new_good_release_keeps_the_one_before(tmp_path: Path) -> None:
    dest = Destination(tmp_path)
    dest.record_good(A, {"key": "a"})
    dest.record_good(B, {"key": "b"})
    assert dest.last_good() == (B, {"key": "b", "sha256": digest(B)})
    assert dest.previous_good() == (A, {"key": "a", "sha256": digest(A)})
    dest.record_good(B, {"key": "b", "again": True})  # the same release recorded again: the one before stays
    assert dest.previous_good() is not None and dest.previous_good()[0] == A  # type: ignore[index]


def test_a_crash_while_recording_never_loses_the_last_good_release(tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    dest = Destination(tmp_path)
    dest.record_good(A, {"key": "a"})
    real = local._write_at

    def crash_on_last_good(dirfd: int, name: str, data: bytes, mode: int, owner: int | None) -> None:
        if name == "records.json":
            raise OSError("power cut")
        real(dirfd, name, data, mode, owner)
    monkeypatch.setattr(local, "_write_at", crash_on_last_good)
    with pytest.raises(OSError):
        dest.record_good(B, {"key": "b"})
    monkeypatch.undo()
    assert dest.last_good() is not None and dest.last_good()[0] == A  # type: ignore[index]
    assert not [p for p in (tmp_path / ".dadc").iterdir() if p.name.endswith(".tmp")]


def test_the_history_is_bounded_but_keeps_what_a_rollback_needs(tmp_path: Path) -> None:
    dest = Destination(tmp_path)
    dest.record_good(A, {"key": "a"})
    dest.record_good(B, {"key": "b"})
    for n in range(history.HISTORY_KEPT * 2):
        dest.record_failed(f"n: {n}\n".encode(), {"reason": str(n)})
    entries = dest.history()
    assert len(entries) == history.HISTORY_KEPT
    assert dest.last_good()[0] == B and dest.previous_good()[0] == A  # type: ignore[index]
    # nothing inside the bound is lost: the newest failures, in order, none overwritten
    assert [e["record"]["reason"] for e in entries[:8]] == [str(n) for n in range(19, 11, -1)]
    assert [e["n"] for e in entries] == sorted((e["n"] for e in entries), reverse=True)


def test_the_same_release_recorded_good_again_is_one_entry(tmp_path: Path) -> None:
    dest = Destination(tmp_path)
    dest.record_good(A, {"key": "a"})
    dest.record_good(A, {"key": "a", "again": True})
    assert len(dest.history()) == 1 and dest.history()[0]["record"]["again"] is True


def test_an_entry_by_number_or_sha_prefix(tmp_path: Path) -> None:
    from connector.errors import InvalidParameter
    dest = Destination(tmp_path)
    dest.record_good(A, {"key": "a"})
    dest.record_failed(B, {"reason": "gate"})
    dest.record_good(C, {"key": "c"})
    assert dest.entry("1")["sha256"] == digest(A) and dest.entry(digest(B)[:6])["outcome"] == "failed"
    for bad in ("99", "zz", "abc"):
        with pytest.raises(InvalidParameter):
            dest.entry(bad)


def test_records_of_dadc_0_2_are_read(tmp_path: Path) -> None:
    import json
    (tmp_path / ".dadc").mkdir(mode=0o700)
    (tmp_path / ".dadc" / "last-good.json").write_text(json.dumps(
        {"compose": B.decode(), "record": {"key": "b", "at": 2, "sha256": digest(B)}}))
    (tmp_path / ".dadc" / "previous-good.json").write_text(json.dumps(
        {"compose": A.decode(), "record": {"key": "a", "at": 1, "sha256": digest(A)}}))
    (tmp_path / ".dadc" / "failed.json").write_text(json.dumps(
        {"releases": [{"compose": C.decode(), "sha256": digest(C), "reason": "gate", "at": 3}]}))
    dest = Destination(tmp_path)
    assert dest.last_good()[0] == B and dest.previous_good()[0] == A  # type: ignore[index]
    assert dest.failed()["reason"] == "gate"


def test_failed_releases_are_kept_newest_first_and_bounded(tmp_path: Path) -> None:
    dest = Destination(tmp_path)
    dest.record_failed(A, {"reason": "first"})
    dest.record_failed(B, {"reason": "second"})
    assert dest.failed()["reason"] == "second"
    assert dest.failed_release(digest(A))["reason"] == "first"  # type: ignore[index]  # not overwritten
    for n in range(Destination.FAILED_KEPT + 3):
        dest.record_failed(f"n: {n}\n".encode(), {"reason": str(n)})
    assert dest.failed_release(digest(A)) is None and len(dest.failed_releases()) == Destination.FAILED_KEPT
    dest.record_failed(C, {"reason": "c"})
    dest.record_good(C, {"key": "c"})  # good now (a rollback to it by hand, say): no longer a failed release
    assert dest.failed_release(digest(C)) is None and dest.failed()["reason"] != "c"


def test_a_failed_release_never_becomes_the_previous_good_one(tmp_path: Path) -> None:
    dest = Destination(tmp_path)
    dest.record_good(A, {"key": "a"})
    dest.record_failed(A, {"reason": "rolled back by hand"})
    dest.record_good(B, {"key": "b"})
    assert dest.previous_good() is None


def test_a_reload_after_a_rollback_changes_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    """SIGHUP (or a poll) with the unchanged definition whose release was rolled back: no stop, no
    start; a new definition is applied; going back to the rolled-back one is a change again."""
    from types import SimpleNamespace

    from connector.options import RuntimeOptions
    from connector.runtime import lifecycle
    from connector.runtime.definitions import Definition
    from connector.runtime.starting import ROLLED_BACK

    class Source:
        name = "def.json"

        def read(self, *, force: bool = False) -> bytes | None:
            return None

        def keep(self, raw: bytes) -> None:
            pass

    configs = {raw: SimpleNamespace(digest=raw.decode(), profile=SimpleNamespace(version=7)) for raw in (b"v1", b"v2", b"v3")}
    definition = Definition(Source(), False, None, None)
    monkeypatch.setattr(Definition, "config", lambda self, raw: configs[raw])
    events: list[str] = []
    from dataclasses import dataclass, field

    @dataclass
    class Ctx:  # what the runner reads of a context
        config: Any
        compose: Any = None
        dest: Any = field(default_factory=lambda: SimpleNamespace(root=Path("/d")))
    ctx = Ctx
    runner = lifecycle.Runner(RuntimeOptions(definition="def.json"), definition, SimpleNamespace(publish=print),
                              ctx)  # type: ignore[arg-type]
    monkeypatch.setattr(runner, "_lock", lambda new: None)
    monkeypatch.setattr(lifecycle.stopping, "stop", lambda old: events.append(f"stop {old.config.digest}") or True)
    outcomes = {"v1": 0, "v2": ROLLED_BACK, "v3": 0}
    monkeypatch.setattr(runner, "_start", lambda new, raw: events.append(f"start {raw.decode()}")
                        or outcomes[raw.decode()])
    for raw in (b"v1", b"v2", b"v2", b"v2", b"v3", b"v2"):
        runner._apply(raw)
    assert events == ["start v1", "stop v1", "start v2",  # v2 failed its gate: v1 runs again
                      "stop v1", "start v3",  # the reloads of v2 changed nothing; v3 is new
                      "stop v3", "start v2"]  # back to v2 is a change again


def test_what_a_rollback_can_restore_tag_digest_or_local_build() -> None:
    """Asked before anything is taken down: present images are fine; a missing one is pulled by its
    digest; one built locally (no digest) or whose digest is gone cannot come back, and it says why."""
    from types import SimpleNamespace

    from connector.errors import CommandFailed
    from connector.runtime import rollback

    class Docker:
        def __init__(self, present: set[str], pullable: set[str]) -> None:
            self.present, self.pullable, self.pulled = present, pullable, []  # type: ignore[var-annotated]

        def missing_images(self, images: tuple[str, ...]) -> list[str]:
            return [i for i in images if i not in self.present]

        def pull(self, reference: str) -> None:
            self.pulled.append(reference)
            if reference not in self.pullable:
                raise CommandFailed("manifest unknown")
            self.present.add(reference.split("@")[1])

    tagged = {"web": {"image": "reg/app:1", "id": "sha256:a", "digests": ["reg/app@sha256:a"]}}
    built = {"web": {"image": "local-build", "id": "sha256:b", "digests": []}}
    ctx = SimpleNamespace(docker=Docker({"sha256:b"}, {"reg/app@sha256:a"}))
    assert rollback.restorable(ctx, tagged) is None and ctx.docker.pulled == ["reg/app@sha256:a"]  # type: ignore[arg-type]
    assert rollback.restorable(ctx, built) is None  # type: ignore[arg-type]  # still present
    gone = SimpleNamespace(docker=Docker(set(), set()))
    assert "was built locally (no digest to pull it by)" in rollback.restorable(gone, built)  # type: ignore[arg-type,operator]
    assert "cannot be pulled by its digest" in rollback.restorable(gone, tagged)  # type: ignore[arg-type,operator]
