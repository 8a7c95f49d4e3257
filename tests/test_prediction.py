"""The eyes-first prediction (pixelpush_lib.results.investigations.prediction): the line sits between the state
agent's onset and Step 2's, each run is judged against it, and the verdict follows the runs whichever way they
come out."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from datadir_helpers import write_measured_run
from pixelpush_lib.core.paths import DATA_DIR
from pixelpush_lib.results.investigations.prediction import LATE, MARGIN, ON_TIME, UNDECIDED, prediction_facts, \
    prediction_test
from pixelpush_lib.results.own_runs import measured_runs
from pixelpush_lib.results.quoted_numbers import format_value

STEPS = np.arange(20_000, 2_000_001, 20_000)


def copy_data(tmp_path):
    """The reported data and Step 1's measurement of the eyes (what the facts quote about them, linked, never
    edited here), no project run."""
    from datadir_helpers import copy_data as copy_reported
    from pixelpush_lib.core.paths import MEASURED_DIR

    data = copy_reported(tmp_path)
    (data / "measured").mkdir()
    for experiment in ("eyes", "state_on_eyes"):
        (data / "measured" / experiment).symlink_to(MEASURED_DIR / experiment)
    return data


def _eyes_first(data, seed: int, onset: int | None, last: int = 2_000_000) -> None:
    steps = STEPS[STEPS <= last]
    success = np.where(steps >= (onset if onset is not None else np.inf), 0.7, 0.05)
    write_measured_run(data, "eyes_first", seed, steps, success)


def test_the_line_lies_between_the_two_onsets_and_no_run_decides_nothing(tmp_path):
    data = copy_data(tmp_path)
    test = prediction_test("eyes_first", data)
    assert test.state_onset < test.deadline < test.pixel_onset
    assert test.deadline == pytest.approx(test.state_onset + MARGIN * (test.pixel_onset - test.state_onset))
    assert test.runs.empty and test.verdict == UNDECIDED


@pytest.mark.parametrize(("onsets", "outcomes", "verdict"), [
    ([0.0, 0.0], [ON_TIME, ON_TIME], "holds"),  # climbed with the state agent
    ([0.0, 0.75], [ON_TIME, LATE], "mixed"),
    ([0.75, None], [LATE, LATE], "fails"),  # one climbed late, one never did in 2M steps
])
def test_each_run_is_judged_against_the_line(tmp_path, onsets, outcomes, verdict):
    # onsets as fractions of the way from the state agent's onset to Step 2's (None: no climb)
    data = copy_data(tmp_path)
    line = prediction_test("eyes_first", data)
    for seed, where in enumerate(onsets):
        step = None if where is None else line.state_onset + where * (line.pixel_onset - line.state_onset)
        _eyes_first(data, seed, None if step is None else int(np.ceil(step / 20_000) * 20_000))
    test = prediction_test("eyes_first", data)
    assert list(test.runs["outcome"]) == outcomes and test.verdict == verdict


def test_a_run_stopped_before_the_line_without_a_climb_decides_nothing_yet(tmp_path):
    data = copy_data(tmp_path)
    _eyes_first(data, 0, onset=None, last=1_000_000)
    test = prediction_test("eyes_first", data)
    assert list(test.runs["outcome"]) == [UNDECIDED] and test.verdict == UNDECIDED
    assert prediction_facts("eyes_first", data)["eyes_first_pred_verdict_sentence"].startswith("Not decided yet")


def test_the_facts_state_the_runs_and_the_verdict(tmp_path):
    data = copy_data(tmp_path)
    _eyes_first(data, 0, onset=1_200_000)
    _eyes_first(data, 1, onset=1_400_000)
    facts = prediction_facts("eyes_first", data)
    assert facts["eyes_first_pred_seeds"] == "2 seeds" and facts["eyes_first_pred_on_time"] == "2 of 2"
    assert facts["eyes_first_pred_spread"] == ("Over the seeds: latest reading 2 seeds, the same to the digits shown; "
                                               "onset 1.2M-1.4M over 2 seeds; success at 1M 2 seeds, the same to the "
                                               "digits shown; success at 2M 2 seeds, the same to the digits shown.")
    assert facts["eyes_first_pred_verdict"] == "holds"
    assert facts["eyes_first_pred_meaning"].startswith("In these runs, once seeing was solved beforehand, the climb")
    assert facts["eyes_first_pred_runs"] == "data/runs/eyes_first_s0, data/runs/eyes_first_s1"


def test_the_success_figure_draws_eyes_first_runs_under_their_readers_name(tmp_path):
    from pixelpush_lib.chapter.figures import plot_success

    data = copy_data(tmp_path)
    _eyes_first(data, 0, onset=1_200_000)
    _eyes_first(data, 1, onset=1_400_000)
    fig = plot_success(["state", "step2", "eyes_first"], data_dir=data)
    labels = [text.get_text() for text in fig.axes[0].get_legend().get_texts()]
    assert any(label.startswith("Eyes first (frozen eyes), measured here") for label in labels), labels


def test_a_run_still_training_is_said_to_be_and_judged_only_once_it_reaches_the_line(tmp_path):
    data = copy_data(tmp_path)
    steps = STEPS[STEPS <= 1_100_000]
    write_measured_run(data, "eyes_first", 0, steps, np.full(len(steps), 0.08), planned_steps=2_000_000)
    facts = prediction_facts("eyes_first", data)
    assert facts["eyes_first_pred_progress"] == ("1 seed so far; still training and shown up to its last checkpoint: "
                                                 "seed 0 at 1.1M of its 2M steps")
    assert facts["eyes_first_pred_result"] == ("Seed 0 has not read 50% yet: the latest reading is 8% at 1.1M steps "
                                               "(measured). At 1M steps the reading was 8% (measured).")
    assert facts["eyes_first_pred_verdict"] == UNDECIDED and facts["eyes_first_pred_meaning"].startswith("Until a run")
    assert facts["eyes_first_pred_spread"] == "With one seed or none there is no spread over seeds to give."
    # Beside it, a finished seed that climbed and one that never did: each said as it is, the one training named.
    _eyes_first(data, 1, onset=1_200_000)
    _eyes_first(data, 2, onset=None)
    facts = prediction_facts("eyes_first", data)
    assert facts["eyes_first_pred_progress"] == ("3 seeds so far, 2 finished; still training and shown up to its last "
                                                 "checkpoint: seed 0 at 1.1M of its 2M steps")
    assert facts["eyes_first_pred_result"] == (
        "Seed 1 first read 50% or more at 1.2M steps (measured). "
        "Seed 0 has not read 50% yet: the latest reading is 8% at 1.1M steps (measured). "
        "Seed 2 never read 50%: the last reading is 5% at 2M steps (measured). "
        "At 1M steps the mean reading of the 3 seeds was 6% (measured).")  # seed 0 has no 2M reading yet
    assert facts["eyes_first_pred_verdict"] == UNDECIDED  # seed 0 has not reached the line: nothing is decided


def test_seeds_still_training_are_listed_each_with_its_latest_reading(tmp_path):
    data = copy_data(tmp_path)
    for seed, last in ((0, 600_000), (1, 400_000)):
        steps = STEPS[STEPS <= last]
        write_measured_run(data, "eyes_first", seed, steps, np.full(len(steps), 0.05 + seed / 100),
                           planned_steps=2_000_000)
    facts = prediction_facts("eyes_first", data)
    assert facts["eyes_first_pred_progress"] == ("2 seeds so far; still training and shown up to their last "
                                                 "checkpoints: seed 0 at 600K of its 2M steps, seed 1 at 400K of its "
                                                 "2M steps")
    assert facts["eyes_first_pred_result"] == ("Seeds 0 and 1 have not read 50% yet: the latest readings are 5% at "
                                               "600K steps (seed 0), 6% at 400K steps (seed 1) (measured).")


def test_the_sentences_say_when_no_run_exists_and_when_the_prediction_fails(tmp_path):
    data = copy_data(tmp_path)
    empty = prediction_facts("eyes_first", data)
    assert empty["eyes_first_pred_progress"] == "none has been collected yet"
    assert empty["eyes_first_pred_result"] == "There is no curve of eyes_first to read yet."
    assert empty["eyes_first_pred_verdict_sentence"] == "Not decided yet: no run has been collected."
    assert empty["eyes_first_pred_meaning"] == "The figure shows the two onsets the line lies between."
    _eyes_first(data, 0, onset=None)
    facts = prediction_facts("eyes_first", data)
    assert facts["eyes_first_pred_progress"] == "1 seed, trained for its full 2M steps"
    assert facts["eyes_first_pred_verdict_sentence"] == "The prediction fails: no run climbed by the line."
    assert facts["eyes_first_pred_meaning"].startswith("Once seeing was solved beforehand the climb still came late")
    assert facts["eyes_first_pred_success_2m"] == "5%"  # the flat run's reading at 2M, for a sentence of its own
    assert empty["eyes_first_pred_success_2m"] == "not reached"
    steps = STEPS[STEPS <= 800_000]
    write_measured_run(data, "eyes_first", 1, steps, np.full(len(steps), 0.3), planned_steps=2_000_000)
    assert prediction_facts("eyes_first", data)["eyes_first_pred_success_2m"] == "not reached"  # not every seed yet
    assert facts["eyes_first_pred_state_spread"] == "no seed reached it"  # this copy holds no state run
    state = measured_runs("state")["onset_step"]  # the committed state seeds: how far their onsets spread
    assert prediction_facts("eyes_first")["eyes_first_pred_state_spread"] == (
        f"{format_value(state.min(), 'steps')}-{format_value(state.max(), 'steps')} over {len(state)} seeds")


def test_the_onsets_the_line_lies_between_carry_their_kind(tmp_path):
    data = copy_data(tmp_path)  # no state run of ours: the author's onset stands in
    facts = prediction_facts("eyes_first", data)
    assert facts["eyes_first_pred_state_onset"].endswith("steps (reported)")
    assert facts["eyes_first_pred_pixel_onset"] == "2.2M steps (reported)"
    assert facts["eyes_first_pred_state_runs"] == "none: the author's onset stands in"
    ours = prediction_facts("eyes_first")  # the committed data: our three state seeds
    assert ours["eyes_first_pred_state_onset"].endswith("steps (measured, the mean of 3 seeds)")


def test_the_eyes_readout_is_the_measurement_of_the_very_eyes_the_config_reads_with():
    from pixelpush_lib.results.investigations.eyes import state_on_eyes

    facts = prediction_facts("eyes_first")
    table = state_on_eyes()
    row = table[(table["condition"] == "eyes") & (table["encoder"] == "manipulation") & (table["eyes_seed"] == 1)]
    truth = table[table["condition"] == "true state"].iloc[0]
    assert facts["eyes_first_pred_eyes"] == "ManipulationCNN's eyes of seed 1"  # the seed the config names
    assert facts["eyes_first_pred_on_eyes"] == f"{100 * row['success_rate'].iloc[0]:.0f}%"
    assert facts["eyes_first_pred_on_truth"] == f"{100 * truth['success_rate']:.0f}%"
    assert facts["eyes_first_pred_eyes_episodes"] == str(truth["episodes"])
    assert facts["eyes_first_pred_velocity"] == "their velocity is no better than always answering zero"
    summary = json.loads((DATA_DIR / "measured" / "eyes" / "manifest.json").read_text())["summary"]
    errors = pd.read_csv(DATA_DIR / "measured" / "eyes" / "errors.csv")
    chosen = (errors["seed"] == 1) & (errors["mix"] == summary["chosen_mix"]["manipulation"])
    mine = errors[(errors["encoder"] == "manipulation") & chosen
                  & (errors["split"] == "test") & (errors["quantity"] == "position")].set_index("frames")["median_cm"]
    assert facts["eyes_first_pred_error"] == f"{mine['all']:.1f} cm"  # held-out episodes, the chosen mix
    assert facts["eyes_first_pred_near_error"] == f"{mine['near gripper']:.1f} cm"
    nature = prediction_facts("eyes_first_nature")
    assert nature["eyes_first_nature_pred_eyes"] == "NatureCNN's eyes of seed 0"
    assert nature["eyes_first_nature_pred_velocity"] == "from a single frame they see no motion at all"


def test_the_prediction_figure_draws_the_line_and_says_a_run_is_still_training(tmp_path):
    from pixelpush_lib.chapter.figures.prediction import plot_prediction
    data = copy_data(tmp_path)
    steps = STEPS[STEPS <= 600_000]
    write_measured_run(data, "eyes_first", 0, steps, np.full(len(steps), 0.08), planned_steps=2_000_000)
    fig = plot_prediction("eyes_first", data)
    ax = fig.axes[0]
    deadline = prediction_test("eyes_first", data).deadline
    verticals = [line for line in ax.get_lines() if list(line.get_xdata()) == [deadline, deadline]]
    assert len(verticals) == 1
    assert [text.get_text() for text in ax.texts] == [f"the line, {format_value(deadline, 'steps')}"]
    labels = [text.get_text() for text in ax.get_legend().get_texts()]
    assert "Eyes first (frozen eyes), measured here: seed 0 (still training)" in labels
    assert not any("still training" in label for label in labels if not label.startswith("Eyes first"))


def test_the_settings_that_differ_from_the_state_agent_s_are_named_with_both_values():
    from pixelpush_lib.core.configs import get_config
    from pixelpush_lib.results.investigations.prediction import _settings_against_state

    eyes, state = get_config("eyes_first"), get_config("state")
    settings = prediction_facts("eyes_first")["eyes_first_pred_settings"]
    assert f"learning rate {eyes.learning_rate:g} (the state agent's: {state.learning_rate:g})" in settings
    assert f"environments stepped together {eyes.n_envs} (the state agent's: {state.n_envs})" in settings
    assert settings.endswith(f"so {1 / eyes.n_envs:g} updates per environment step (the state agent's: "
                             f"{1 / state.n_envs:g})")  # one gradient step per step of all the envs, in both
    assert "discount" not in settings  # the same in both: not a difference
    assert _settings_against_state("state") == "none: the same as the state agent's"
