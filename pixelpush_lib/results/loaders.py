"""Loading every result in ``data/`` with its provenance: the reported set, and measured or imported runs.

Each loader validates through :mod:`pixelpush_lib.results.schema` and raises its ``DataError`` naming the file,
row and column. Nothing here writes.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from pixelpush_lib.core.paths import DATA_DIR
from pixelpush_lib.results.caching import cached_per_file, cached_per_folder
from pixelpush_lib.results.schema import (
    CONFIG_NAMES,
    CURVE_COLUMNS,
    MANIFEST_KEYS,
    METRIC_UNITS,
    POINT_COLUMNS,
    RUN_COLUMNS,
    check_csv_text,
    check_inputs,
    check_metric_value,
    data_error,
    load_facts_table,
    load_points_table,
    load_runs_table,
    parse_float,
    parse_int,
    read_csv_strict,
)

# --------------------------------------------------------------------------- measured / imported runs


@dataclass(frozen=True)
class RunRecord:
    """One measured or imported run: its manifest plus its curve (long format: step, metric, value)."""

    manifest: dict[str, Any]
    curve: pd.DataFrame


def load_manifest(path: Path) -> dict[str, Any]:
    """Validate a run manifest (``runs/<run_id>/manifest.json``) and return it."""
    path = Path(path)
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise data_error(path, f"cannot read the manifest ({error})", "re-import the run with --force") from None
    if not isinstance(manifest, dict):
        raise data_error(path, "manifest is not a JSON object", "re-import the run with --force")
    missing = [k for k in MANIFEST_KEYS if k not in manifest]
    if missing:
        raise data_error(path, f"manifest misses key(s) {missing}", "re-import the run with --force", column=missing[0])
    if manifest["run_id"] != path.parent.name:
        raise data_error(path, f"run_id '{manifest['run_id']}' differs from its folder '{path.parent.name}'",
                         "keep one run per folder named after its run id", column="run_id")
    if manifest["config"] is not None and manifest["config"] not in CONFIG_NAMES:
        raise data_error(path, f"unknown config '{manifest['config']}'", f"use one of {list(CONFIG_NAMES)} or null",
                         column="config")
    check_inputs(manifest["inputs"], path, None)
    _check_run_provenance(manifest["provenance"], path)
    return manifest


def _check_run_provenance(prov: Any, path: Path) -> None:
    needed = {"imported": ("original_file", "sha256"), "measured": ("command", "config", "commit", "machine")}
    kind = prov.get("kind") if isinstance(prov, dict) else None
    if kind not in needed:
        raise data_error(path, f"provenance kind {kind!r}", "a run under data/runs is 'measured' or 'imported'",
                         column="provenance")
    missing = [k for k in needed[kind] if not prov.get(k)]
    if missing:
        raise data_error(path, f"{kind} provenance misses {missing}", "record where the numbers came from",
                         column="provenance")


@cached_per_file
def load_curve(path: Path) -> pd.DataFrame:
    """Validate ``curve.csv`` (columns step, metric, value): known metrics, finite values, fractions for
    success, and strictly increasing steps within each metric's series."""
    curve = _valid_curve_at_once(check_csv_text(path, CURVE_COLUMNS))
    if curve is not None:
        return curve
    frame = read_csv_strict(path, CURVE_COLUMNS)  # read again as text, only to name what the typed read refused
    if frame.empty:
        raise data_error(path, "no data rows", "a curve needs at least one logged value")
    return _valid_curve_row_by_row(frame, path)


def _valid_curve_at_once(path: Path) -> pd.DataFrame | None:
    """The whole curve read by pandas' parser into numbers and validated column-wise (a 50,000-row curve in about
    20 ms, a fifth of converting the text columns), or None when a column is missing, any cell fails or no row is
    there: then the text read and its row-by-row check name the first fault."""
    try:  # every column read: with usecols pandas drops a row's surplus cells ("0,6") instead of refusing the row
        typed = pd.read_csv(path, dtype={"step": "float64", "value": "float64", "metric": str},
                            keep_default_na=False, na_values={"step": [""], "value": [""]})[list(CURVE_COLUMNS)]
    except (KeyError, ValueError, pd.errors.ParserError):  # a missing column, a cell not a number, a ragged row
        return None
    step, metric, value = typed["step"], typed["metric"], typed["value"]
    success = metric == "success_rate"
    ok = (metric.isin(list(METRIC_UNITS)).all() and step.notna().all() and value.notna().all()
          and np.isfinite(step).all() and np.isfinite(value).all() and (step >= 0).all() and (step % 1 == 0).all()
          and value[success].between(0, 1).all()
          and (step.groupby(metric, sort=False).diff().dropna() > 0).all())
    if typed.empty or not ok:
        return None
    return pd.DataFrame({"step": step.astype(int), "metric": metric, "value": value.astype(float)},
                        columns=list(CURVE_COLUMNS))


def _valid_curve_row_by_row(frame: pd.DataFrame, path: Path) -> pd.DataFrame:
    last_step: dict[str, int] = {}
    rows = []
    for i, rec in enumerate(frame.to_dict("records"), start=2):
        metric = rec["metric"]
        if metric not in METRIC_UNITS:
            raise data_error(path, f"unknown metric '{metric}'", f"use one of {sorted(METRIC_UNITS)}", i, "metric")
        step = parse_int(rec["step"], path, i, "step", required=True)
        value = parse_float(rec["value"], path, i, "value", required=True)
        check_metric_value(metric, value, path, i, "value")
        if metric in last_step and step <= last_step[metric]:
            raise data_error(path, f"step {step} of {metric} does not come after step {last_step[metric]}",
                             "sort the series by step and drop duplicated rows (e.g. from a resumed log)", i, "step")
        last_step[metric] = step
        rows.append((step, metric, value))
    return pd.DataFrame(rows, columns=list(CURVE_COLUMNS))


def load_run_dir(run_dir: Path) -> RunRecord:
    """Load one ``data/runs/<run_id>/`` folder (manifest + curve), both validated."""
    run_dir = Path(run_dir)
    return RunRecord(load_manifest(run_dir / "manifest.json"), load_curve(run_dir / "curve.csv"))


def load_project_runs(data_dir: Path = DATA_DIR) -> list[RunRecord]:
    """Every measured/imported run under ``data_dir/runs``, sorted by run id."""
    return [load_run_dir(d) for d in _run_dirs(data_dir)]


def _run_dirs(data_dir: Path) -> list[Path]:
    """The run folders under ``data_dir/runs``, sorted by run id (none when there is no such folder)."""
    root = Path(data_dir) / "runs"
    return sorted(d for d in root.iterdir() if d.is_dir() and not d.name.startswith(".")) if root.is_dir() else []


# --------------------------------------------------------------------------- public loaders

#: The files of ``data/`` that :func:`load_points` reads (and the chapter numbers computed from it): the author's
#: tables and every project run.
POINTS_FILES = ("reported/*.csv", "runs/*/*")


def load_runs(data_dir: Path = DATA_DIR) -> pd.DataFrame:
    """All runs, reported and project (measured/imported), one row each with its manifest fields.

    Columns: :data:`RUN_COLUMNS` plus ``created`` (ISO time, project runs only). Raises :class:`DataError` when a
    project run reuses a reported run id with another config.
    """
    reported = load_runs_table(Path(data_dir) / "reported" / "runs.csv")
    rows = reported.to_dict("records")
    configs = {r["run_id"]: r["config"] for r in rows}
    for run in load_project_runs(data_dir):
        m = run.manifest
        if m["run_id"] in configs and configs[m["run_id"]] != m["config"]:
            raise data_error(Path(data_dir) / "runs" / m["run_id"] / "manifest.json",
                             f"run id '{m['run_id']}' is a reported run with config '{configs[m['run_id']]}'",
                             "import under a new run id", column="run_id")
        rows.append(_project_run_row(m))
    return pd.DataFrame.from_records(rows, columns=[*RUN_COLUMNS, "created"])


def _project_run_row(m: dict[str, Any]) -> dict[str, Any]:
    prov = m["provenance"]
    source = prov.get("original_file") or prov.get("command")
    return {
        "run_id": m["run_id"], "arc_step": m.get("arc_step"), "config": m["config"], "seed": m["seed"],
        "inputs": m["inputs"], "inputs_evidence": m.get("inputs_evidence", ""), "description": m.get("description", ""),
        "hyperparameters": "", "total_steps_reported": None, "status": prov["kind"], "provenance": prov["kind"],
        "source_file": source, "source_line": None, "commit": prov.get("commit", ""), "created": prov.get("created", ""),
    }


@cached_per_folder(*POINTS_FILES, on_disk=True)  # a page asks for it several times; every page needs it
def load_points(data_dir: Path = DATA_DIR) -> pd.DataFrame:
    """Every figure in ``data_dir`` as one long table with :data:`POINT_COLUMNS`.

    Reported rows come from ``reported/points.csv``; each measured/imported curve row becomes a ``point`` with
    that run's provenance, ``source_file`` = its original log (imported) or command (measured) and
    ``source_line`` = the row of ``curve.csv``. Steps are environment steps; success is a fraction.
    """
    runs = load_runs(data_dir)
    known = {r: (None if pd.isna(c) else c) for r, c in zip(runs["run_id"], runs["config"])}
    reported = load_points_table(Path(data_dir) / "reported" / "points.csv", known)
    frames = [reported] + [_curve_points(run) for run in load_project_runs(data_dir)]
    return pd.concat(frames, ignore_index=True)


def _curve_points(run: RunRecord) -> pd.DataFrame:
    m, curve = run.manifest, run.curve
    prov = m["provenance"]
    out = pd.DataFrame({
        "run_id": m["run_id"], "arc_step": m.get("arc_step"), "config": m["config"], "seed": m["seed"],
        "metric": curve["metric"], "unit": curve["metric"].map(METRIC_UNITS), "step": curve["step"],
        "span_end": None, "span_open": False, "value": curve["value"], "value_low": None, "value_high": None,
        "kind": "point", "provenance": prov["kind"],
        "source_file": prov.get("original_file") or prov.get("command"),
        "source_line": range(2, len(curve) + 2), "commit": prov.get("commit", ""), "note": "",
    })
    return out[list(POINT_COLUMNS)]


def load_facts(data_dir: Path = DATA_DIR) -> pd.DataFrame:
    """The step-less reported facts (``reported/facts.csv``), validated."""
    return load_facts_table(Path(data_dir) / "reported" / "facts.csv")


def project_curve(config: str, seed: int | None = None, metric: str = "success_rate",
                  data_dir: Path = DATA_DIR) -> pd.DataFrame:
    """The preferred project (measured/imported) curve(s) for ``config``: columns run_id, seed, step, value.

    Preference rule, per (config, seed): measured over imported; among equals the most recently created run.
    Superseded runs are left out. Empty when no project run exists for that config (and seed). Every manifest is
    validated, but only the chosen runs' curves are read: :func:`load_points` (and the data check) validate all.
    """
    best: dict[Any, tuple[Path, dict[str, Any]]] = {}
    for run_dir in _run_dirs(data_dir):  # manifests only: a chapter page asks for dozens of curves, each of one or two runs
        m = load_manifest(run_dir / "manifest.json")
        if m["config"] != config or (seed is not None and m["seed"] != seed):
            continue
        if m["seed"] not in best or _project_rank(m) > _project_rank(best[m["seed"]][1]):
            best[m["seed"]] = (run_dir, m)
    parts = []
    for run_dir, m in best.values():
        c = _metric_series(run_dir / "curve.csv", metric)
        parts.append(pd.DataFrame({"run_id": m["run_id"], "seed": m["seed"],
                                   "step": c["step"].to_numpy(), "value": c["value"].to_numpy()}))
    if not parts:
        return pd.DataFrame(columns=["run_id", "seed", "step", "value"])
    return pd.concat(parts, ignore_index=True).sort_values(["seed", "step"], kind="stable", ignore_index=True)


@cached_per_file
def _metric_series(curve_path: Path, metric: str) -> pd.DataFrame:
    """One metric's rows (step, value) of a validated ``curve.csv``, split once per file rather than per call."""
    curve = load_curve(curve_path)
    return curve.loc[curve["metric"] == metric, ["step", "value"]].reset_index(drop=True)


def _project_rank(m: dict[str, Any]) -> tuple[int, str]:
    prov = m["provenance"]
    return (1 if prov["kind"] == "measured" else 0, str(prov.get("created", "")))


# --- Readings of one curve ---------------------------------------------------------------------


def reading_at(curve: pd.DataFrame, step: int) -> float | None:
    """The last logged value at or before ``step`` (for success, SB3's mean over its last 100 training
    episodes), or None when the curve has no reading within 2% of ``step`` before it. Never a later reading."""
    before = curve[curve["step"] <= step]
    if before.empty or step - int(before["step"].iloc[-1]) > max(0.02 * step, 2000):
        return None
    return float(before["value"].iloc[-1])


def first_reading_at(curve: pd.DataFrame, level: float) -> int | None:
    """The first logged step whose value is at or above ``level``; None if none is."""
    hit = curve[curve["value"] >= level]
    return int(hit["step"].iloc[0]) if len(hit) else None
