"""Our own measured runs beside the author's: the readings at 1M and 2M, the onset, and the agreement sentence."""

from __future__ import annotations

import pandas as pd
import pytest

from datadir_helpers import copy_data
from pixelpush_lib.results.own_runs import (
    AGREEMENT_TOLERANCE,
    _agreement,
    seed_mean,
    seed_range,
    measured_runs,
    state_agent_facts,
)
from pixelpush_lib.results.loaders import first_reading_at, project_curve, reading_at
from pixelpush_lib.results.quoted_numbers import chapter_numbers


def _curve(steps, values):
    return pd.DataFrame({"step": steps, "value": values})


def test_the_reading_at_a_step_is_the_last_one_logged_before_it():
    curve = _curve([900_000, 950_000, 990_000, 1_010_000], [0.1, 0.2, 0.3, 0.9])
    assert reading_at(curve, 1_000_000) == 0.3  # never a reading after the step
    assert reading_at(curve, 2_000_000) is None  # the run never logged near 2M
    assert reading_at(curve, 800_000) is None


def test_onset_is_the_first_reading_at_the_level():
    curve = _curve([1, 2, 3, 4], [0.1, 0.6, 0.4, 0.9])
    assert first_reading_at(curve, 0.5) == 2
    assert first_reading_at(curve, 0.95) is None


def test_a_sentence_gets_the_mean_over_seeds_and_the_sources_box_the_range():
    assert seed_mean(pd.Series([0.9]), "fraction") == "90%"
    assert seed_range(pd.Series([0.9]), "fraction") == "one seed"
    assert seed_mean(pd.Series([0.8, 0.9, 1.0]), "fraction") == "90%"
    assert seed_range(pd.Series([0.8, 0.9, 1.0]), "fraction") == "80-100% over 3 seeds"
    assert seed_mean(pd.Series([float("nan")]), "fraction") == "not reached"
    assert seed_range(pd.Series([float("nan")]), "fraction") == "no seed reached it"
    assert seed_mean(pd.Series([1.93, 2.0, 2.26]), "h", digits=1) == "2.1 h"
    assert seed_range(pd.Series([1.93, 2.0, 2.26]), "h", digits=1) == "1.9-2.3 h over 3 seeds"
    assert seed_range(pd.Series([0.019999999552965164, 0.12]), "fraction") == "2-12% over 2 seeds"
    assert seed_range(pd.Series([1_233_600, 1_231_200]), "steps") == "2 seeds, the same to the digits shown"


def test_agreement_names_the_direction_and_the_tolerance():
    reported = chapter_numbers()["state_success_2m"]
    reported = reported.reported or reported
    close = _agreement(reported.value + AGREEMENT_TOLERANCE / 2, reported)
    assert close.startswith("within") and "agree" in close and "single runs" in close
    assert "a mean of 3 seeds" in _agreement(reported.value, reported, n_seeds=3)
    far = _agreement(reported.value - 3 * AGREEMENT_TOLERANCE, reported)
    assert far.startswith(f"{round(300 * AGREEMENT_TOLERANCE)} percentage points below")


def test_every_measured_state_run_in_data_is_stated():
    runs = measured_runs("state")
    assert len(runs) >= 1, "data/runs holds the state agent trained here (state_s0)"
    facts = state_agent_facts()
    assert facts["own_state_seeds"].startswith(str(len(runs)))
    for run_id in runs["run_id"]:
        assert f"data/runs/{run_id}" in facts["own_state_runs"]
    numbers = chapter_numbers()
    assert not any(key.startswith("reported_") for key in facts)  # glue_chapter_numbers glues those
    # the chapter's state numbers and this page's table are one computation, not two
    assert numbers["state_success_2m"].value == pytest.approx(runs["success_2m"].mean())
    assert numbers["state_success_2m"].provenance == "measured"
    # one onset on every page: the chapter's state onset is the mean of the seeds' onsets that Step 0's table spreads
    assert numbers["state_onset_step"].value == pytest.approx(runs["onset_step"].mean())
    assert numbers["state_onset_step"].n == runs["onset_step"].notna().sum()
    assert facts["own_state_eval_2m"].endswith("(measured) over 100 episodes")


def test_without_a_measured_run_nothing_is_stated(tmp_path):
    data = copy_data(tmp_path)  # reported figures only, no project runs
    assert measured_runs("state", data).empty
    assert state_agent_facts(data, registry=tmp_path / "none.json") == {}
    assert chapter_numbers(data)["state_success_2m"].provenance == "reported"


def test_the_peak_before_1m_names_the_highest_measured_reading():
    facts = state_agent_facts()
    runs = measured_runs("state")
    curve = project_curve("state", None, "success_rate")
    curve = curve[curve["run_id"].isin(runs["run_id"]) & (curve["step"] <= 1_000_000)]
    peak = curve.loc[curve["value"].idxmax()]
    assert facts["own_state_peak_before_1m"].startswith(f"{100 * peak['value']:.0f}%")
    assert f", seed {int(peak['seed'])} at " in facts["own_state_peak_before_1m"]
    assert facts["own_state_peak_before_1m__source"] == f"data/runs/{peak['run_id']} at step {int(peak['step']):,}"


def test_step0_sentences_on_where_the_runs_come_from():
    """Step 0: "The author's state figure comes from a single run" and ours trained "on two CPU cores"."""
    import json

    from pixelpush_lib.core.paths import DATA_DIR
    from pixelpush_lib.results.loaders import load_points

    reported = chapter_numbers()["state_success_2m"].reported
    source_file, line = reported.source.split("@")[0].rsplit(":", 1)
    points = load_points()
    rows = points[(points["source_file"] == source_file) & (points["source_line"] == int(line))
                  & (points["metric"] == "success_rate")]
    assert len(rows) and rows["run_id"].nunique() == 1 and rows["seed"].notna().all(), rows
    for run_id in measured_runs("state")["run_id"]:
        manifest = json.loads((DATA_DIR / "runs" / run_id / "manifest.json").read_text())
        assert manifest["provenance"]["machine"]["cpus"] == 2
