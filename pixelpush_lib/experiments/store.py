"""Writing a live experiment's measured results into ``data/measured/<experiment>/``, with provenance.

A complete new folder (result files, then ``manifest.json``) replaces the old one in one rename, so a failed
run leaves the previous measurement intact. Reading is :mod:`pixelpush_lib.results.measured`.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pixelpush_lib.core.files import replace_dir, utc_now
from pixelpush_lib.core.paths import MEASURED_DIR
from pixelpush_lib.results.measured import MANIFEST


def provenance_record(command: str, wall_time_s: float) -> dict[str, Any]:
    """What a measured result must carry (git commit + dirty flag, machine, versions, date, command)."""
    # Imported here: it reads torch's and SB3's versions, and a page that only reads results never writes one.
    from pixelpush_lib.training.provenance import environment_record

    env = environment_record("cpu")
    commit = env["git_commit"]
    return {
        "kind": "measured",
        "command": command,
        "git_commit": commit.removesuffix("+dirty"),
        "git_dirty": commit.endswith("+dirty"),
        "machine": env["host"],
        "versions": env["versions"],
        "date": utc_now(),
        "wall_time_s": round(wall_time_s, 1),
    }


def write_measured(experiment: str, writers: dict[str, Callable[[Path], None]], parameters: dict[str, Any],
                   command: str, wall_time_s: float, summary: dict[str, Any] | None = None,
                   measured_dir: Path = MEASURED_DIR, provenance: dict[str, Any] | None = None) -> Path:
    """Write ``measured_dir/experiment/``: each ``writers[filename](path)`` writes one file into a staging
    folder, then ``manifest.json`` is added and the folder replaces the old one. Returns the folder.

    ``provenance`` replaces fields of this machine's record, for a result measured elsewhere (another machine's
    commit, host and versions) and brought here from its log."""
    measured_dir = Path(measured_dir)
    measured_dir.mkdir(parents=True, exist_ok=True)
    staged = measured_dir / f".{experiment}.staging"
    shutil.rmtree(staged, ignore_errors=True)
    staged.mkdir()
    try:
        for name, write in writers.items():
            write(staged / name)
        record = {**provenance_record(command, wall_time_s), **(provenance or {})}
        manifest = {"schema_version": 1, "experiment": experiment, "provenance": record,
                    "parameters": parameters, "files": sorted(writers), "summary": summary or {}}
        (staged / MANIFEST).write_text(json.dumps(manifest, indent=2, default=str) + "\n")
        replace_dir(staged, measured_dir / experiment)
    finally:
        shutil.rmtree(staged, ignore_errors=True)
    return measured_dir / experiment
