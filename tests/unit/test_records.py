"""The release history and what is installed: every change one atomic write (a crash never loses
the last good deployment, nor leaves a local copy dadc would call changed), bounded in entries and
bytes, a damaged index a loud refusal (never read as empty), failures never overwritten."""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from dadc.domain.release import COMPOSE_NAME, Image, Source, release, sha256
from dadc.errors import InvalidParameter, RecordsDamaged, StateError
from dadc.runtime.seams import history, state
from dadc.runtime.seams.local import Destination
from dadc.runtime.seams.state import StateDir
from dadc.runtime.workspace import Workspace

A, B, C = (f"services:\n  web:\n    image: app:{n}\n".encode() for n in (1, 2, 3))
SRC = Source("bucket", "key")


def ws(tmp_path: Path) -> Workspace:
    (tmp_path / "dest").mkdir(mode=0o700, exist_ok=True)
    w = Workspace(Destination(tmp_path / "dest"), StateDir(tmp_path / "state", tmp_path / "dest"))
    w.prepare()
    return w


def rel(raw: bytes, image_id: str = "sha256:1", env: bytes | None = None) -> tuple[Any, dict[str, bytes]]:
    files = {COMPOSE_NAME: raw, **({".env": env} if env is not None else {})}
    return release(files, {"web": Image("app:1", image_id, ("reg/app@" + image_id,))}), files


def good(w: Workspace, raw: bytes, image_id: str = "sha256:1", reason: str = "") -> None:
    r, files = rel(raw, image_id)
    w.history.record("good", r, SRC, files, reason)


def failed(w: Workspace, raw: bytes, reason: str, image_id: str = "sha256:1") -> None:
    r, files = rel(raw, image_id)
    w.history.record("failed", r, SRC, files, reason)


def compose_of(entry: Any) -> str:
    return entry.release.compose_sha


def test_a_new_good_release_keeps_the_one_before(tmp_path: Path) -> None:
    w = ws(tmp_path)
    good(w, A)
    good(w, B)
    assert compose_of(w.history.last_good()) == sha256(B) and compose_of(w.history.previous_good()) == sha256(A)
    good(w, B)  # the same release recorded again: the one before stays
    assert compose_of(w.history.previous_good()) == sha256(A) and len(w.history.entries()) == 2
    assert w.history.files(w.history.last_good().release) == {COMPOSE_NAME: B}  # type: ignore[union-attr]


def test_a_file_started_again_with_other_images_is_another_release(tmp_path: Path) -> None:
    """A tag pushed again: the same compose file, another image. Two releases, each its own entry;
    the first stays good to go back to."""
    w = ws(tmp_path)
    good(w, A, "sha256:old")
    failed(w, A, "gate", "sha256:new")
    assert [e.outcome for e in w.history.entries()] == ["failed", "good"]
    last = w.history.last_good()
    assert last is not None and last.release.image_map()["web"].id == "sha256:old"
    assert w.history.failed_files(rel(A)[0], SRC) is not None  # the definition names those files again


def test_a_crash_while_recording_never_loses_the_last_good_release(tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    w = ws(tmp_path)
    good(w, A)
    real = state.atomic_write

    def crash_on_index(path: Path, data: bytes, mode: int = 0o600, group: int | None = None) -> None:
        if path.name == history.FILE:
            raise StateError("power cut")
        real(path, data, mode, group)
    monkeypatch.setattr(state, "atomic_write", crash_on_index)
    with pytest.raises(StateError):
        good(w, B)
    monkeypatch.undo()
    assert compose_of(w.history.last_good()) == sha256(A)
    assert not [p for p in w.state.root.iterdir() if p.name.endswith(".tmp")]


def test_the_history_is_bounded_but_keeps_what_a_rollback_needs(tmp_path: Path) -> None:
    w = ws(tmp_path)
    good(w, A)
    good(w, B)
    for n in range(history.HISTORY_KEPT * 2):
        failed(w, f"n: {n}\n".encode(), str(n))
    entries = w.history.entries()
    assert len(entries) == history.HISTORY_KEPT
    assert compose_of(w.history.last_good()) == sha256(B) and compose_of(w.history.previous_good()) == sha256(A)
    # nothing inside the bound is lost: the newest failures, in order, none overwritten
    assert [e.reason for e in entries[:8]] == [str(n) for n in range(19, 11, -1)]
    assert [e.n for e in entries] == sorted((e.n for e in entries), reverse=True)
    kept = {sha for e in entries for _, sha in e.release.files}
    assert set(w.state.bodies_size()) <= kept | {sha for e in history._parse(w.state.read(history.PREVIOUS) or b"")
                                                   for _, sha in e.release.files}


def test_the_history_is_bounded_in_bytes_and_each_body_is_kept_once(tmp_path: Path,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """dadc 0.2 kept each entry's whole compose file in one JSON file and cut what it read at
    16 MiB: eleven deploys of a 1.8 MB file left a history of none. Now each body is kept once,
    and the oldest entries go when the bodies pass the bound."""
    monkeypatch.setattr(history, "MAX_BODIES", 5 * 1024 * 1024)
    w = ws(tmp_path)
    big = [b"x: " + bytes([65 + n]) * 1_800_000 + b"\n" for n in range(11)]
    for n, raw in enumerate(big):
        good(w, raw, f"sha256:{n}")
    good(w, big[-1], "sha256:10")  # again: the same release, one entry
    entries = w.history.entries()
    assert compose_of(entries[0]) == sha256(big[-1]) and len(entries) >= 2
    assert sum(w.state.bodies_size().values()) <= 2 * 5 * 1024 * 1024  # this generation's and the one before's
    assert w.history.files(entries[1].release) == {COMPOSE_NAME: big[-2]}


@pytest.mark.parametrize("damage", [b"", b'{"format": 2, "releases": [', b"[]", b'{"releases": {}}', b"null",
                                    b'{"format": 2, "releases": [{"n": 1}]}'])
def test_a_damaged_history_is_kept_aside_and_the_generation_before_it_used(tmp_path: Path, damage: bytes) -> None:
    w = ws(tmp_path)
    good(w, A)
    good(w, B)  # the generation before this one holds A
    (w.state.root / history.FILE).write_bytes(damage)
    entries = w.history.entries()  # A alone: the generation before
    assert [compose_of(e) for e in entries] == [sha256(A)] and "damaged" in w.history.recovered
    assert [p.name for p in w.state.root.iterdir() if p.name.startswith(history.FILE + ".corrupt-")]
    (w.state.root / history.FILE).write_bytes(damage)
    (w.state.root / history.PREVIOUS).write_bytes(b"garbage")
    for _ in range(3):  # neither generation reads: a loud refusal, at every read, never an empty history
        with pytest.raises(RecordsDamaged, match="is damaged"):
            w.history.entries()
        assert w.history.damaged()
    with pytest.raises(RecordsDamaged):
        good(w, C)  # nothing is written over it either


def test_no_history_is_not_a_damaged_one(tmp_path: Path) -> None:
    w = ws(tmp_path)
    assert w.history.entries() == [] and w.history.damaged() == ""


def test_a_read_past_its_limit_fails_and_never_cuts(tmp_path: Path) -> None:
    w = ws(tmp_path)
    (w.state.root / history.FILE).write_bytes(b" " * (state.MAX_READ + 1))
    with pytest.raises(StateError, match="larger than"):
        w.history.entries()
    (tmp_path / "dest" / ".env").write_bytes(b"A=1\n" * 400_000)
    with pytest.raises(StateError, match="larger than"):
        w.dest.read(".env", limit=1024)


def test_an_entry_by_number_or_sha_prefix(tmp_path: Path) -> None:
    w = ws(tmp_path)
    good(w, A)
    failed(w, B, "gate")
    good(w, C)
    assert compose_of(w.history.entry("1")) == sha256(A) and w.history.entry(sha256(B)[:6]).outcome == "failed"
    for bad in ("99", "zz", "abc"):
        with pytest.raises(InvalidParameter):
            w.history.entry(bad)


def test_the_history_of_dadc_0_2_in_the_destination_is_imported_once(tmp_path: Path) -> None:
    (tmp_path / "dest" / ".dadc").mkdir(parents=True, mode=0o700)
    (tmp_path / "dest" / ".dadc" / "records.json").write_text(json.dumps({"releases": [
        {"n": 2, "outcome": "good", "sha256": sha256(B), "compose": B.decode(),
         "record": {"bucket": "b", "key": "k", "at": 2, "images": {"web": {"image": "app:2", "id": "sha256:2",
                                                                           "digests": []}}}},
        {"n": 1, "outcome": "good", "sha256": sha256(A), "compose": A.decode(), "record": {"at": 1}},
        {"n": 0, "outcome": "good", "sha256": "not-the-bytes", "compose": C.decode(), "record": {}}]}))
    w = ws(tmp_path)
    assert [compose_of(e) for e in w.history.entries()] == [sha256(B), sha256(A)]
    assert not w.history.last_good().release.complete  # type: ignore[union-attr]  # its .env was never kept


def test_failed_releases_are_kept_newest_first_and_bounded(tmp_path: Path) -> None:
    w = ws(tmp_path)
    failed(w, A, "first")
    failed(w, B, "second")
    assert [e.reason for e in w.history.failed_releases()] == ["second", "first"]  # not overwritten
    for n in range(history.HISTORY_KEPT + 3):
        failed(w, f"n: {n}\n".encode(), str(n))
    assert len(w.history.failed_releases()) == history.HISTORY_KEPT
    failed(w, C, "c")
    good(w, C)  # good now (a rollback to it by hand, say): no longer a failed release
    assert "c" not in [e.reason for e in w.history.failed_releases()]


def test_a_failed_release_never_becomes_the_previous_good_one(tmp_path: Path) -> None:
    w = ws(tmp_path)
    good(w, A)
    failed(w, A, "rolled back by hand")
    good(w, B)
    assert w.history.previous_good() is None


@pytest.mark.parametrize("crash_at", [0, 1, 2])
def test_a_crash_between_the_writes_of_an_install_never_makes_the_copy_look_tampered(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, crash_at: int) -> None:
    """Install is: state.json names the file it is about to install, the file, state.json names it
    installed. Whichever write a crash stops, the local copy passes dadc's own check."""
    w = ws(tmp_path)
    w.install(A, SRC)
    writes = {"n": 0}
    real_state, real_local = state.atomic_write, w.dest.write

    def counted(real: Any) -> Any:
        def write(*args: Any, **kw: Any) -> None:
            if writes["n"] == crash_at:
                raise StateError("power cut")
            writes["n"] += 1
            real(*args, **kw)
        return write
    monkeypatch.setattr(state, "atomic_write", counted(real_state))
    monkeypatch.setattr(w.dest, "write", counted(real_local))
    with pytest.raises(StateError):
        w.install(B, Source("bucket", "key", None, "v2"))
    monkeypatch.undo()
    assert w.unchanged() is None
    installed = w.installed()
    assert installed is not None and installed.sha256 == sha256(w.dest.local_copy() or b"")
    (tmp_path / "dest" / COMPOSE_NAME).write_bytes(C)  # someone else's change is still caught
    assert "changed since dadc installed it" in (w.unchanged() or "")


def test_a_full_disk_is_a_named_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import errno
    w = ws(tmp_path)

    def full(*args: Any, **kw: Any) -> int:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
    monkeypatch.setattr(os, "write", full)
    with pytest.raises(StateError, match=r"bodies/[0-9a-f]{64} failed: No space left on device"):
        good(w, A)
    with pytest.raises(StateError, match=r"state.json failed: No space left on device"):
        w.install(A, SRC)


def test_a_restore_puts_back_every_file_the_release_read(tmp_path: Path) -> None:
    w = ws(tmp_path)
    (tmp_path / "dest" / ".env").write_text("TAG=2\n")
    w.restore({COMPOSE_NAME: A, ".env": b"TAG=1\n", "app.env": b"X=1\n"}, SRC)
    assert (tmp_path / "dest" / ".env").read_text() == "TAG=1\n" and (tmp_path / "dest" / "app.env").exists()
    w.restore({COMPOSE_NAME: B}, SRC)  # a release that had no .env: none now
    assert not (tmp_path / "dest" / ".env").exists() and w.dest.local_copy() == B
    (tmp_path / "dest" / ".env").write_text("TAG=3\n")
    w.restore({COMPOSE_NAME: A}, SRC, complete=False)  # dadc 0.2's record knew no other file: it is left
    assert (tmp_path / "dest" / ".env").read_text() == "TAG=3\n"


def test_every_file_compose_reads_is_part_of_the_release(tmp_path: Path) -> None:
    w = ws(tmp_path)
    dest = tmp_path / "dest"
    (dest / ".env").write_text("TAG=1\n")
    (dest / "app.env").write_text("A=1\n")
    (dest / "base.yml").write_text("services: {}\n")
    raw = (b"include: [inc.yml]\nservices:\n  web:\n    image: app:${TAG}\n    env_file: [app.env, /etc/x.env]\n"
           b"    extends: {file: base.yml, service: b}\n  db:\n    image: db:1\n    env_file: ../outside.env\n")
    assert sorted(w.project_files(raw)) == [".env", "app.env", "base.yml", COMPOSE_NAME]  # inc.yml does not exist


def test_a_reload_after_a_rollback_changes_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    """SIGHUP (or a poll) with the unchanged definition whose release was rolled back: no stop, no
    start; a new definition is applied; going back to the rolled-back one is a change again."""
    from types import SimpleNamespace

    from dadc.options import RuntimeOptions
    from dadc.runtime import lifecycle
    from dadc.runtime.definitions import Definition
    from dadc.runtime.starting import ROLLED_BACK

    class Source:
        name = "def.json"

        def read(self, *, force: bool = False) -> bytes | None:
            return None

        def keep(self, raw: bytes) -> None:
            pass

    configs = {raw: SimpleNamespace(digest=raw.decode(), profile=SimpleNamespace(version=7)) for raw in (b"v1", b"v2", b"v3")}
    definition = Definition(Source(), False, None, None)
    monkeypatch.setattr(Definition, "config", lambda self, raw, api_shape=True: configs[raw])
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
    monkeypatch.setattr(runner, "_start", lambda new, raw, **kw: events.append(f"start {raw.decode()}")
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

    from dadc.errors import CommandFailed
    from dadc.domain.release import Image
    from dadc.runtime.handlers import recovery as rollback

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

    tagged = (("web", Image("reg/app:1", "sha256:a", ("reg/app@sha256:a",))),)
    built = (("web", Image("local-build", "sha256:b")),)
    ctx = SimpleNamespace(docker=Docker({"sha256:b"}, {"reg/app@sha256:a"}))
    assert rollback.restorable(ctx, tagged) is None and ctx.docker.pulled == ["reg/app@sha256:a"]  # type: ignore[arg-type]
    assert rollback.restorable(ctx, built) is None  # type: ignore[arg-type]  # still present
    gone = SimpleNamespace(docker=Docker(set(), set()))
    assert "was built locally (no digest to pull it by)" in rollback.restorable(gone, built)  # type: ignore[arg-type,operator]
    assert "cannot be pulled by its digest" in rollback.restorable(gone, tagged)  # type: ignore[arg-type,operator]
