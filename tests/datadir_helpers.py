"""Helpers for tests that need a private copy of data/ (tests never write the repository's data/)."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

from pixelpush_lib.core.paths import DATA_DIR


def copy_data(tmp_path: Path) -> Path:
    """A tmp data dir holding a copy of the repository's data/reported (no project runs)."""
    target = tmp_path / "data"
    shutil.copytree(DATA_DIR / "reported", target / "reported")
    return target


def snapshot(root: Path) -> dict[str, str]:
    """Relative path -> sha256 (or 'dir') of everything under ``root``: equal snapshots mean nothing changed."""
    out = {}
    for p in sorted(Path(root).rglob("*")):
        out[str(p.relative_to(root))] = "dir" if p.is_dir() else hashlib.sha256(p.read_bytes()).hexdigest()
    return out
