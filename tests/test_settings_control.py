"""The settings control (pixelpush_lib.results.investigations.settings_control): the state agent under Step 2's SAC +
HER settings, read against the prediction's line, chooses the next run whichever way its seeds come out."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from datadir_helpers import copy_data, write_measured_run
from pixelpush_lib.results.investigations.prediction import prediction_test
from pixelpush_lib.results.investigations.settings_control import CONFIG, SETTINGS_CLEARED, SETTINGS_DELAY, \
    control_branch, settings_control_facts
from pixelpush_lib.results.investigations.prediction import UNDECIDED

STEPS = np.arange(20_000, 2_000_001, 20_000)


def _control(data, seed: int, onset: float | None, last: int = 2_000_000) -> None:
    steps = STEPS[STEPS <= last]
    success = np.where(steps >= (onset if onset is not None else np.inf), 0.8, 0.04)
    write_measured_run(data, CONFIG, seed, steps, success,
                       planned_steps=2_000_000 if last < 2_000_000 else None)


@pytest.mark.parametrize(("onsets", "branch"), [
    ([-0.4, 0.2], SETTINGS_CLEARED),  # both climbed (one after the line), their mean by it: the settings are cleared
    ([-0.2, 0.6], SETTINGS_DELAY),  # the mean is past the line although one seed was on time
    ([0.0, None], SETTINGS_DELAY),  # a seed that never climbed in its 2M steps
])
def test_the_control_chooses_the_branch_from_its_seeds(tmp_path, onsets, branch):
    # onsets as multiples of the line's distance from the state agent's onset (None: no climb)
    data = copy_data(tmp_path)
    line = prediction_test(CONFIG, data)
    for seed, where in enumerate(onsets):
        _control(data, seed, None if where is None else line.deadline + where * (line.deadline - line.state_onset))
    test = prediction_test(CONFIG, data)
    assert control_branch(test) == branch
    facts = settings_control_facts(data)
    assert facts["control_branch"] == branch
    assert ("eyes_first_nature" in facts["control_next_run"]) == (branch == SETTINGS_CLEARED)
    assert ("state_noisy_puck" in facts["control_next_run"]) == (branch == SETTINGS_CLEARED)
    assert ("eyes_first_state_settings" in facts["control_next_run"]) == (branch == SETTINGS_DELAY)
    assert facts["control_runs"] == f"data/runs/{CONFIG}_s0, data/runs/{CONFIG}_s1"
    # The page says when the control climbed once (control_climb); its readings do not say it again.
    assert "first read" in facts["control_climb"] and "first read" not in facts["control_result"]
    assert facts["control_result"].startswith("At 1M steps" if None not in onsets else "Seed 1 never read 50%")


def test_no_run_or_a_seed_still_short_of_the_line_decides_nothing(tmp_path):
    data = copy_data(tmp_path)
    assert settings_control_facts(data)["control_branch"] == UNDECIDED
    assert settings_control_facts(data)["control_runs"] == "none yet"
    line = prediction_test(CONFIG, data)
    _control(data, 0, line.state_onset)  # climbed early
    _control(data, 1, None, last=600_000)  # still training, flat, short of the line
    facts = settings_control_facts(data)
    assert facts["control_branch"] == UNDECIDED
    assert "seed 1 at 600K" in facts["control_progress"] and "still training" in facts["control_progress"]
    assert facts["control_climb"].endswith("(measured, 1 of 2 seeds climbed)")
    assert settings_control_facts(copy_data(tmp_path / "fresh"))["control_climb"] == "has no run yet"


def test_the_runs_the_branch_points_to_are_read_once_they_exist(tmp_path):
    data = copy_data(tmp_path)
    line = prediction_test(CONFIG, data)
    for seed in (0, 1):
        _control(data, seed, line.state_onset)  # both climbed early: the settings are cleared
    facts = settings_control_facts(data)
    assert facts["control_next_status"] == ("state_noisy_puck has not started yet. "
                                            "eyes_first_nature has not started yet.")
    steps = STEPS[STEPS <= 400_000]
    write_measured_run(data, "state_noisy_puck", 0, steps, np.full(len(steps), 0.03), planned_steps=2_000_000)
    status = settings_control_facts(data)["control_next_status"]
    assert status.startswith("state_noisy_puck: 1 seed so far; still training and shown up to its last checkpoint: "
                             "seed 0 at 400K of its 2M steps.")
    assert "has not read 50% yet: the latest reading is 3% at 400K steps (measured)" in status
    assert status.endswith("eyes_first_nature has not started yet.")
    assert settings_control_facts(copy_data(tmp_path / "fresh"))["control_next_status"] == ""  # undecided: nothing


def test_the_noisy_puck_run_is_read_from_its_config_and_its_runs(tmp_path):
    from pixelpush_lib.results.investigations.settings_control import noisy_puck_facts

    data = copy_data(tmp_path)
    facts = noisy_puck_facts(data)
    from pixelpush_lib.core.configs import get_config

    noise = get_config("state_noisy_puck").puck_noise_median_cm
    assert noise > 0 and facts["noisy_puck_noise"] == f"{noise:g} cm (set in its config)"
    assert facts["noisy_puck_progress"] == "it has not started yet"
    steps = STEPS[STEPS <= 400_000]
    write_measured_run(data, "state_noisy_puck", 0, steps, np.full(len(steps), 0.06), planned_steps=2_000_000)
    facts = noisy_puck_facts(data)
    assert "seed 0 at 400K of its 2M steps" in facts["noisy_puck_progress"]
    assert facts["noisy_puck_result"] == "Seed 0 has not read 50% yet: the latest reading is 6% at 400K steps (measured)."
    assert facts["noisy_puck_answer"].startswith("The answer waits")


@pytest.mark.parametrize(("onset", "answer"), [
    (1_500_000, "Yes: through readings as imprecise as the eyes' it first read 50% or more at 1.5M steps (measured, "
                "one seed), against 1.2M steps (measured) on the true state."),
    (None, "Not within its budget: through readings as imprecise as the eyes' its one seed never read 50% in 2M steps "
           "(measured), where on the true state it first read so at 1.2M steps (measured)."),
])
def test_the_noisy_puck_question_is_answered_by_its_finished_run(tmp_path, onset, answer):
    """Yes once it climbs (beside the state agent's onset on the true state), no once it ends its budget flat."""
    from pixelpush_lib.results.investigations.settings_control import noisy_puck_facts

    data = copy_data(tmp_path)
    write_measured_run(data, "state", 0, STEPS, np.where(STEPS >= 1_200_000, 0.8, 0.04))
    success = np.where(STEPS >= (onset or np.inf), 0.8, 0.04)
    write_measured_run(data, "state_noisy_puck", 0, STEPS, success)
    said = noisy_puck_facts(data)["noisy_puck_answer"]
    assert said.startswith(answer), said
    assert ("does not explain" in said) == (onset is not None) and ("could explain" in said) == (onset is None)
    if onset is None:  # its last reading is the one at 2M: said once
        assert noisy_puck_facts(data)["noisy_puck_result"] == ("Seed 0 never read 50%: the last reading is 4% at 2M "
                                                               "steps (measured). At 1M steps the reading was 4% (measured).")
    # a second seed, still flat and training: one climb already answers yes, and says how many climbed
    write_measured_run(data, "state_noisy_puck", 1, STEPS[:20], np.full(20, 0.04), planned_steps=2_000_000)
    said = noisy_puck_facts(data)["noisy_puck_answer"]
    assert said.startswith("Yes: through readings as imprecise as the eyes' it first read 50% or more at 1.5M "
                           "steps (measured, 1 of 2 seeds climbed)") if onset else said.startswith("The answer waits")
    if onset is None:  # the second seed ends its budget flat too: the answer names both, and no longer hedges on one
        shutil.rmtree(data / "runs" / "state_noisy_puck_s1")
        write_measured_run(data, "state_noisy_puck", 1, STEPS, np.full(len(STEPS), 0.04))
        said = noisy_puck_facts(data)["noisy_puck_answer"]
        assert "none of its 2 seeds never read" not in said and "one seed does not settle" not in said
        assert said.startswith("Not within its budget: through readings as imprecise as the eyes' none of its 2 seeds read "
                                "50% in 2M steps (measured)")


@pytest.mark.parametrize(("where", "says"), [(0.1, "a small part"), (0.8, "most"), (-0.3, "did not delay")])
def test_the_budget_rule_reads_how_far_the_settings_moved_the_climb(tmp_path, where, says):
    # where: the control's onset as a share of the way from the state agent's onset to the author's pixel run's
    data = copy_data(tmp_path)
    line = prediction_test(CONFIG, data)
    _control(data, 0, line.state_onset + where * (line.pixel_onset - line.state_onset))
    sentence = settings_control_facts(data)["control_budget_sentence"]
    assert says in sentence
    if where > 0:
        assert "of the way from its own onset to the author's pixel run's (measured against reported)" in sentence
    _control(data, 1, None, last=600_000)  # a seed still flat: nothing is said until it climbs
    assert settings_control_facts(data)["control_budget_sentence"].endswith("waits for every seed to climb")
    data = copy_data(tmp_path / "never")
    _control(data, 0, line.state_onset)
    _control(data, 1, None)  # flat to the end of its budget
    assert settings_control_facts(data)["control_budget_sentence"] == (
        "1 seed of 2 never climbed in its budget, so the settings alone could explain all of the pixel run's wait")
