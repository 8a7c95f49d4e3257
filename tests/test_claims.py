"""The chapter's qualitative claims, checked against data/. A failure names the claim the data now contradicts."""

from __future__ import annotations

import pytest

from pixelpush_lib.results.loaders import load_points
from pixelpush_lib.results.quoted_numbers import chapter_numbers

LOW_BAND = 0.15  # "flat", "stays low": the chapter's failure band


@pytest.fixture(scope="module")
def numbers():
    return chapter_numbers()


@pytest.fixture(scope="module")
def success():
    p = load_points()
    return p[(p["metric"] == "success_rate") & (p["commit"].str.startswith("e871ca2"))]


def _top(n):
    return n.value if n.value is not None else n.high


def test_step0_stays_in_a_low_band(numbers, success):
    band = numbers["step0_band"]
    assert band.high <= LOW_BAND, f"CLAIM BROKEN 'Step 0 (NatureCNN) is flat at 5-8%': band is {band.prose()}"
    measured = success[(success["config"] == "step0") & (success["provenance"] != "reported")]
    assert (measured["value"] <= LOW_BAND).all(), "CLAIM BROKEN 'Step 0 stays low': a project run rose above the band"


def test_step1_stays_low_at_2m(numbers):
    n = numbers["step1_success_2m"]
    assert _top(n) <= LOW_BAND, f"CLAIM BROKEN 'Step 1 is still flat at 2M': {n.prose()} ({n.source})"


def test_step4_stays_low(numbers, success):
    final, band = numbers["step4_success_final"], numbers["step4_band"]
    assert _top(final) <= LOW_BAND, f"CLAIM BROKEN 'DrQ + SpatialSoftmax stays flat': final {final.prose()}"
    assert band.high <= LOW_BAND, f"CLAIM BROKEN 'Step 4 never rises': band {band.prose()} ({band.source})"
    pts = success[(success["config"] == "step4") & (success["kind"] == "point")]
    assert (pts["value"] <= LOW_BAND).all(), "CLAIM BROKEN 'Step 4 stays low': a Step 4 reading is above the band"


def test_step2_ends_above_90_percent(numbers):
    final, at4m = numbers["step2_success_final"], numbers["step2_success_4m"]
    assert final.value > 0.9, f"CLAIM BROKEN 'Step 2 converges above 90%': last reading {final.prose()}"
    assert at4m.value > 0.9, f"CLAIM BROKEN 'Step 2 reaches 90%+ by 4M': {at4m.prose()} ({at4m.source})"


def test_step2_is_flat_at_2m_then_hockey_sticks(numbers):
    at2m = numbers["step2_success_2m"]
    assert at2m.value <= LOW_BAND, f"CLAIM BROKEN 'Step 2 is still flat at 2M': {at2m.prose()}"
    assert numbers["step2_success_4m"].value - at2m.value > 0.5, "CLAIM BROKEN 'a hockey stick follows after 2M'"


def test_step2_onset_comes_after_the_state_onset(numbers):
    pixels, state = numbers["step2_onset_step"], numbers["state_onset_step"]
    state_latest = state.high if state.high is not None else state.value
    assert pixels.value > state_latest, (
        f"CLAIM BROKEN 'pixels pay a patience tax: the onset comes later than from state': "
        f"step2 {pixels.prose()} vs state {state.prose()}")


def test_state_baseline_beats_every_pixel_step_at_2m(numbers):
    state = numbers["state_success_2m"].value
    for name in ("step1_success_2m", "step2_success_2m"):
        assert state > _top(numbers[name]) + 0.5, f"CLAIM BROKEN 'state solves Push by 2M, pixels do not' ({name})"


def test_three_phase_table_is_ordered(numbers):
    p1, p2, p3 = (numbers[f"phase{i}_success"] for i in (1, 2, 3))
    assert p1.high <= LOW_BAND < p3.low, "CLAIM BROKEN 'Phase 1 flat, Phase 3 high'"
    assert numbers["phase2_critic"].low > numbers["phase1_critic"].value, "CLAIM BROKEN 'critic loss rises in Phase 2'"
    assert numbers["phase3_critic"].high <= numbers["phase2_critic"].high, "CLAIM BROKEN 'critic loss declines in Phase 3'"
    assert numbers["phase2_actor"].low > numbers["phase1_actor"].value > numbers["phase3_actor"].high, (
        "CLAIM BROKEN 'actor loss ~0, then rises, then turns negative'")
    assert numbers["phase2_start_step"].value == numbers["step2_onset_step"].value, (
        "CLAIM BROKEN 'Phase 2 starts at the hockey-stick onset'")


def test_buffer_memory_math_is_consistent(numbers):
    obs, trans = numbers["pixel_obs_bytes"].value, numbers["pixel_transition_bytes"].value
    assert obs == 4 * 3 * 84 * 84, "CLAIM BROKEN 'one observation is 4 stacked 84x84 RGB frames'"
    assert trans == 2 * obs, "CLAIM BROKEN 'a transition stores obs and next_obs'"
    assert numbers["buffer_1m_pixels_gb"].value == pytest.approx(trans * 1e6 / 1e9, rel=1e-3), (
        "CLAIM BROKEN 'a 1M buffer needs ~169 GB of pixels'")
    assert numbers["sb3_memory_warning_gb"].value > numbers["sb3_memory_available_gb"].value


def test_drq_noise_is_large_against_the_signal(numbers):
    noise, signal = numbers["drq_noise_coord_doubled"].value, numbers["drq_signal_coord"]
    assert noise == pytest.approx(2 * numbers["drq_noise_coord"].value), "CLAIM BROKEN 'independent shifts double it'"
    assert noise / signal.high >= numbers["drq_noise_to_signal"].low - 1e-9, "CLAIM BROKEN 'noise is 40-80% of signal'"


def test_a_contradicting_figure_breaks_its_claim(tmp_path):
    """The claim tests are live: data that contradicts the prose makes them fail with the claim's name."""
    import csv as _csv

    from datadir_helpers import copy_data

    data = copy_data(tmp_path)
    path = data / "reported" / "points.csv"
    rows = list(_csv.DictReader(open(path, newline="")))
    for r in rows:
        if r["config"] == "step4" and r["metric"] == "success_rate" and r["step"] == "1540000" and r["kind"] == "point":
            r["value"] = "0.6"
    with open(path, "w", newline="") as handle:
        writer = _csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    with pytest.raises(AssertionError, match="CLAIM BROKEN 'DrQ \\+ SpatialSoftmax stays flat'"):
        test_step4_stays_low(chapter_numbers(data), load_points(data)[lambda p: p["metric"] == "success_rate"])
