"""Step 3's loss signature, read on this project's own runs (``measured``).

The author's Step 2 log shows a signature: while success is flat the critic loss is small and falls, and when
success climbs both losses rise. That is one pixel run. Our state seeds (and any later measured run) log the
losses densely, so the same question can be asked of them: :func:`loss_signature` measures, per run, the mean
critic and actor loss in four windows placed around the run's own onset (its first success reading at or above
:data:`~pixelpush_lib.results.quoted_numbers.ONSET_LEVEL`), and :func:`loss_signature_facts` says what they show.
A run that never climbed has no such windows; :func:`losses_without_climb` compares its first and last ones, to
ask whether the losses rise when success does not.

Every number is a mean of logged readings inside a window; nothing is smoothed across windows or filled in.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

from pixelpush_lib.core.paths import DATA_DIR
from pixelpush_lib.results.evidence import CONVERGED
from pixelpush_lib.results.loaders import first_reading_at, project_curve
from pixelpush_lib.results.own_runs import measured_runs, seed_mean, seed_range, seeds
from pixelpush_lib.results.quoted_numbers import ONSET_LEVEL, format_value

#: Steps in the windows: the start of learning, the end of the flat stretch (it stops FLAT_GAP steps before the
#: onset, while success is still low), and the end of the run.
WINDOW = 200_000
FLAT_GAP = 100_000

#: The windows, as functions of (onset, converged, last step) -> [start, end) in environment steps. The climb runs
#: from FLAT_GAP before the onset to the first reading at or above CONVERGED (the run's end if none is).
WINDOWS: dict[str, Callable[[int, int, int], tuple[int, int]]] = {
    "start": lambda onset, converged, last: (0, WINDOW),
    "flat": lambda onset, converged, last: (onset - FLAT_GAP - WINDOW, onset - FLAT_GAP),
    "climb": lambda onset, converged, last: (onset - FLAT_GAP, converged + 1),
    "end": lambda onset, converged, last: (last - WINDOW + 1, last + 1),
}
METRICS = ("critic_loss", "actor_loss")
COLUMNS = ["run_id", "seed", "onset_step", "converged_step", "last_step",
           *(f"{metric}_{window}" for metric in METRICS for window in WINDOWS)]


def _window_mean(curve: pd.DataFrame, start: int, end: int) -> float:
    inside = curve[(curve["step"] >= start) & (curve["step"] < end)]["value"]
    return float(inside.mean()) if len(inside) else float("nan")


def loss_signature(config: str, data_dir: Path = DATA_DIR) -> pd.DataFrame:
    """One row per measured run of ``config`` that reached its onset: ``run_id, seed, onset_step,
    converged_step, last_step`` and ``{critic_loss,actor_loss}_{start,flat,climb,end}``, each the mean of the
    run's logged losses in that window (NaN where the window holds no reading). Runs without an onset are left
    out: without a climb there is no window to compare."""
    runs = measured_runs(config, data_dir)
    success = project_curve(config, None, "success_rate", data_dir)
    losses = {metric: project_curve(config, None, metric, data_dir) for metric in METRICS}
    rows = []
    for run in runs.dropna(subset=["onset_step"]).itertuples():
        onset, last = int(run.onset_step), int(run.steps)
        converged = first_reading_at(success[success["run_id"] == run.run_id], CONVERGED) or last
        row = {"run_id": run.run_id, "seed": run.seed, "onset_step": onset, "converged_step": converged,
               "last_step": last}
        for metric, table in losses.items():
            loss = table[table["run_id"] == run.run_id]
            for name, bounds in WINDOWS.items():
                row[f"{metric}_{name}"] = _window_mean(loss, *bounds(onset, converged, last))
        rows.append(row)
    return pd.DataFrame(rows, columns=COLUMNS)


def _trend(before: pd.Series, after: pd.Series) -> str:
    """``'rose in every seed'``, ``'fell in every seed'`` or ``'rose in 2 of 3 seeds'``, from before to after."""
    rose = int((after > before).sum())
    n = len(before)
    if rose == n:
        return "rose in every seed" if n > 1 else "rose"
    if rose == 0:
        return "fell in every seed" if n > 1 else "fell"
    return f"rose in {rose} of {n} seeds"


def loss_signature_facts(config: str, data_dir: Path = DATA_DIR) -> dict[str, str]:
    """What Step 3 states about the loss signature of ``config``'s measured runs, for ``{glue:text}``, keyed
    ``own_<config>_sig_*``: the mean over seeds of each window's critic and actor loss (``__range``: the spread,
    for the sources box), how each loss moved from the start to the flat stretch's end and from there into the
    climb, and the windows' bounds. Empty when no measured run of ``config`` reached its onset."""
    table = loss_signature(config, data_dir)
    if table.empty:
        return {}
    key = f"own_{config}_sig"
    facts = {f"{key}_seeds": seeds(len(table)),
             f"{key}_window": format_value(WINDOW, "steps"), f"{key}_gap": format_value(FLAT_GAP, "steps"),
             f"{key}_onset_level": format_value(ONSET_LEVEL, "fraction"),
             f"{key}_converged_level": format_value(CONVERGED, "fraction"),
             f"{key}_runs": ", ".join(f"data/runs/{r}" for r in table["run_id"])}
    for metric in METRICS:
        short = metric.split("_")[0]
        for window in WINDOWS:
            values = table[f"{metric}_{window}"]
            facts[f"{key}_{short}_{window}"] = seed_mean(values, "number", digits=2)
            facts[f"{key}_{short}_{window}__range"] = seed_range(values, "number", digits=2)
        facts[f"{key}_{short}_while_flat"] = _trend(table[f"{metric}_start"], table[f"{metric}_flat"])
        facts[f"{key}_{short}_with_climb"] = _trend(table[f"{metric}_flat"], table[f"{metric}_climb"])
        ratio = table[f"{metric}_flat"] / table[f"{metric}_start"]
        facts[f"{key}_{short}_flat_ratio"] = f"{np.nanmean(ratio):.1f}x"
    return facts


def losses_without_climb(config: str, data_dir: Path = DATA_DIR) -> pd.DataFrame:
    """The other half of :func:`loss_signature`: one row per measured run of ``config`` that never reached its onset,
    ``run_id, seed, last_step`` and ``{critic_loss,actor_loss}_{start,end}``, the mean of its logged losses in the
    first and the last :data:`WINDOW` steps. Without a climb these two are the only windows a run has; they say
    whether the losses move when success does not. A run shorter than two windows (they would overlap) or with a
    window that holds no loss reading is left out."""
    runs = measured_runs(config, data_dir)
    losses = {metric: project_curve(config, None, metric, data_dir) for metric in METRICS}
    rows = []
    for run in runs[runs["onset_step"].isna() & (runs["steps"] >= 2 * WINDOW)].itertuples():
        last = int(run.steps)
        row = {"run_id": run.run_id, "seed": run.seed, "last_step": last}
        for metric, table in losses.items():
            loss = table[table["run_id"] == run.run_id]
            for name in ("start", "end"):
                row[f"{metric}_{name}"] = _window_mean(loss, *WINDOWS[name](0, 0, last))
        rows.append(row)
    windows = [f"{metric}_{window}" for metric in METRICS for window in ("start", "end")]
    columns = ["run_id", "seed", "last_step", *windows]
    return pd.DataFrame(rows, columns=columns).dropna(subset=windows).reset_index(drop=True)


def losses_without_climb_facts(config: str, data_dir: Path = DATA_DIR) -> dict[str, str]:
    """What Step 3 states about the losses of ``config``'s measured runs that never climbed, keyed
    ``own_<config>_noclimb_*``: the mean over seeds of each loss in the first and last :data:`WINDOW` steps, how each
    moved between them, the last step any of them reached, and for the sources box the runs and their spread over
    seeds. Empty when every run climbed or none exists."""
    table = losses_without_climb(config, data_dir)
    if table.empty:
        return {}
    key = f"own_{config}_noclimb"
    facts = {f"{key}_seeds": seeds(len(table)), f"{key}_window": format_value(WINDOW, "steps"),
             f"{key}_last_step": format_value(float(table["last_step"].max()), "steps"),
             f"{key}_runs": ", ".join(f"data/runs/{r}" for r in table["run_id"])}
    for metric in METRICS:
        short = metric.split("_")[0]
        for window in ("start", "end"):
            facts[f"{key}_{short}_{window}"] = seed_mean(table[f"{metric}_{window}"], "number", digits=2)
        facts[f"{key}_{short}_moved"] = _trend(table[f"{metric}_start"], table[f"{metric}_end"])
    facts[f"{key}_spread"] = ("With one seed there is no spread over seeds to give." if len(table) < 2 else
                              "Over the seeds: " + "; ".join(
                                  f"{metric.replace('_', ' ')} in the {window} window "
                                  f"{seed_range(table[f'{metric}_{window}'], 'number', digits=2)}"
                                  for metric in METRICS for window in ("start", "end")) + ".")
    return facts
