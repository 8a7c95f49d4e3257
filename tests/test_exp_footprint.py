"""Step 0 footprint: receptive-field arithmetic and the puck's footprint on real frames."""

import numpy as np
import pytest

from pixelpush_lib.chapter.figures.measurements import footprint_figure
from pixelpush_lib.experiments.footprint import layer_geometry, owned_cells, puck_pixels_in_rf


def test_map_sizes_and_receptive_fields_match_the_architectures():
    nature = layer_geometry("NatureCNN")
    manip = layer_geometry("ManipulationCNN")
    assert [g.size for g in nature] == [20, 9, 7]
    assert [g.rf for g in nature] == [8, 20, 36]
    assert [g.jump for g in nature] == [4, 8, 8]
    assert [g.size for g in manip] == [42, 42, 42, 21]
    assert [g.rf for g in manip] == [3, 7, 11, 15]
    assert manip[-1].jump == 4


def test_footprint_of_a_6px_square_follows_the_geometry():
    mask = np.zeros((84, 84), bool)
    mask[40:46, 40:46] = True  # 6x6 px
    g1 = layer_geometry("NatureCNN")[0]  # cell i sees pixels [4i, 4i+7]
    counts = puck_pixels_in_rf(mask, g1)
    assert (counts > 0).sum() == 9  # cells 9..11 on each axis overlap pixels 40..45
    assert counts.max() == 36 and counts[10, 10] == 36  # cell 10 sees [40, 47]: the whole square
    assert owned_cells(mask, g1).sum() == 4  # nearest RF centres: cells 9 and 10 per axis


def test_rf_counts_equal_brute_force_with_padding():
    rng = np.random.default_rng(0)
    mask = rng.random((84, 84)) < 0.05
    for arch in ("NatureCNN", "ManipulationCNN"):
        g = layer_geometry(arch)[-1]
        counts = puck_pixels_in_rf(mask, g)
        for i, j in [(0, 0), (g.size // 2, 3), (g.size - 1, g.size - 1)]:
            (r0, r1), (c0, c1) = g.rf_span(i), g.rf_span(j)
            expected = mask[max(r0, 0):r1 + 1, max(c0, 0):c1 + 1].sum()
            assert counts[i, j] == expected


@pytest.fixture(scope="module")
def footprint(footprint_result):
    return footprint_result  # conftest: measure_footprint(n_states=3), once per session


def test_measured_table_on_real_observations(footprint):
    assert len(footprint.table) == 7
    ps = footprint.per_state
    assert (ps["puck_pixels"] > 0).all()
    # Every layer sees the puck somewhere, and deeper NatureCNN layers dilute it.
    assert (ps["cells_touched"] >= 1).all()
    nature = ps[ps["encoder"] == "NatureCNN"].groupby("layer")["max_puck_share"].median()
    assert nature[1] > nature[2] > nature[3]
    fig = footprint_figure(footprint)
    assert "Measured on a real observation" in fig.get_suptitle() and len(fig.axes) == 6


def test_a_sentence_gets_the_median_over_states_and_the_sources_box_the_range(footprint):
    from pixelpush_lib.experiments.footprint import footprint_facts

    facts = footprint_facts(footprint)
    shares = footprint.per_state.query("encoder == 'NatureCNN' and layer == 1")["max_puck_share"]
    assert facts["nature_l1_share"] == f"{100 * shares.median():.0f}%"
    assert facts["nature_l1_share__range"] == f"{100 * shares.min():.0f}%-{100 * shares.max():.0f}%"
    for key, value in facts.items():
        assert "[" not in value, f"{key}: a range inside a sentence ({value!r}) belongs to the sources box"
    assert {k for k in facts if k.endswith("__range")} >= {"puck_pixels__range", "manip_l4_owned__range"}
