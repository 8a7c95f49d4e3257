"""How each config differs from the author's reported run it reproduces: ``data/reported/config_notes.csv``.

One row per note: ``config``, ``run_id`` (the reported run, a row of ``data/reported/runs.csv``), ``kind``
(``difference``: the reported run differs from the config; ``unreported_default``: the log does not give this
value, so the config's is our choice) and ``note``. Compare a config's numbers with the reported run's only
with these in mind.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from pixelpush_lib.core.configs import CONFIGS
from pixelpush_lib.core.paths import DATA_DIR
from pixelpush_lib.results.schema import data_error, read_csv_strict

NOTE_COLUMNS = ("config", "run_id", "kind", "note")
NOTE_KINDS = ("difference", "unreported_default")


def load_config_notes(data_dir: Path = DATA_DIR) -> pd.DataFrame:
    """Every note, validated: known configs and kinds, and each row's run id is the config's reported run."""
    path = Path(data_dir) / "reported" / "config_notes.csv"
    frame = read_csv_strict(path, NOTE_COLUMNS)
    for row, rec in enumerate(frame.to_dict("records"), start=2):
        if rec["config"] not in CONFIGS:
            raise data_error(path, f"unknown config '{rec['config']}'", f"use one of {list(CONFIGS)}", row, "config")
        if rec["kind"] not in NOTE_KINDS:
            raise data_error(path, f"unknown kind '{rec['kind']}'", f"use one of {list(NOTE_KINDS)}", row, "kind")
        expected = CONFIGS[rec["config"]].reference_run
        if rec["run_id"] != expected:
            raise data_error(path, f"run id '{rec['run_id']}' is not config {rec['config']}'s reported run",
                             f"write '{expected}' (RunConfig.reference_run)", row, "run_id")
        if not rec["note"].strip():
            raise data_error(path, "the note is empty", "write what differs, or drop the row", row, "note")
    return frame


def reference_differences(config: str, data_dir: Path = DATA_DIR) -> list[str]:
    """How the reported run behind ``config`` differs from it (empty when it matches)."""
    notes = load_config_notes(data_dir)
    return notes[(notes["config"] == config) & (notes["kind"] == "difference")]["note"].tolist()


def unreported_defaults(config: str, data_dir: Path = DATA_DIR) -> list[str]:
    """Values of ``config`` that the author's log does not report for its run (our choice, said so)."""
    notes = load_config_notes(data_dir)
    return notes[(notes["config"] == config) & (notes["kind"] == "unreported_default")]["note"].tolist()
