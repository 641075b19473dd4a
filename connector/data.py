"""The one loader for the data that ships with dadc (versions/, schemas/, conformance cases).

Installed, the folders live inside the package (see pyproject's package-dir mapping);
in a source checkout they sit at the top of the repository. $DADC_DATA_DIR, when set, is a folder
holding other versions/ and schemas/ (a copy with a new version in it, before it ships).
"""
from __future__ import annotations

import json
from functools import lru_cache
from importlib import resources
from importlib.abc import Traversable
from pathlib import Path
from typing import Any

_SOURCE_ROOT = Path(__file__).resolve().parent.parent


def data_dir(name: str) -> Traversable:
    import os
    chosen = os.environ.get("DADC_DATA_DIR")
    if chosen and (Path(chosen) / name).is_dir():
        return Path(chosen) / name
    installed = resources.files("dadc") / name
    if installed.is_dir():
        return installed
    return _SOURCE_ROOT / name


@lru_cache(maxsize=None)
def load_json(folder: str, filename: str) -> Any:
    return json.loads((data_dir(folder) / filename).read_text(encoding="utf-8"))
