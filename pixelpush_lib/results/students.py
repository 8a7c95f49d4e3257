"""The pixel students' measurement read back (``data/measured/distill``), and what the chapter states about it.

Pure pandas, like the rest of :mod:`pixelpush_lib.results`: the facts load without the simulator.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from pixelpush_lib.core.paths import MEASURED_DIR
from pixelpush_lib.results.evidence import LOW_BAND
from pixelpush_lib.results.measured import load_manifest
from pixelpush_lib.results.own_runs import seed_spread
from pixelpush_lib.results.quoted_numbers import format_value


@dataclass(frozen=True)
class DistillResult:
    """``data/measured/distill``: ``curve`` (one row per encoder, seed and round), ``tasks`` (one per student),
    ``manifest`` (provenance, parameters, summary) and its ``folder``."""

    curve: pd.DataFrame
    tasks: pd.DataFrame
    manifest: dict[str, Any]
    folder: Path


def load_results(measured_dir: Path = MEASURED_DIR) -> DistillResult:
    """The committed distillation measurement (validated manifest)."""
    manifest = load_manifest("distill", measured_dir)
    folder = Path(measured_dir) / "distill"
    return DistillResult(pd.read_csv(folder / "curve.csv"), pd.read_csv(folder / "tasks.csv"), manifest, folder)


#: Final validation success (fraction) above which a student is said to push: the chapter's failure band.
PUSHES = LOW_BAND


def _verdict(final: dict[str, pd.Series]) -> str:
    manip, nature = final["manipulation"], final["nature"]
    if manip.min() > nature.max():
        return ("ManipulationCNN's students beat NatureCNN's in every seed, so Step 0's story holds for control too, "
                "at least under imitation")
    if nature.min() > manip.max():
        return ("NatureCNN's students beat ManipulationCNN's in every seed, so under imitation Step 0's story does "
                "not carry over to control")
    return "the two encoders' seed ranges overlap, so at this budget imitation does not tell them apart"


def _meaning(pushing: set[str]) -> str:
    """What the outcome means for the chapter's arc, in one sentence."""
    if pushing == {"manipulation", "nature"}:
        return ("Told the right action, both pipelines' eyes see enough of the puck to push it, so what Step 0's "
                "and Step 1's agents lacked was not sight but a learning signal that reaches the encoder: "
                "Steps 2 and 3")
    if pushing == {"manipulation"}:
        return ("Only Step 1's eyes carry the puck well enough to control it, as Step 0 argued; the reported Step 1 "
                "run stayed flat all the same, so the right eyes are needed but not enough: Steps 2 and 3")
    if pushing == {"nature"}:
        return ("NatureCNN's eyes were enough for control here while ManipulationCNN's were not, which is the "
                "opposite of Step 0's argument, so that argument does not hold for control under imitation")
    return ("At this budget imitation taught neither pipeline to push, so the experiment cannot tell eyes from "
            "learning signal; it needs more labels or more training per round before it can")


def distill_facts(result: DistillResult, measured_dir: Path = MEASURED_DIR) -> dict[str, str]:
    """What the chapter states about the pixel students, for ``{glue:text}``: budgets, each encoder's success after
    behaviour cloning and after the last DAgger round (mean and range over seeds), the teacher's measured success,
    whether the students push, which encoder wins, and what the experiment cost."""
    curve, tasks, params = result.curve, result.tasks, result.manifest["parameters"]
    last = int(curve["round"].max())
    per_round = {r: {e: g["success_rate"] for e, g in curve[curve["round"] == r].groupby("encoder")}
                 for r in (0, last)}
    n_seeds = curve["seed"].nunique()
    facts = {"distill_seeds": f"{n_seeds} seed" + ("s" if n_seeds != 1 else ""),
             "distill_rounds": str(last),
             "distill_bc_labels": format_value(float(curve.loc[curve["round"] == 0, "labels"].max()), "steps"),
             "distill_labels": format_value(float(curve["labels"].max()), "steps"),
             "distill_episodes_per_round": str(params["episodes_per_round"]),
             "distill_validation_episodes": str(params["validation_episodes"]),
             "distill_train_steps": format_value(float(params["train_steps"]), "steps"),
             "distill_push_bar": format_value(PUSHES, "fraction"),
             "distill_verdict": _verdict(per_round[last]),
             "distill_steps_per_s": f"{tasks['env_steps_per_s'].median():.0f}",
             "distill_cpu_h": f"{tasks['cpu_s'].sum() / 3600:.1f}",
             "distill_wall_h": f"{result.manifest['summary']['wall_s'] / 3600:.1f}",
             "distill_jobs": str(result.manifest["summary"]["jobs"])}
    for encoder in per_round[last]:
        facts[f"distill_{encoder}_bc"] = seed_spread(per_round[0][encoder], "fraction")
        facts[f"distill_{encoder}_final"] = seed_spread(per_round[last][encoder], "fraction")
    pushing = [e for e, s in per_round[last].items() if s.mean() > PUSHES]
    names = {"manipulation": "ManipulationCNN's", "nature": "NatureCNN's"}
    facts["distill_pushes"] = (f"both encoders' students push (mean final success above {facts['distill_push_bar']})"
                               if len(pushing) == 2 else
                               f"only {names[pushing[0]]} students push (mean final success above "
                               f"{facts['distill_push_bar']})" if pushing else
                               f"neither encoder's students push (mean final success at or below "
                               f"{facts['distill_push_bar']})")
    facts["distill_meaning"] = _meaning(set(pushing))
    expert = load_manifest("expert", measured_dir)["summary"]
    facts["distill_expert"] = (f"{format_value(expert['success_rate'], 'fraction')} over "
                               f"{expert['n_episodes']} episodes")
    return facts


