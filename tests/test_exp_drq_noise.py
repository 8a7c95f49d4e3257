"""Step 4: DrQ keypoint noise, its geometry, and the quick live measurement."""

import numpy as np
import pytest
import torch as th
import torch.nn.functional as F

from pixelpush_lib.chapter.figures.measurements import noise_figure
from pixelpush_lib.experiments.drq_noise import (
    cell_size_units,
    geometric_displacement_units,
    geometry_facts,
    log_figures,
    measure_drq_noise,
    random_encoder,
    summary_table,
)
from pixelpush_lib.nets.augment import random_shift
from pixelpush_lib.nets.encoders import SpatialSoftmax


def test_one_cell_is_a_tenth_and_four_pixels_is_one_cell():
    assert cell_size_units(21) == pytest.approx(0.1)
    assert geometric_displacement_units(np.array([4, -8])) == pytest.approx([-0.1, 0.2])
    assert geometry_facts()["largest obs/next_obs difference, per axis (units)"] == pytest.approx(0.2)


def test_shifted_one_hot_map_moves_by_shift_over_four_cells():
    image = th.zeros(300, 1, 84, 84)
    image[:, :, 40:44, 40:44] = 1.0  # exactly feature cell (10, 10) after pooling by 4
    shifted, offsets = random_shift(image, pad=4, generator=th.Generator().manual_seed(0), return_shifts=True)
    aligned = (offsets % 4 == 0).all(dim=1)  # shifts of 0 or +/-4 px keep the block on one cell
    assert aligned.sum() > 10
    feature_map = F.avg_pool2d(shifted[aligned], 4) * 100  # 84 -> 21 cells, one-hot
    keypoints = SpatialSoftmax().keypoints(feature_map)[:, 0]  # (M, 2)
    centre = SpatialSoftmax().keypoints(F.avg_pool2d(image[:1], 4) * 100)[0, 0]
    expected = geometric_displacement_units(offsets[aligned].numpy())
    assert (keypoints - centre).numpy() == pytest.approx(expected, abs=1e-4)


def test_quick_measurement_and_untrained_encoder_pitfall():
    from pixelpush_lib.experiments.scenes import render_states

    result = measure_drq_noise(random_encoder(channels=8), render_states(12, seed=3000), "random", pairs=2)
    s = result.samples
    assert len(s) == 2 * s["state"].nunique() and (s["signal"] > 0).all()
    assert (s["geometry"] <= np.hypot(0.2, 0.2) + 1e-9).all()
    # The pitfall: an untrained encoder's keypoints barely follow the image.
    assert abs(np.median(result.tracking_gain)) < 0.2
    assert "measured" in summary_table(result).index.name
    assert "measured" in noise_figure(result).axes[0].get_title()


def test_log_figures_hold_both_contradicting_accounts():
    values = set(log_figures()["value"])
    assert {"0.1", "0.42", "0.4-0.8", "0.57"} <= values


def test_drq_facts_state_the_measurement_and_the_logs_figures():
    """What Step 4 glues, from data/measured/drq_noise and the log's reported figures."""
    from pixelpush_lib.experiments.drq_noise import drq_facts, load_results

    trained = load_results()["trained"]
    facts = drq_facts(trained)
    samples = trained.samples
    assert facts["drq_states"] == str(samples["state"].nunique())
    assert facts["drq_nsr_median"] == f"{100 * samples['nsr_puck_estimate'].median():.0f}%"
    assert facts["drq_nsr_threshold"] == "40%"  # the log's 40-80% range (data/reported/facts.csv)
    assert facts["log_noise_small"] == "0.10" and facts["log_noise_large"] == "0.42"
    assert facts["drq_cell_units"] == "0.1" and facts["drq_pair_units"] == "0.2"
    low, high = (int(x) for x in facts["drq_nsr_iqr"].rstrip("%").split("-"))
    assert low <= int(facts["drq_nsr_median"].rstrip("%")) <= high
