"""Step 3's explanation, put to a test it could fail: an agent whose eyes already see should climb when the state
agent does.

Step 3 explains the pixel run's late climb (Step 2's onset, reported) as the time its encoder needed to learn to
see. The ``eyes_first`` config removes that time: its frozen eyes were trained beforehand, with simulator labels,
and SAC + HER learns through them from the first step. If the explanation is right, its onset (first success reading
at or above :data:`~pixelpush_lib.results.quoted_numbers.ONSET_LEVEL`) falls near the state agent's, not near
Step 2's. :func:`prediction_test` fixes the line between the two before any run is read: the prediction holds for a
run that climbs by the state agent's onset plus :data:`MARGIN` of the gap to Step 2's onset.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from pixelpush_lib.core.configs import get_config
from pixelpush_lib.core.paths import DATA_DIR
from pixelpush_lib.results.eyes import chosen_eyes_seed, eyes_facts, state_on_eyes
from pixelpush_lib.results.loaders import project_curve
from pixelpush_lib.results.own_runs import measured_runs, seed_mean, seed_range, seeds
from pixelpush_lib.results.quoted_numbers import ONSET_LEVEL, chapter_numbers, format_value

#: Where the line sits between the state agent's onset (0) and Step 2's reported onset (1): a run that climbs by
#: then climbed closer to the state agent than to the pixel agent.
MARGIN = 0.5

#: A run's outcome against the line: climbed by it, climbed after it or ran past it without climbing, or stopped
#: before it without climbing (it says nothing yet).
ON_TIME, LATE, UNDECIDED = "on time", "late", "undecided"


@dataclass(frozen=True)
class PredictionTest:
    """The prediction's test on the measured runs of one config."""

    config: str
    #: the state agent's onset, environment steps: the mean over this project's measured seeds (the author's
    #: figure when there are none)
    state_onset: float
    #: Step 2's onset, environment steps (reported: the author's run, whose policy was also fed ``achieved_goal``)
    pixel_onset: float
    #: the line, environment steps: ``state_onset + MARGIN * (pixel_onset - state_onset)``
    deadline: float
    #: one row per measured run of ``config``: ``run_id, seed, onset_step`` (NaN: none), ``steps`` (the last
    #: logged), ``success_1m``, ``success_2m``, ``wall_time_h``, ``outcome`` (ON_TIME, LATE or UNDECIDED)
    runs: pd.DataFrame

    @property
    def verdict(self) -> str:
        """``'holds'`` when every run climbed by the line, ``'fails'`` when none did and none is undecided,
        ``'mixed'`` when the decided runs disagree, ``'undecided'`` while a run has not reached the line (or none
        exists)."""
        outcomes = set(self.runs["outcome"])
        if not outcomes or UNDECIDED in outcomes:
            return UNDECIDED
        if outcomes == {ON_TIME}:
            return "holds"
        return "fails" if outcomes == {LATE} else "mixed"


def _outcome(onset: float, last_step: int, deadline: float) -> str:
    if not np.isnan(onset):
        return ON_TIME if onset <= deadline else LATE
    return LATE if last_step >= deadline else UNDECIDED


def prediction_test(config: str = "eyes_first", data_dir: Path = DATA_DIR) -> PredictionTest:
    """The measured runs of ``config`` against the line between the state agent's onset and Step 2's."""
    numbers = chapter_numbers(data_dir)
    state_onset = float(numbers["state_onset_step"].value)
    pixel_onset = float(numbers["step2_onset_step"].value)
    deadline = state_onset + MARGIN * (pixel_onset - state_onset)
    runs = measured_runs(config, data_dir)
    runs["outcome"] = [_outcome(row.onset_step, row.steps, deadline) for row in runs.itertuples()]
    return PredictionTest(config, state_onset, pixel_onset, deadline, runs)


def _result(test: PredictionTest, last_success: pd.Series) -> str:
    """What the runs show so far, as sentences with their kind: the onset (or the latest reading, before any), and
    success at 1M and 2M where every run has logged that far."""
    runs, level = test.runs, format_value(ONSET_LEVEL, "fraction")
    if runs.empty:
        return "There is nothing to read yet."
    n, onsets = len(runs), runs["onset_step"].dropna()
    over = "" if n == 1 else f", the mean of {seeds(n)}"
    if len(onsets) == n:
        first = f"It first read {level} or more at {seed_mean(onsets, 'steps')} steps (measured{over})"
    elif len(onsets):
        first = (f"{len(onsets)} of {seeds(n)} first read {level} or more, at {seed_mean(onsets, 'steps')} steps "
                 "(measured); the others have not yet")
    else:
        step = format_value(float(runs["steps"].min()), "steps", digits=2)
        first = (f"No reading has reached {level} yet: the latest is {seed_mean(last_success, 'fraction')} at "
                 f"{step} steps (measured{over})")
    then = [f"{format_value(step, 'steps')} steps it read {seed_mean(runs[column], 'fraction')}"
            for column, step in (("success_1m", 1_000_000), ("success_2m", 2_000_000)) if runs[column].notna().all()]
    return first + "." + (f" At {' and at '.join(then)} (measured{over})." if then else "")


_MEANINGS = {
    "holds": ("With seeing solved beforehand, the climb came with the state agent's: what the pixel run spent its extra "
              "steps on was the encoder, not the reinforcement learning that follows it."),
    "fails": ("With seeing solved beforehand, the climb still came late: learning to see is at most part of the "
              "delay, and the eyes' own error, below, is the first other suspect."),
    "mixed": "The seeds disagree, so the delay does not follow from the encoder alone in every run; more seeds decide.",
    UNDECIDED: ("Until a run reaches the line, the figure shows how its curve begins, not whether the climb comes on "
                "time."),
}


def _eyes_readout(config: str) -> dict[str, str]:
    """Step 1's measurement of the very eyes ``config`` reads with: the state agent's success when its puck position
    came from them, beside its success with the true position (data/measured/state_on_eyes)."""
    run_config = get_config(config)
    seed = chosen_eyes_seed(run_config.encoder, run_config.eyes_seed)
    table = state_on_eyes()
    on_eyes = table[(table["condition"] == "eyes") & (table["encoder"] == run_config.encoder)
                    & (table["eyes_seed"] == seed)]
    truth = table[table["condition"] == "true state"]
    key = f"{config}_pred"
    encoder = {"manipulation": "ManipulationCNN", "nature": "NatureCNN"}[run_config.encoder]
    return {f"{key}_eyes": f"{encoder}'s eyes of seed {seed}",
            f"{key}_on_eyes": format_value(float(on_eyes["success_rate"].iloc[0]), "fraction") if len(on_eyes)
            else "not measured",
            f"{key}_on_truth": format_value(float(truth["success_rate"].iloc[0]), "fraction"),
            f"{key}_eyes_episodes": str(int(truth["episodes"].iloc[0])),
            f"{key}_velocity": eyes_facts()["eyes_velocity_verdict"]}


_VERDICT_SENTENCES = {
    "holds": "The prediction holds: every run climbed by the line, nearer the state agent's onset than Step 2's.",
    "fails": "The prediction fails: no run climbed by the line.",
    "mixed": "The runs disagree: some climbed by the line and some did not, so these seeds do not decide it.",
    UNDECIDED: "Not decided yet: a run has not reached the line.",
}


def _progress(runs: pd.DataFrame) -> str:
    """How far the runs got, for a sentence: every seed's budget, or which seeds are still training and where."""
    if runs.empty:
        return "no run of this config has been collected yet"
    training = runs[runs["in_progress"]]
    if training.empty:
        return f"{seeds(len(runs))}, each trained for its full {format_value(float(runs['planned_steps'].max()), 'steps')} steps"
    where = ", ".join(f"seed {row.seed} at {format_value(float(row.steps), 'steps', digits=2)} of its "
                      f"{format_value(float(row.planned_steps), 'steps')} steps" for row in training.itertuples())
    done = len(runs) - len(training)
    return (f"{seeds(len(runs))} so far, {done} finished; still training, shown up to the last checkpoint: {where}"
            if done else f"{seeds(len(runs))} so far, still training and shown up to its last checkpoint: {where}")


def _last_readings(config: str, runs: pd.DataFrame, data_dir: Path) -> pd.Series:
    """Each run's last logged success reading (fraction), in ``runs``' order."""
    curves = project_curve(config, None, "success_rate", data_dir)
    last = curves.sort_values("step").groupby("run_id")["value"].last()
    return pd.Series([last.get(run_id, np.nan) for run_id in runs["run_id"]], dtype=float)


def prediction_facts(config: str = "eyes_first", data_dir: Path = DATA_DIR) -> dict[str, str]:
    """What Step 3's "A prediction you can test" states, keyed ``<config>_pred_*``, for ``{glue:text}``: the line
    and the onsets it lies between, the runs' onsets and success at 1M and 2M (mean in a sentence, ``__range`` for
    the sources box), how far the runs got and their latest success, how many climbed on time, and the verdict as
    a sentence."""
    test = prediction_test(config, data_dir)
    runs, key = test.runs, f"{config}_pred"
    n = len(runs)
    on_time = int((runs["outcome"] == ON_TIME).sum())
    facts = {
        f"{key}_progress": _progress(runs),
        f"{key}_last_step": format_value(float(runs["steps"].min()), "steps", digits=2) if n else "no step",
        f"{key}_margin": format_value(MARGIN, "fraction"),
        f"{key}_onset_level": format_value(ONSET_LEVEL, "fraction"),
        f"{key}_state_onset": format_value(test.state_onset, "steps"),
        f"{key}_pixel_onset": format_value(test.pixel_onset, "steps"),
        f"{key}_deadline": format_value(test.deadline, "steps"),
        f"{key}_seeds": seeds(n),
        f"{key}_on_time": f"{on_time} of {n}",
        f"{key}_verdict": test.verdict,
        f"{key}_verdict_sentence": _VERDICT_SENTENCES[test.verdict],
        f"{key}_meaning": _MEANINGS[test.verdict],
        **_eyes_readout(config),
        f"{key}_runs": ", ".join(f"data/runs/{run}" for run in runs["run_id"]) or "none",
        f"{key}_state_runs": ", ".join(f"data/runs/{run}" for run in measured_runs("state", data_dir)["run_id"])
        or "none: the author's onset stands in",
    }
    runs = runs.assign(last_success=_last_readings(config, runs, data_dir))
    facts[f"{key}_result"] = _result(test, runs["last_success"])
    for column, name, unit in (("onset_step", "onset", "steps"), ("success_1m", "1m", "fraction"),
                               ("success_2m", "2m", "fraction"), ("wall_time_h", "hours", "h"),
                               ("last_success", "last_success", "fraction")):
        digits = 1 if unit == "h" else None
        facts[f"{key}_{name}"] = seed_mean(runs[column], unit, digits)
        facts[f"{key}_{name}__range"] = seed_range(runs[column], unit, digits)
    return facts
