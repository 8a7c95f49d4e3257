import csv
from pathlib import Path

import pytest

from pixelpush_lib.configs import ACHIEVED_GOAL_CAVEAT, CONFIGS, NATURE_INPUTS_CAVEAT, get_config

REFERENCE = Path(__file__).resolve().parents[2] / "shared" / "reference" / "runs.csv"


def test_the_arc_steps_exist_with_pixels_only_twins():
    for name in ("state", "step0", "step1", "step2", "step4"):
        assert get_config(name).name == name
    for name in ("step0", "step1", "step2", "step4"):
        twin = get_config(f"{name}_pixels_only")
        assert twin.policy_sees_achieved_goal is False
        assert get_config(name).policy_sees_achieved_goal is True  # the author's runs did feed it
        caveat = NATURE_INPUTS_CAVEAT if name == "step0" else ACHIEVED_GOAL_CAVEAT  # step0's inputs: not recorded
        assert caveat in get_config(name).reference_differences
        assert caveat not in twin.reference_differences


def test_each_step_is_the_arcs_description():
    assert get_config("step0").encoder == "nature"
    step1, step2, step4 = get_config("step1"), get_config("step2"), get_config("step4")
    assert (step1.encoder, step1.spatial_softmax, step1.routing, step1.drq) == ("manipulation", True, "sb3_shared", False)
    assert (step2.routing, step2.drq) == ("critic_encoder", False)
    # Step 4 is Step 2 plus DrQ and nothing else.
    differing = {k for k, v in step4.to_dict().items() if v != step2.to_dict()[k]}
    assert differing == {"name", "arc_step", "description", "drq", "reference_run", "reference_differences"}


def test_hyperparameters_match_the_reported_runs():
    step2 = get_config("step2")
    assert (step2.buffer_size, step2.her_n_sampled_goal, step2.learning_rate) == (500_000, 8, 1e-4)
    assert (step2.gamma, step2.ent_coef, step2.batch_size, step2.n_envs, step2.frame_stack) == (0.95, 0.05, 256, 4, 4)
    assert any("200K" in d and "k=4" in d for d in get_config("step4").reference_differences)
    assert any("DrQ ON" in d and "separate" in d for d in get_config("step1").reference_differences)


@pytest.mark.skipif(not REFERENCE.exists(), reason="../shared/reference is not beside this checkout")
def test_reference_runs_exist_in_the_authors_run_list():
    with open(REFERENCE, newline="") as handle:
        run_ids = {row["run_id"] for row in csv.DictReader(handle)}
    for config in CONFIGS.values():
        assert config.reference_run in run_ids, config.name


def test_unknown_name_lists_the_valid_ones():
    with pytest.raises(ValueError, match="valid configs: state, step0"):
        get_config("step3")


def test_overrides_are_typed_and_checked():
    config = get_config("step2", {"batch_size": "8", "drq": "true", "ent_coef": "auto", "learning_rate": "3e-4"})
    assert (config.batch_size, config.drq, config.ent_coef, config.learning_rate) == (8, True, "auto", 3e-4)
    assert get_config("step2").batch_size == 256  # the registry itself is untouched
    with pytest.raises(ValueError, match="unknown config field.*bach_size"):
        get_config("step2", {"bach_size": 8})
    with pytest.raises(ValueError, match="batch_size"):
        get_config("step2", {"batch_size": "eight"})
    with pytest.raises(ValueError, match="routing"):
        get_config("step2", {"routing": "both"})
    with pytest.raises(ValueError, match="batch_size"):
        get_config("step2", {"batch_size": 0})


def test_identity_fields_cannot_be_overridden_and_combinations_are_checked():
    with pytest.raises(ValueError, match="cannot be overridden"):
        get_config("step2", {"reference_run": "cellD_drq_ss_criticenc_seed0"})
    with pytest.raises(ValueError, match="state_mlp"):
        get_config("step2", {"encoder": "state_mlp"})
    with pytest.raises(ValueError, match="batch_size"):
        get_config("step2", {"batch_size": True})
