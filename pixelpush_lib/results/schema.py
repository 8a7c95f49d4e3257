"""The schema of ``data/``: its columns, units and kinds, and the validators that refuse a bad cell.

Layout (documented for readers in ``data/README.md``)::

    data/
      reported/points.csv     the author's figures, one row per number (provenance "reported")
      reported/runs.csv       one row per reported run: the per-run manifest of the reported set
      reported/facts.csv      scalar facts with no training step (memory math, DrQ noise, ...)
      reported/manifest.json  how the set was made (converter, source files and their sha256)
      runs/<run_id>/manifest.json   one measured or imported run: config, seed, inputs, provenance
      runs/<run_id>/curve.csv       its logged values, long format: step, metric, value
      measured/<experiment>/  a live experiment's measured results and manifest.json

Every check raises :class:`DataError` naming the file, the row (1-based, the header is row 1, as a spreadsheet
shows it) and the column, and saying how to fix it. Nothing here writes.
"""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Any

import pandas as pd

from pixelpush_lib.core.configs import config_names
from pixelpush_lib.results.caching import cached_per_file

SCHEMA_VERSION = 1
#: The commit of the author's repository that the reported set was read at (``data/reported/manifest.json``).
HEAD_COMMIT = "e871ca265c29c26c45ebe34fe6cd47aa504e6bb4"

#: Config names of ``pixelpush_lib.core.configs`` (the author's five and their ``*_pixels_only`` twins);
#: ``None`` (an empty cell) means "no config of this chapter".
CONFIG_NAMES = tuple(config_names())
#: runs.csv's ``arc_step`` -> config name. ``other`` and anything unknown map to no config.
ARC_STEP_TO_CONFIG = {"state": "state", "0": "step0", "1": "step1", "2": "step2", "4": "step4"}
KINDS = ("point", "range", "rolling_mean", "phase_summary", "event", "milestone_guidance")
PROVENANCES = ("reported", "measured", "imported")
#: Metric -> unit. Success rates are fractions in [0, 1], never percentages.
METRIC_UNITS = {
    "success_rate": "fraction",
    "critic_loss": "loss",
    "actor_loss": "loss",
    "ep_rew_mean": "reward",
    "eval_return_mean": "return",
    "fps": "steps/s",
    "ent_coef": "coefficient",
    "final_distance_m": "m",
    "hockey_stick_onset": "steps",
}
#: What a policy can see; ``inputs`` is these tokens joined by "+", or "unknown".
INPUT_TOKENS = ("pixels", "proprio", "state", "desired_goal", "achieved_goal")
#: SB3's logger keys -> this schema's metric names (the importer's mapping).
SB3_KEYS = {
    "rollout/success_rate": "success_rate",
    "train/critic_loss": "critic_loss",
    "train/actor_loss": "actor_loss",
    "rollout/ep_rew_mean": "ep_rew_mean",
    "time/fps": "fps",
}
SB3_STEP_KEY = "time/total_timesteps"

POINT_COLUMNS = (
    "run_id", "arc_step", "config", "seed", "metric", "unit", "step", "span_end", "span_open",
    "value", "value_low", "value_high", "kind", "provenance", "source_file", "source_line", "commit", "note",
)
RUN_COLUMNS = (
    "run_id", "arc_step", "config", "seed", "inputs", "inputs_evidence", "description", "hyperparameters",
    "total_steps_reported", "status", "provenance", "source_file", "source_line", "commit",
)
FACT_COLUMNS = (
    "fact", "value", "value_low", "value_high", "unit", "source_file", "source_lines", "commit", "via", "note",
)
CURVE_COLUMNS = ("step", "metric", "value")
MANIFEST_KEYS = ("schema_version", "run_id", "arc_step", "config", "seed", "inputs", "provenance")

# Reported 95% confidence intervals can poke past [0, 1] (99.4% +/- 1.1 -> 1.005): bounds get this slack.
BOUND_SLACK = 0.01
_RUN_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$")
_COMMIT = re.compile(r"^[0-9a-f]{7,40}$")
_LINES = re.compile(r"^\d+(-\d+)?(,\d+(-\d+)?)*$")


class DataError(ValueError):
    """A file in ``data/`` (or one given to the importer) is not what the schema says.

    The message names the file, the row and the column, and says how to fix it.
    """


def _where(path: Path | str, row: int | None = None, column: str | None = None) -> str:
    parts = [str(path)]
    if row is not None:
        parts.append(f"row {row}")
    if column is not None:
        parts.append(f"column '{column}'")
    return ", ".join(parts)


def data_error(path: Path | str, problem: str, fix: str, row: int | None = None, column: str | None = None) -> DataError:
    """Build a :class:`DataError` whose text is ``<file>, row R, column 'C': <problem>. Fix: <fix>``."""
    return DataError(f"{_where(path, row, column)}: {problem}. Fix: {fix}")


# --------------------------------------------------------------------------- reading raw files


def read_csv_strict(path: Path, required: tuple[str, ...]) -> pd.DataFrame:
    """Read a CSV as strings (empty cell = missing), refusing empty, binary and column-less files.

    Returns a DataFrame of ``str`` with at least the ``required`` columns, in file order.
    """
    path = check_csv_text(path, required)
    try:
        frame = pd.read_csv(path, dtype=str, keep_default_na=False, na_filter=False)
    except pd.errors.ParserError as error:  # "Error tokenizing data. C error: Expected 3 fields in line 3, saw 4"
        raise data_error(path, f"a row's cells do not match the header ({str(error).split('error: ')[-1].strip()})",
                         "give every row one cell per column; quote a cell that holds a comma (\"0,6\")") from None
    missing = [c for c in required if c not in frame.columns]
    if missing:
        raise data_error(path, f"missing column(s) {missing}; found {list(frame.columns)}",
                         f"add the column(s) {missing} to the header (schema: data/README.md)", column=missing[0])
    return frame


def check_csv_text(path: Path, required: tuple[str, ...]) -> Path:
    """Refuse a file that is missing, empty, binary or not UTF-8 (naming the file and the fix); return its path."""
    path = Path(path)
    if not path.is_file():
        raise data_error(path, "file not found", "check the path or run the step that writes it")
    raw = path.read_bytes()
    if not raw.strip():
        raise data_error(path, "file is empty", f"write a header row with the columns {', '.join(required)}")
    if b"\x00" in raw[:4096]:
        raise data_error(path, "file is binary, not CSV text", "pass the CSV file itself (for TensorBoard logs, "
                         "pass the run directory to the importer)")
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError as error:
        raise data_error(path, f"file is not UTF-8 text ({error.reason} at byte {error.start})",
                         "save it as UTF-8 CSV") from None
    return path


def parse_float(text: str, path: Path, row: int, column: str, required: bool = False) -> float | None:
    """Parse one numeric cell. Empty means 'not reported' (None); NaN/inf and junk are errors."""
    text = text.strip()
    if text == "":
        if required:
            raise data_error(path, "value is missing", "fill in the number or drop the row", row, column)
        return None
    try:
        value = float(text)
    except ValueError:
        raise data_error(path, f"'{text}' is not a number", "write a plain decimal number", row, column) from None
    if not math.isfinite(value):
        raise data_error(path, f"value is {text}", "leave the cell empty when a figure was not reported, "
                         "or drop the row; NaN/inf are not data", row, column)
    return value


def parse_int(text: str, path: Path, row: int, column: str, required: bool = False) -> int | None:
    """Parse a non-negative integer cell (steps, seeds, line numbers)."""
    value = parse_float(text, path, row, column, required)
    if value is None:
        return None
    if value < 0 or value != int(value):
        raise data_error(path, f"'{text}' is not a non-negative integer", "write whole steps (2.44M -> 2440000)",
                         row, column)
    return int(value)


def check_config(text: str, path: Path, row: int, column: str = "config") -> str | None:
    """An empty cell is no config; anything else must be one of :data:`CONFIG_NAMES`."""
    if text == "":
        return None
    if text not in CONFIG_NAMES:
        raise data_error(path, f"unknown config '{text}'", f"use one of {list(CONFIG_NAMES)} or leave it empty",
                         row, column)
    return text


def check_inputs(text: str, path: Path, row: int | None, column: str = "inputs") -> str:
    """``inputs`` is "unknown" or tokens of :data:`INPUT_TOKENS` joined by '+'."""
    if text == "unknown":
        return text
    tokens = text.split("+")
    bad = [t for t in tokens if t not in INPUT_TOKENS]
    if not text or bad:
        raise data_error(path, f"inputs '{text}' has unknown token(s) {bad}",
                         f"join tokens from {list(INPUT_TOKENS)} with '+', or write 'unknown'", row, column)
    return text


def check_metric_value(metric: str, value: float | None, path: Path, row: int, column: str) -> None:
    """Value ranges per metric; catches percentages written where fractions are expected."""
    if value is None or metric != "success_rate":
        return
    slack = 0.0 if column == "value" else BOUND_SLACK
    if -slack <= value <= 1 + slack:
        return
    hint = (f"success rates are fractions: write {value / 100:g} instead of {value:g}"
            if 1 < value <= 100 else "success rates are fractions in [0, 1]")
    raise data_error(path, f"success_rate {value:g} is outside [0, 1]", hint, row, column)


# --------------------------------------------------------------------------- reported set


@cached_per_file
def load_runs_table(path: Path) -> pd.DataFrame:
    """Validate ``reported/runs.csv`` (the reported set's per-run manifest). Returns typed rows."""
    frame = read_csv_strict(path, RUN_COLUMNS)
    records = []
    seen: set[str] = set()
    for i, rec in enumerate(frame.to_dict("records"), start=2):
        run_id = rec["run_id"]
        if not _RUN_ID.match(run_id):
            raise data_error(path, f"run id '{run_id}' is not a plain identifier",
                             "use letters, digits, '_', '-' and '.'", i, "run_id")
        if run_id in seen:
            raise data_error(path, f"run id '{run_id}' appears twice", "keep one row per run", i, "run_id")
        seen.add(run_id)
        rec["config"] = check_config(rec["config"], path, i)
        rec["seed"] = parse_int(rec["seed"], path, i, "seed")
        rec["inputs"] = check_inputs(rec["inputs"], path, i)
        rec["total_steps_reported"] = parse_int(rec["total_steps_reported"], path, i, "total_steps_reported")
        rec["source_line"] = parse_int(rec["source_line"], path, i, "source_line", required=True)
        _check_provenance_cells(rec, path, i, expect="reported")
        records.append(rec)
    return pd.DataFrame.from_records(records, columns=list(RUN_COLUMNS))


def _check_provenance_cells(rec: dict[str, Any], path: Path, row: int, expect: str) -> None:
    if rec["provenance"] != expect:
        raise data_error(path, f"provenance '{rec['provenance']}' in the reported set",
                         f"rows here must say '{expect}'; measured/imported runs live in data/runs/<run_id>/",
                         row, "provenance")
    if not rec["source_file"]:
        raise data_error(path, "source file is missing", "give the author's file the figure was read from",
                         row, "source_file")
    if not _COMMIT.match(rec["commit"]):
        raise data_error(path, f"commit '{rec['commit']}' is not a git hash", "give the commit the line was read at",
                         row, "commit")


@cached_per_file
def load_points_table(path: Path, known_runs: dict[str, str | None]) -> pd.DataFrame:
    """Validate ``reported/points.csv`` against the schema and the run catalogue.

    ``known_runs`` maps run id -> config. Steps are integer environment steps; reported rows are not
    required to be step-ordered (one source line may list several steps), but ``span_end >= step``.
    """
    frame = read_csv_strict(path, POINT_COLUMNS)
    if frame.empty:
        raise data_error(path, "no data rows", "a points file needs at least one row")
    records = [_point_record(rec, i, path, known_runs) for i, rec in enumerate(frame.to_dict("records"), start=2)]
    return pd.DataFrame.from_records(records, columns=list(POINT_COLUMNS))


def _point_record(rec: dict[str, Any], i: int, path: Path, known_runs: dict[str, str | None]) -> dict[str, Any]:
    run_id = rec["run_id"]
    if run_id not in known_runs:
        raise data_error(path, f"unknown run id '{run_id}'",
                         "add the run to data/reported/runs.csv (or import it) before adding its figures", i, "run_id")
    rec["config"] = check_config(rec["config"], path, i)
    if rec["config"] != known_runs[run_id]:
        raise data_error(path, f"config '{rec['config']}' differs from the run catalogue's '{known_runs[run_id]}'",
                         "use the config listed for this run in runs.csv", i, "config")
    metric = rec["metric"]
    if metric not in METRIC_UNITS:
        raise data_error(path, f"unknown metric '{metric}'", f"use one of {sorted(METRIC_UNITS)}", i, "metric")
    if rec["unit"] != METRIC_UNITS[metric]:
        raise data_error(path, f"unit '{rec['unit']}' for {metric}", f"write '{METRIC_UNITS[metric]}'", i, "unit")
    if rec["kind"] not in KINDS:
        raise data_error(path, f"unknown kind '{rec['kind']}'", f"use one of {list(KINDS)}", i, "kind")
    rec["seed"] = parse_int(rec["seed"], path, i, "seed")
    rec["step"] = parse_int(rec["step"], path, i, "step", required=True)
    rec["span_end"] = parse_int(rec["span_end"], path, i, "span_end")
    if rec["span_end"] is not None and rec["span_end"] < rec["step"]:
        raise data_error(path, f"span_end {rec['span_end']} is before step {rec['step']}",
                         "a span starts at 'step' and ends at 'span_end'", i, "span_end")
    if rec["span_open"] not in ("true", "false"):
        raise data_error(path, f"span_open '{rec['span_open']}'", "write true or false", i, "span_open")
    rec["span_open"] = rec["span_open"] == "true"
    for column in ("value", "value_low", "value_high"):
        rec[column] = parse_float(rec[column], path, i, column)
        check_metric_value(metric, rec[column], path, i, column)
    _check_kind_values(rec, path, i)
    rec["source_line"] = parse_int(rec["source_line"], path, i, "source_line", required=True)
    _check_provenance_cells(rec, path, i, expect="reported")
    return rec


def _check_kind_values(rec: dict[str, Any], path: Path, row: int) -> None:
    """Each kind carries the values it needs: a point its value, a range at least one bound, ..."""
    kind, has_value = rec["kind"], rec["value"] is not None
    has_bound = rec["value_low"] is not None or rec["value_high"] is not None
    if kind in ("point", "rolling_mean") and not has_value:
        raise data_error(path, f"a {kind} needs a value", "fill 'value' (bounds go to value_low/value_high)",
                         row, "value")
    if kind in ("range", "milestone_guidance") and not has_bound:
        raise data_error(path, f"a {kind} needs value_low and/or value_high", "fill the reported bound(s)",
                         row, "value_low")
    if kind == "phase_summary" and not (has_value or has_bound):
        raise data_error(path, "a phase_summary needs a value or bounds", "fill value or value_low/value_high",
                         row, "value")
    if rec["value_low"] is not None and rec["value_high"] is not None and rec["value_low"] > rec["value_high"]:
        raise data_error(path, f"value_low {rec['value_low']} > value_high {rec['value_high']}",
                         "swap the bounds", row, "value_low")


@cached_per_file
def load_facts_table(path: Path) -> pd.DataFrame:
    """Validate ``reported/facts.csv``: step-less figures (bytes, GB, noise amplitudes), one row per source."""
    frame = read_csv_strict(path, FACT_COLUMNS)
    records = []
    for i, rec in enumerate(frame.to_dict("records"), start=2):
        for column in ("value", "value_low", "value_high"):
            rec[column] = parse_float(rec[column], path, i, column)
        if rec["value"] is None and rec["value_low"] is None and rec["value_high"] is None:
            raise data_error(path, "fact has no value", "fill value or value_low/value_high", i, "value")
        if not _LINES.match(rec["source_lines"]):
            raise data_error(path, f"source_lines '{rec['source_lines']}'", "write lines like 211 or 215-217,226",
                             i, "source_lines")
        if not _COMMIT.match(rec["commit"]):
            raise data_error(path, f"commit '{rec['commit']}' is not a git hash", "give the commit", i, "commit")
        records.append(rec)
    return pd.DataFrame.from_records(records, columns=list(FACT_COLUMNS))
