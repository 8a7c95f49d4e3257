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

from pixelpush_lib.core.paths import DATA_DIR
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


_VERDICT_SENTENCES = {
    "holds": "The prediction holds: every run climbed by the line, nearer the state agent's onset than Step 2's.",
    "fails": "The prediction fails: no run climbed by the line.",
    "mixed": "The runs disagree: some climbed by the line and some did not, so these seeds do not decide it.",
    UNDECIDED: "Not decided yet: a run has not reached the line.",
}


def prediction_facts(config: str = "eyes_first", data_dir: Path = DATA_DIR) -> dict[str, str]:
    """What Step 3's "A prediction you can test" states, keyed ``<config>_pred_*``, for ``{glue:text}``: the line
    and the onsets it lies between, the runs' onsets and success at 1M and 2M (mean in a sentence, ``__range`` for
    the sources box), how many runs climbed on time, and the verdict as a sentence."""
    test = prediction_test(config, data_dir)
    runs, key = test.runs, f"{config}_pred"
    n = len(runs)
    on_time = int((runs["outcome"] == ON_TIME).sum())
    facts = {
        f"{key}_margin": format_value(MARGIN, "fraction"),
        f"{key}_onset_level": format_value(ONSET_LEVEL, "fraction"),
        f"{key}_state_onset": format_value(test.state_onset, "steps"),
        f"{key}_pixel_onset": format_value(test.pixel_onset, "steps"),
        f"{key}_deadline": format_value(test.deadline, "steps"),
        f"{key}_seeds": seeds(n),
        f"{key}_on_time": f"{on_time} of {n}",
        f"{key}_verdict": test.verdict,
        f"{key}_verdict_sentence": _VERDICT_SENTENCES[test.verdict],
        f"{key}_runs": ", ".join(f"data/runs/{run}" for run in runs["run_id"]) or "none",
    }
    for column, name, unit in (("onset_step", "onset", "steps"), ("success_1m", "1m", "fraction"),
                               ("success_2m", "2m", "fraction"), ("wall_time_h", "hours", "h")):
        digits = 1 if unit == "h" else None
        facts[f"{key}_{name}"] = seed_mean(runs[column], unit, digits)
        facts[f"{key}_{name}__range"] = seed_range(runs[column], unit, digits)
    return facts
