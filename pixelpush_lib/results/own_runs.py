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
from pixelpush_lib.results.evidence import LOW_BAND
from pixelpush_lib.results.loaders import first_reading_at, project_curve, reading_at
from pixelpush_lib.results.registry import REGISTRY, registered_checkpoints
from pixelpush_lib.results.quoted_numbers import ONSET_LEVEL, Number, chapter_numbers, format_value

#: Success figures closer than this (a fraction) are said to agree: one reported seed cannot support finer claims.
AGREEMENT_TOLERANCE = 0.10
#: A project run's planned length in environment steps, the chapter's budget: its success is read here (success_2m).
BUDGET_STEPS = 2_000_000


def _nan_if_none(value: float | None) -> float:
    return float("nan") if value is None else float(value)


def measured_runs(config: str, data_dir: Path = DATA_DIR) -> pd.DataFrame:
    """One row per measured run of ``config`` in ``data_dir/runs`` (imported logs are not ours and are left out):
    ``run_id, seed, success_1m, success_2m, onset_step, wall_time_h, steps`` (the last logged), ``last_success``
    (the reading there), ``planned_steps`` (its budget) and ``in_progress`` (collected before it finished,
    ``pixelpush collect --unfinished``)."""
    curves = project_curve(config, None, "success_rate", data_dir)
    rows = []
    for run_id, curve in curves.groupby("run_id", sort=True):
        manifest = json.loads((Path(data_dir) / "runs" / run_id / "manifest.json").read_text())
        prov = manifest["provenance"]
        if prov["kind"] != "measured":
            continue
        rows.append({"run_id": run_id, "seed": int(manifest["seed"]),
                     "success_1m": _nan_if_none(reading_at(curve, 1_000_000)),
                     "success_2m": _nan_if_none(reading_at(curve, BUDGET_STEPS)),
                     "onset_step": _nan_if_none(first_reading_at(curve, ONSET_LEVEL)),
                     "wall_time_h": float(prov.get("wall_time_s", np.nan)) / 3600, "steps": int(curve["step"].max()),
                     "last_success": float(curve.sort_values("step", kind="stable")["value"].iloc[-1]),
                     "planned_steps": int(prov.get("planned_steps", prov.get("total_steps", curve["step"].max()))),
                     "in_progress": bool(prov.get("in_progress", False))})
    return pd.DataFrame(rows, columns=["run_id", "seed", "success_1m", "success_2m", "onset_step", "wall_time_h",
                                       "steps", "last_success", "planned_steps", "in_progress"])


def seeds(n: int) -> str:
    """``'1 seed'``, ``'3 seeds'``: how many seeds a figure rests on, for a sentence."""
    return f"{n} seed" + ("" if n == 1 else "s")


def seed_mean(values: pd.Series, unit: str, digits: int | None = None) -> str:
    """The mean over seeds, for a sentence: ``'90%'`` (``'not reached'`` when no seed has a value). How far the
    seeds spread is bookkeeping for the page's sources box: :func:`seed_range`."""
    values = values.dropna()
    if values.empty:
        return "not reached"
    return format_value(float(values.mean()), unit, digits=digits)


def seed_range(values: pd.Series, unit: str, digits: int | None = None) -> str:
    """How far the seeds spread, for the sources box: ``'80-100% over 3 seeds'``, ``'one seed'``, or
    ``'3 seeds, the same to the digits shown'`` (a range like "1.23M-1.23M" would read as a typo)."""
    values = values.dropna()
    if len(values) <= 1:
        return "one seed" if len(values) else "no seed reached it"
    low, high = (format_value(float(v), unit, digits=digits) for v in (values.min(), values.max()))
    if low == high:
        return f"{len(values)} seeds, the same to the digits shown"
    return f"{format_value(None, unit, float(values.min()), float(values.max()), digits)} over {len(values)} seeds"


def _points(fraction: float) -> str:
    return f"{100 * fraction:.0f} percentage points"


def _agreement(measured: float, reported: Number, n_seeds: int = 1) -> str:
    """How ``measured`` (the mean over ``n_seeds``) stands against one reported run's figure, in words."""
    gap = measured - reported.value
    if abs(gap) <= AGREEMENT_TOLERANCE:
        ours = "single runs" if n_seeds == 1 else f"a mean of {n_seeds} seeds and the author's single run"
        return (f"within {_points(AGREEMENT_TOLERANCE)} of the author's figure, so the two agree as closely as "
                f"{ours} can show")
    side = "above" if gap > 0 else "below"
    return (f"{_points(abs(gap))} {side} the author's figure, more than the {_points(AGREEMENT_TOLERANCE)} that "
            "single-run noise would explain")


def state_agent_facts(data_dir: Path = DATA_DIR, registry: Path = REGISTRY) -> dict[str, str]:
    """What Step 0 states about the state agent trained here, as prose for ``{glue:text}``.

    Empty when ``data_dir`` holds no measured state run (the page then says none was made).
    """
    runs = measured_runs("state", data_dir)
    if runs.empty:
        return {}
    numbers = chapter_numbers(data_dir)
    reported_2m = numbers["state_success_2m"].reported or numbers["state_success_2m"]
    return {
        "own_state_seeds": seeds(len(runs)),
        "own_state_drawn": ("the line of small dots" if len(runs) == 1 else
                            "the line with a shaded band (the mean over the seeds; the band runs from the lowest "
                            "seed to the highest)"),
        "own_state_low_band": format_value(LOW_BAND, "fraction"),
        **_peak_before("state", 1_000_000, data_dir),
        "own_state_budget": format_value(float(runs["steps"].max()), "steps"),
        "own_state_half_budget": format_value(float(runs["steps"].max()) / 2, "steps"),
        "own_state_onset_level": format_value(ONSET_LEVEL, "fraction"),
        **_over_seeds("own_state_1m", runs["success_1m"], "fraction"),
        **_over_seeds("own_state_2m", runs["success_2m"], "fraction"),
        **_over_seeds("own_state_onset", runs["onset_step"], "steps"),
        **_over_seeds("own_state_hours", runs["wall_time_h"], "h", digits=1),
        "own_state_runs": ", ".join(f"data/runs/{r}" for r in runs["run_id"]),
        "own_state_agreement_2m": _agreement(float(runs["success_2m"].mean()), reported_2m, len(runs)),
        **_checkpoint_facts("state", registry),
    }


def _over_seeds(key: str, values: pd.Series, unit: str, digits: int | None = None) -> dict[str, str]:
    """``key``: the mean for the sentence; ``key__range``: the spread over seeds for the sources box."""
    return {key: seed_mean(values, unit, digits), f"{key}__range": seed_range(values, unit, digits)}


def _peak_before(config: str, step: int, data_dir: Path) -> dict[str, str]:
    """The highest success reading of the config's measured runs at or before ``step``: ``own_<config>_peak_before_1m``
    for a sentence (value, seed, step) and ``..._source`` for the page's sources box (its run folder and exact step)."""
    curves = project_curve(config, None, "success_rate", data_dir)
    curves = curves[curves["run_id"].isin(measured_runs(config, data_dir)["run_id"]) & (curves["step"] <= step)]
    peak = curves.loc[curves["value"].idxmax()]
    key = f"own_{config}_peak_before_{format_value(step, 'steps').lower()}"
    at = format_value(float(peak["step"]), "steps", digits=2)
    return {key: f"{format_value(float(peak['value']), 'fraction')}, seed {int(peak['seed'])} at {at} steps",
            f"{key}__source": f"data/runs/{peak['run_id']} at step {int(peak['step']):,}"}


def _checkpoint_facts(config: str, registry: Path) -> dict[str, str]:
    """``own_<config>_eval_<steps>``: each registered checkpoint's success in its own evaluation, for example
    ``'92% (measured) over 100 episodes'`` (deterministic actions, unseen env seeds), keyed by its training budget."""
    facts = {}
    for entry in registered_checkpoints(config, registry):
        key = f"own_{config}_eval_{format_value(entry.steps, 'steps').lower()}"
        facts[key] = f"{format_value(entry.success_rate, 'fraction')} (measured) over {entry.n_episodes} episodes"
    return facts
