"""What the steps of one start (or rollback) hand on to each other."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

from dadc.domain.release import Entry, Source

if TYPE_CHECKING:  # YAML is imported only by a start, never by the long-lived `dadc run`
    from dadc.domain.composefile import ComposeProject


@dataclass
class Session:
    file: Path | None = None  # the compose file the steps call "incoming": fetched, or the local copy
    raw: bytes = b""
    source: Source | None = None  # where the file that runs came from (the local copy's, offline)
    offline: bool = False  # the local copy stands in (an offline fallback)
    project: "ComposeProject | None" = None
    files: dict[str, bytes] = field(default_factory=dict)  # every file compose reads for it (seams: workspace)
    up: tuple[str, ...] = ()  # the containers the last up left (their ids): what a record describes
    publish: Callable[[dict[str, Any]], None] | None = None  # the start's status sink
    published: bool = False  # the success status is out: what fails after it is logged, not published
    # a recovery's: why it runs, the release it brings back, the ones it could not, what failed
    failure: str = ""
    target: Entry | None = None
    target_files: dict[str, bytes] = field(default_factory=dict)
    skipped: list[str] = field(default_factory=list)
    exclude: str = ""  # the release id that failed: never a candidate to come back
    done: list[str] = field(default_factory=list)  # the steps run so far (what an interrupt says)
