"""Step 1 probe: the protocol's quick variant learns, encoders are set up alike, and the policy-input table."""

import pytest
import torch as th

from pixelpush_lib.chapter.figures.measurements import errors_figure, keypoints_figure
from pixelpush_lib.experiments.probe import QUICK, PuckProbe, policy_inputs_table, run_probe

pytestmark = pytest.mark.slow  # the quick probe trains encoders (module fixture)


def test_both_probes_have_one_linear_head_on_the_policy_encoders():
    nature, manip = PuckProbe("nature"), PuckProbe("manipulation")
    assert isinstance(nature.head, th.nn.Linear) and isinstance(manip.head, th.nn.Linear)
    assert (nature.head.in_features, manip.head.in_features) == (256, 64)
    x = th.rand(2, 3, 84, 84)
    assert nature(x).shape == manip(x).shape == (2, 2)
    with pytest.raises(ValueError, match="encoder"):
        PuckProbe("resnet")


@pytest.fixture(scope="module")
def quick():
    return run_probe(quick=True)


def test_quick_probe_reduces_training_loss(quick):
    for encoder, curve in quick.curves.groupby("encoder"):
        assert curve["train_loss"].iloc[-1] < curve["train_loss"].iloc[0], encoder
    assert set(quick.errors["encoder"]) == {"mean predictor", "nature", "manipulation"}
    assert (quick.errors["median_px"] > 0).all()
    assert quick.protocol == QUICK


def test_probe_figures(quick):
    from pixelpush_lib.experiments.scenes import render_states

    assert "measured" in errors_figure(quick).axes[0].get_title()
    fig = keypoints_figure(quick.model, render_states(1, seed=5))
    assert "measured" in fig.axes[0].get_title()


def test_policy_inputs_table_says_where_the_puck_position_is():
    default = policy_inputs_table()
    assert default.loc["pixels", "shape"] == (12, 84, 84)
    assert default.loc["achieved_goal", "reaches the policy"].startswith("no")
    reported = policy_inputs_table(policy_sees_achieved_goal=True)
    assert reported.loc["achieved_goal", "reaches the policy"] == "yes"
    assert reported.loc["proprio", "carries puck position"].startswith("no")
