"""Import a real SB3 training log into ``data/runs/<run_id>/`` with provenance ``imported``.

Accepted logs: SB3's ``progress.csv`` (``stable_baselines3.common.logger`` "csv" format) or a TensorBoard run
directory, read with TensorBoard's own ``EventAccumulator``. Keys kept: :data:`pixelpush_lib.results.schema.SB3_KEYS`,
indexed by ``time/total_timesteps`` (CSV) or the event step (TensorBoard; SB3 writes ``num_timesteps`` there).

The run is written to a temporary folder next to its destination, validated with the same loader the notebooks
use, then moved in place with one rename: a failed import leaves ``data/`` as it was. An existing run is only
replaced with ``force=True``. Once imported, ``chapter_numbers()`` and the plots prefer it over the author's
figures for the same config and seed (rule in ``pixelpush_lib.results.quoted_numbers``).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

import pandas as pd

from pixelpush_lib.core.configs import CONFIGS
from pixelpush_lib.core.files import git_commit, replace_dir, sha256_file, utc_now
from pixelpush_lib.core.paths import DATA_DIR
from pixelpush_lib.results.loaders import load_run_dir
from pixelpush_lib.results.schema import (
    CONFIG_NAMES,
    CURVE_COLUMNS,
    SB3_KEYS,
    SB3_STEP_KEY,
    SCHEMA_VERSION,
    DataError,
    check_inputs,
    check_metric_value,
    data_error,
    load_runs_table,
    parse_float,
    parse_int,
    read_csv_strict,
)

# Every config of pixelpush_lib.core.configs, *_pixels_only twins included, with its arc step.
CONFIG_TO_ARC_STEP = {name: config.arc_step for name, config in CONFIGS.items()}


# --------------------------------------------------------------------------- readers


def read_progress_csv(path: Path) -> pd.DataFrame:
    """SB3 ``progress.csv`` -> long curve (step, metric, value), in file order per metric.

    Rows where a key was not logged (empty cell) are skipped; NaN, percentages and out-of-order steps are errors.
    """
    frame = read_csv_strict(path, (SB3_STEP_KEY,))
    keys = [k for k in SB3_KEYS if k in frame.columns]
    if not keys:
        raise data_error(path, f"no SB3 metric column; expected any of {list(SB3_KEYS)}",
                         "pass the progress.csv of an SB3 SAC run (logger formats 'csv')", column=list(SB3_KEYS)[0])
    if frame.empty:
        raise data_error(path, "header only, no logged rows", "import the log after the run has dumped values")
    rows = []
    for i, rec in enumerate(frame.to_dict("records"), start=2):
        step = parse_int(rec[SB3_STEP_KEY], path, i, SB3_STEP_KEY, required=True)
        for key in keys:
            value = parse_float(rec[key], path, i, key)
            if value is not None:
                check_metric_value(SB3_KEYS[key], value, path, i, key)
                rows.append((step, SB3_KEYS[key], value, i, key))
    return _ordered_curve(rows, path)


def read_tensorboard_dir(path: Path) -> pd.DataFrame:
    """TensorBoard run directory -> long curve, via ``tensorboard``'s ``EventAccumulator`` (all scalars kept)."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    files = _event_files(path)
    acc = EventAccumulator(str(path), size_guidance={"scalars": 0})
    try:
        acc.Reload()
    except Exception as error:  # the reader raises several types on corrupt files; name the folder either way
        raise data_error(path, f"TensorBoard could not read the events ({error})", "pass an intact run folder") from None
    tags = [t for t in acc.Tags().get("scalars", []) if t in SB3_KEYS]
    if not tags:
        found = acc.Tags().get("scalars", [])
        raise data_error(path, f"no SB3 scalars in {len(files)} event file(s) (scalar tags found: {found})",
                         "pass the folder SB3 wrote (e.g. runs/x/SAC_1) after at least one logger dump")
    rows = []
    for tag in tags:
        for n, event in enumerate(acc.Scalars(tag), start=1):
            check_metric_value(SB3_KEYS[tag], event.value, path, n, tag)
            rows.append((int(event.step), SB3_KEYS[tag], float(event.value), n, tag))
    return _ordered_curve(rows, path)


def _event_files(path: Path) -> list[Path]:
    path = Path(path)
    if not path.is_dir():
        raise data_error(path, "not a directory", "pass a TensorBoard run folder or a progress.csv file")
    files = sorted(p for p in path.iterdir() if p.is_file() and "tfevents" in p.name)
    if not files:
        subdirs = [p.name for p in path.iterdir() if p.is_dir()]
        raise data_error(path, f"no TensorBoard event files (subfolders: {subdirs})",
                         "pass the folder that holds events.out.tfevents.* (SB3 writes e.g. SAC_1/)")
    return files


def _ordered_curve(rows: list[tuple[int, str, float, int, str]], path: Path) -> pd.DataFrame:
    """Check steps never go back within each metric and return the long curve, one reading per step.

    SB3 dumps its logger every ``log_interval`` finished episodes, counted inside the step loop, so when several
    envs finish in the same step it dumps more than once at that step. The last of those readings is kept (it
    averages over the most episodes); the earlier ones are superseded, not averaged in. A step smaller than the
    one before (a resumed run that repeats its log) is an error.
    """
    if not rows:
        raise data_error(path, "no logged values", "import the log after the run has dumped values")
    kept: dict[tuple[str, int], float] = {}
    last: dict[str, int] = {}
    for step, metric, value, row, column in rows:
        if metric in last and step < last[metric]:
            raise data_error(path, f"step {step} does not come after step {last[metric]} for {metric}",
                             "remove duplicated or out-of-order rows (e.g. from a resumed run) and import again",
                             row, column)
        last[metric] = step
        kept[(metric, step)] = value
    curve = pd.DataFrame([(step, metric, value) for (metric, step), value in kept.items()],
                         columns=list(CURVE_COLUMNS))
    return curve.sort_values(["metric", "step"], kind="stable", ignore_index=True)


# --------------------------------------------------------------------------- writing


def write_run(manifest: dict[str, Any], curve: pd.DataFrame, data_dir: Path = DATA_DIR, force: bool = False) -> Path:
    """Write ``data_dir/runs/<run_id>/{manifest.json,curve.csv}`` atomically; returns the run folder.

    Also the entry point for *measured* runs (give ``provenance.kind = "measured"`` with command, config, commit
    and machine). Raises :class:`DataError` if the run exists and ``force`` is False, or if the result fails
    validation; in both cases nothing under ``data_dir`` changes.
    """
    run_id = manifest["run_id"]
    root = Path(data_dir) / "runs"
    final = root / run_id
    if final.exists() and not force:
        raise data_error(final, f"run '{run_id}' already exists", "pass --force (force=True) to replace it, "
                         "or choose another --run-id")
    created_root = not root.exists()
    root.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".tmp-{run_id}-", dir=root))
    try:
        staged = tmp / run_id
        staged.mkdir()
        (staged / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
        curve.to_csv(staged / "curve.csv", index=False, columns=list(CURVE_COLUMNS), lineterminator="\n")
        load_run_dir(staged)  # the notebooks' own validation, before anything is replaced
        replace_dir(staged, final)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
        if created_root and not final.exists():
            shutil.rmtree(root, ignore_errors=True)
    return final


def check_identity(run_id: str, config: str, seed: int, data_dir: Path) -> None:
    if config not in CONFIG_NAMES:
        raise data_error("--config", f"unknown config '{config}'", f"use one of {list(CONFIG_NAMES)}")
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise data_error("--seed", f"seed {seed!r} is not a non-negative integer", "pass e.g. --seed 0")
    if not run_id or not all(c.isalnum() or c in "_-." for c in run_id) or run_id[0] in ".-_":
        raise data_error("--run-id", f"run id '{run_id}' is not a plain identifier",
                         "use letters, digits, '_', '-' and '.', starting with a letter or digit")
    reported = Path(data_dir) / "reported" / "runs.csv"
    if reported.exists() and run_id in set(load_runs_table(reported)["run_id"]):
        raise data_error("--run-id", f"'{run_id}' is one of the author's reported runs",
                         "choose a new run id; the loaders prefer your run over the author's for the same config/seed")


def import_run(path: Path | str, run_id: str, config: str, seed: int, force: bool = False,
               data_dir: Path | str = DATA_DIR, inputs: str = "unknown", description: str = "",
               allow_without_success: bool = False) -> Path:
    """Convert a real SB3 log (``progress.csv`` or a TensorBoard run folder) into ``data_dir/runs/<run_id>/``.

    Args:
        path: the ``progress.csv`` file or the TensorBoard folder holding ``events.out.tfevents.*``.
        run_id: new run id (letters, digits, ``_-.``), not one of the author's.
        config: one of ``state, step0, step1, step2, step4``.
        seed: the run's seed.
        force: replace an existing run of that id.
        data_dir: the data folder (tests pass a tmp copy).
        inputs: what the policy saw, e.g. ``pixels+proprio+desired_goal`` (tokens of ``schema.INPUT_TOKENS``).
        allow_without_success: import a log that has no ``rollout/success_rate`` (the chapter's success figures
            cannot show it); refused by default.
    Returns: the run folder. Raises :class:`DataError` (file, row, column, fix) on bad input; ``data_dir`` is
    then unchanged.
    """
    path, data_dir = Path(path), Path(data_dir)
    check_identity(run_id, config, seed, data_dir)
    check_inputs(inputs, Path("--inputs"), None)
    if not path.exists():
        raise data_error(path, "no such file or folder", "give the path to progress.csv or to a TensorBoard folder")
    if path.is_dir():
        curve, fmt, files = read_tensorboard_dir(path), "tensorboard", _event_files(path)
    else:
        curve, fmt, files = read_progress_csv(path), "sb3_progress_csv", [path]
    if not allow_without_success and "success_rate" not in set(curve["metric"]):
        raise data_error(path, f"the log has no rollout/success_rate values (metrics found: "
                         f"{sorted(set(curve['metric']))}), so every success figure would show an empty curve",
                         "log success (SB3 records rollout/success_rate when the env's info has 'is_success', as "
                         "FetchPush's does), or pass --allow-no-success to import it anyway", column="rollout/success_rate")
    hashes = [{"path": str(f.resolve()), "sha256": sha256_file(f)} for f in files]
    combined = hashes[0]["sha256"] if len(hashes) == 1 else hashlib.sha256(
        "".join(h["sha256"] for h in hashes).encode()).hexdigest()
    manifest = {
        "schema_version": SCHEMA_VERSION, "run_id": run_id, "arc_step": CONFIG_TO_ARC_STEP[config], "config": config,
        "seed": seed, "inputs": inputs, "description": description,
        "provenance": {"kind": "imported", "format": fmt, "original_file": str(path.resolve()), "sha256": combined,
                       "files": hashes, "created": utc_now(),
                       "importer": "pixelpush_lib.results.importer.import_run", "commit": git_commit()},
    }
    return write_run(manifest, curve, data_dir, force)


# --------------------------------------------------------------------------- CLI


def _run_import(args: argparse.Namespace) -> int:
    try:
        out = import_run(args.path, args.run_id, args.config, args.seed, force=args.force, data_dir=args.data_dir,
                         inputs=args.inputs, allow_without_success=args.allow_no_success)
    except DataError as error:
        print(f"pixelpush import: {error}", file=sys.stderr)
        return 2
    print(f"imported {args.path} -> {out}")
    return 0


def add_import_command(subparsers: Any) -> argparse.ArgumentParser:
    """Register ``pixelpush import PATH --run-id ID --config NAME --seed N [--force] [--data-dir DIR]``."""
    parser = subparsers.add_parser("import", help="import an SB3 progress.csv or TensorBoard folder into data/runs/")
    parser.add_argument("path", type=Path, help="progress.csv, or a TensorBoard folder with events.out.tfevents.*")
    parser.add_argument("--run-id", required=True, help="new run id, e.g. step2_seed1_gpu")
    parser.add_argument("--config", required=True, choices=CONFIG_NAMES, help="the config the run used")
    parser.add_argument("--seed", required=True, type=int, help="the run's seed")
    parser.add_argument("--inputs", default="unknown",
                        help="what the policy saw, e.g. pixels+proprio+desired_goal+achieved_goal")
    parser.add_argument("--force", action="store_true", help="replace an existing run with this id")
    parser.add_argument("--allow-no-success", action="store_true",
                        help="import a log without rollout/success_rate (the success figures cannot show it)")
    parser.add_argument("--data-dir", type=Path, default=DATA_DIR, help=f"data folder (default {DATA_DIR})")
    parser.set_defaults(func=_run_import)
    return parser
