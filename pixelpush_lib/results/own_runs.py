"""This project's own training runs (``measured``), set beside the author's reported figures for the same config.

The chapter's first claim, that SAC + HER solves FetchPush from the state vector, rests on one reported run. The
state agent trained here with ``pixelpush train --config state`` tests it; :func:`state_agent_facts` states what
the measured seeds show next to what the author reported, and whether the two agree.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from pixelpush_lib.core.paths import DATA_DIR
from pixelpush_lib.results.loaders import project_curve
from pixelpush_lib.results.quoted_numbers import Number, chapter_numbers, format_value

#: Success figures closer than this (a fraction) are said to agree: one reported seed cannot support finer claims.
AGREEMENT_TOLERANCE = 0.10
ONSET_LEVEL = 0.5  # the onset of a measured run: its first logged success reading at or above this


def success_at(curve: pd.DataFrame, step: int, readings: int = 5) -> float:
    """Mean of the last ``readings`` logged success values up to ``step`` (each is SB3's mean over the last 100
    episodes); NaN when the run did not log near ``step``."""
    before = curve[curve["step"] <= step]
    if before.empty or before["step"].iloc[-1] < 0.98 * step:
        return float("nan")
    return float(before["value"].iloc[-readings:].mean())


def onset_step(curve: pd.DataFrame, level: float = ONSET_LEVEL) -> float:
    """First logged step at which success reached ``level``; NaN if it never did."""
    hit = curve[curve["value"] >= level]
    return float(hit["step"].iloc[0]) if len(hit) else float("nan")


def measured_runs(config: str, data_dir: Path = DATA_DIR) -> pd.DataFrame:
    """One row per measured run of ``config`` in ``data_dir/runs`` (imported logs are not ours and are left out):
    ``run_id, seed, success_1m, success_2m, onset_step, wall_time_h, steps``."""
    curves = project_curve(config, None, "success_rate", data_dir)
    rows = []
    for run_id, curve in curves.groupby("run_id", sort=True):
        manifest = json.loads((Path(data_dir) / "runs" / run_id / "manifest.json").read_text())
        prov = manifest["provenance"]
        if prov["kind"] != "measured":
            continue
        rows.append({"run_id": run_id, "seed": int(manifest["seed"]), "success_1m": success_at(curve, 1_000_000),
                     "success_2m": success_at(curve, 2_000_000), "onset_step": onset_step(curve),
                     "wall_time_h": float(prov.get("wall_time_s", np.nan)) / 3600, "steps": int(curve["step"].max())})
    return pd.DataFrame(rows, columns=["run_id", "seed", "success_1m", "success_2m", "onset_step", "wall_time_h",
                                       "steps"])


def _spread(values: pd.Series, unit: str) -> str:
    """``'91%'`` for one seed, ``'90% (88-93%, n=3)'`` for several: the mean, then the range over seeds."""
    values = values.dropna()
    if values.empty:
        return "not reached"
    mean = format_value(float(values.mean()), unit)
    if len(values) == 1:
        return mean
    return f"{mean} ({format_value(None, unit, float(values.min()), float(values.max()))}, n={len(values)})"


def _agreement(measured: float, reported: Number) -> str:
    gap = measured - reported.value
    if abs(gap) <= AGREEMENT_TOLERANCE:
        return (f"within {format_value(AGREEMENT_TOLERANCE, 'fraction')} of the author's figure, so the two agree "
                "as closely as single runs can")
    side = "above" if gap > 0 else "below"
    return (f"{format_value(abs(gap), 'fraction')} {side} the author's figure: more than single-run noise "
            f"({format_value(AGREEMENT_TOLERANCE, 'fraction')}) would explain")


def state_agent_facts(data_dir: Path = DATA_DIR) -> dict[str, str]:
    """What Step 0 states about the state agent trained here, as prose for ``{glue:text}``.

    Empty when ``data_dir`` holds no measured state run (the page then says none was made).
    """
    runs = measured_runs("state", data_dir)
    if runs.empty:
        return {}
    numbers = chapter_numbers(data_dir)
    reported_2m = numbers["state_success_2m"].reported or numbers["state_success_2m"]
    reported_1m = numbers["state_success_1m"].reported or numbers["state_success_1m"]
    reported_onset = numbers["state_onset_step"].reported or numbers["state_onset_step"]
    return {
        "own_state_seeds": f"{len(runs)} seed" + ("s" if len(runs) > 1 else ""),
        "own_state_1m": _spread(runs["success_1m"], "fraction"),
        "own_state_2m": _spread(runs["success_2m"], "fraction"),
        "own_state_onset": _spread(runs["onset_step"], "steps"),
        "own_state_onset_level": format_value(ONSET_LEVEL, "fraction"),
        "own_state_hours": _spread(runs["wall_time_h"].round(1), "h"),
        "own_state_runs": ", ".join(f"`data/runs/{r}`" for r in runs["run_id"]),
        "reported_state_1m": reported_1m.prose(),
        "reported_state_1m__source": reported_1m.source,
        "reported_state_2m": reported_2m.prose(),
        "reported_state_2m__source": reported_2m.source,
        "reported_state_onset": reported_onset.prose(),
        "own_state_agreement_2m": _agreement(float(runs["success_2m"].mean()), reported_2m),
    }
