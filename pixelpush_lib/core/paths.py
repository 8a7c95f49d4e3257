"""Where the repository keeps things. Every module that needs a path reads it from here."""

from __future__ import annotations

import os
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
DATA_DIR = REPO_ROOT / "data"  # every loader also takes a data_dir argument (tests use temporary copies)
MEASURED_DIR = DATA_DIR / "measured"
NOTEBOOKS_DIR = REPO_ROOT / "notebooks"
# The author's experiment log, as laid beside a checkout on the project's machines (not in readers' copies).
SHARED_REFERENCE_DIR = REPO_ROOT.parent / "shared" / "reference"


def cache_dir() -> Path:
    """Where downloads and results derived from ``data/`` are kept between processes: ``$PIXELPUSH_CACHE`` (when set
    and not empty), else ``~/.cache/pixelpush``. Anything in it can be deleted; it is fetched or computed again."""
    return Path(os.environ.get("PIXELPUSH_CACHE") or Path.home() / ".cache" / "pixelpush")
