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


def write_measured_run(data: Path, config: str, seed: int, steps, success, planned_steps: int | None = None,
                       **losses) -> None:
    """A measured run of ``config`` in ``data/runs/<config>_s<seed>`` logging ``success`` (and any ``losses``, e.g.
    ``critic_loss=...``) at ``steps``, as ``pixelpush collect`` would write it; with ``planned_steps``, as
    ``pixelpush collect --unfinished`` writes a run still training towards that budget."""
    import pandas as pd

    from pixelpush_lib.results.importer import write_run

    metrics = {"success_rate": success, **losses}
    curve = pd.concat([pd.DataFrame({"step": steps, "metric": metric, "value": values})
                       for metric, values in metrics.items()])
    write_run({"schema_version": 1, "run_id": f"{config}_s{seed}", "arc_step": config.removeprefix("step"),
               "config": config, "seed": seed, "inputs": "unknown",
               "provenance": {"kind": "measured", "command": "test", "config": config, "commit": "abc1234",
                              "machine": "test",
                              **({"planned_steps": planned_steps, "in_progress": True} if planned_steps else {})}},
              curve, data)
