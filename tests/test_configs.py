import csv
import dataclasses

import numpy as np
import pytest
from datadir_helpers import copy_data, snapshot

from pixelpush_lib.core.configs import CONFIGS, get_config
from pixelpush_lib.core.paths import DATA_DIR
from pixelpush_lib.results.config_notes import load_config_notes, reference_differences, unreported_defaults
from pixelpush_lib.results.schema import DataError


def test_the_arc_steps_exist_with_pixels_only_twins():
    for name in ("state", "step0", "step1", "step2", "step4"):
        assert get_config(name).name == name
    for name in ("step0", "step1", "step2", "step4"):
        twin = get_config(f"{name}_pixels_only")
        assert twin.policy_sees_achieved_goal is False
        assert get_config(name).policy_sees_achieved_goal is True  # the author's runs did feed it
        # The reported run fed achieved_goal (step0: which keys reached its policy is not recorded); the twin's
        # notes say that its policy does not see it, and no longer carry the base config's caveat.
        base_notes = reference_differences(name)
        caveat = "not recorded" if name == "step0" else "also saw achieved_goal"
        assert any(caveat in note for note in base_notes)
        twin_notes = reference_differences(twin.name)
        assert any("this config's does not" in note for note in twin_notes)
        assert not any(caveat in note for note in twin_notes)


def test_each_step_is_the_arcs_description():
    assert get_config("step0").encoder == "nature"
    step1, step2, step4 = get_config("step1"), get_config("step2"), get_config("step4")
    assert (step1.encoder, step1.spatial_softmax, step1.routing, step1.drq) == ("manipulation", True, "sb3_shared", False)
    assert (step2.routing, step2.drq) == ("critic_encoder", False)
    # Step 4 is Step 2 plus DrQ and nothing else.
    differing = {k for k, v in step4.to_dict().items() if v != step2.to_dict()[k]}
    assert differing == {"name", "arc_step", "description", "drq", "reference_run"}


def test_hyperparameters_match_the_reported_runs():
    step2 = get_config("step2")
    assert (step2.buffer_size, step2.her_n_sampled_goal, step2.learning_rate) == (500_000, 8, 1e-4)
    assert (step2.gamma, step2.ent_coef, step2.batch_size, step2.n_envs, step2.frame_stack) == (0.95, 0.05, 256, 4, 4)
    assert any("200K" in d and "k=4" in d for d in reference_differences("step4"))
    assert any("DrQ ON" in d and "separate" in d for d in reference_differences("step1"))
    assert any("learning_starts=1000" in d for d in unreported_defaults("state"))


def test_reference_runs_exist_in_the_authors_run_list():
    with open(DATA_DIR / "reported" / "runs.csv", newline="") as handle:
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


def test_each_eyes_config_names_its_eyes_and_only_eyes_configs_name_any():
    assert get_config("eyes_first", {"eyes_seed": "2"}).eyes_seed == 2
    with pytest.raises(ValueError, match="eyes_seed=None is not valid"):
        get_config("eyes_first", {"eyes_seed": "none"})
    with pytest.raises(ValueError, match="eyes_seed=1 is not valid"):
        get_config("state", {"eyes_seed": 1})


def test_the_eyes_configs_name_the_committed_eyes_validation_chose():
    """The seed each eyes config names is the one validation chose for its encoder, and eyes_first's are the very
    eyes its committed run (data/runs/eyes_first_s0) trained with: validation's choice at the run's commits, this
    file, which its run directory recorded by sha256 and a resume checks."""
    from pixelpush_lib.results.measured import load_manifest

    summary = load_manifest("eyes")["summary"]
    eyes_configs = [config for config in CONFIGS.values() if config.obs_mode == "eyes"]
    assert {config.name for config in eyes_configs} == {"eyes_first", "eyes_first_nature", "eyes_first_state_settings"}
    for config in eyes_configs:
        assert config.eyes_seed == summary["best_seed_by_validation"][config.encoder], config.name
    eyes_first = get_config("eyes_first")
    assert summary["weights"]["manipulation"][str(eyes_first.eyes_seed)]["sha256"] == (
        "c11342355dc790d17e58e97ed946c611033e62e301fb09167db921b9f130ef29")


def test_a_config_records_the_overrides_that_rebuild_it():
    config = get_config("step2", {"batch_size": "8", "net_arch": "64,64"})
    assert config.overrides() == {"batch_size": 8, "net_arch": (64, 64)}
    assert get_config("step2", config.overrides()) == config
    with pytest.raises(ValueError, match="no run could be rebuilt"):
        dataclasses.replace(config, name="mine").overrides()


def test_every_config_has_notes_about_its_reported_run():
    notes = load_config_notes()
    assert set(notes["config"]) == set(CONFIGS)
    # The state run differs from its reported run in defaults only; every other config in what it sees or its settings.
    assert set(notes[notes["kind"] == "difference"]["config"]) == set(CONFIGS) - {"state"}
    assert set(notes[notes["kind"] == "unreported_default"]["config"]) >= {"state", "step0"}


@pytest.mark.parametrize("column, value, match", [
    ("config", "step3", r"config_notes.csv, row 2, column 'config': unknown config 'step3'"),
    ("kind", "opinion", r"row 2, column 'kind': unknown kind 'opinion'"),
    ("run_id", "cellA_nodrq_ss_criticenc_seed0", r"row 2, column 'run_id'.*not config state's reported run"),
])
def test_a_bad_config_note_names_file_row_and_column(tmp_path, column, value, match):
    data = copy_data(tmp_path)
    path = data / "reported" / "config_notes.csv"
    with open(path, newline="") as handle:
        rows = list(csv.DictReader(handle))
    rows[0][column] = value
    with open(path, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]), lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    before = snapshot(data)
    with pytest.raises(DataError, match=match):
        load_config_notes(data)
    assert snapshot(data) == before


def test_auto_vec_env_renders_pixels_in_parallel_only_with_the_cores_for_it():
    from pixelpush_lib.training.build import resolve_vec_env

    step2, state = get_config("step2"), get_config("state")
    assert step2.vec_env == "auto" and step2.n_envs == 4
    assert resolve_vec_env(step2, cpus=16) == "subproc" and resolve_vec_env(step2, cpus=2) == "subproc"
    assert resolve_vec_env(step2, cpus=1) == "dummy" and resolve_vec_env(state, cpus=64) == "dummy"
    assert resolve_vec_env(get_config("step2", {"n_envs": 1}), cpus=16) == "dummy"
    assert resolve_vec_env(get_config("step2", {"vec_env": "subproc"}), cpus=1) == "subproc"
    with pytest.raises(ValueError, match="vec_env.*'auto', 'dummy' or 'subproc'"):
        get_config("step2", {"vec_env": "threads"})


@pytest.mark.slow
def test_pixel_envs_in_their_own_processes_step_like_one_process():
    from pixelpush_lib.training.build import make_training_env

    observations = []
    for vec_env in ("subproc", "dummy"):
        env = make_training_env(get_config("step2", {"vec_env": vec_env, "n_envs": 2}), seed=3)
        try:
            assert type(env).__name__ == ("SubprocVecEnv" if vec_env == "subproc" else "DummyVecEnv")
            first = env.reset()
            after, *_ = env.step(np.zeros((2, 4), dtype=np.float32))
            observations.append((first["pixels"], after["pixels"]))
        finally:
            env.close()
    assert all(np.array_equal(a, b) for a, b in zip(*observations))  # same seeds, same frames


def test_step1_with_the_overrides_step2_names_differs_from_step2_in_routing_alone():
    """Step 2's page gives the --set overrides that make step1 differ from step2 in the routing alone."""
    import json
    import re
    from dataclasses import fields

    from pixelpush_lib.core.paths import DATA_DIR

    cells = json.loads((DATA_DIR.parent / "notebooks" / "02_gradient_flow.ipynb").read_text())["cells"]
    text = "".join("".join(c["source"]) for c in cells if c["cell_type"] == "markdown")
    sentence = re.search(r"add `((?:--set \w+=\d+ ?)+)` to\s+make it differ from Step 2 in the routing alone", text)
    assert sentence, "the sentence moved: keep this test pointed at it"
    overrides = {key: int(value) for key, value in re.findall(r"--set (\w+)=(\d+)", sentence.group(1))}
    step1, step2 = get_config("step1", overrides), get_config("step2")
    differ = {f.name for f in fields(step1) if getattr(step1, f.name) != getattr(step2, f.name)}
    assert differ == {"name", "arc_step", "description", "routing", "reference_run"}


def test_frame_stacks_are_what_step0_says():
    """Step 0: "The configs of Steps 1 to 4 stack the last four frames; Step 0's keeps the single frame"."""
    assert get_config("step0").frame_stack == 1
    assert {get_config(name).frame_stack for name in ("step1", "step2", "step4")} == {4}


def test_the_settings_control_is_the_state_agent_with_step2s_settings():
    from pixelpush_lib.core.configs import STEP2_SAC_HER_SETTINGS

    control, state, step2 = get_config("state_step2_settings"), get_config("state"), get_config("step2")
    assert control.obs_mode == "state" and control.encoder == "state_mlp"
    for field in STEP2_SAC_HER_SETTINGS:
        assert getattr(control, field) == getattr(step2, field), field
    # It differs from the state agent in the settings the eyes-first run's page names, and in nothing it sees.
    differing = {k for k, v in control.to_dict().items() if v != state.to_dict()[k]}
    assert differing == {"name", "arc_step", "description", "learning_rate", "buffer_size", "her_n_sampled_goal", "n_envs"}
    assert any("HER k=8" in note for note in reference_differences("state_step2_settings"))


def test_the_runs_the_control_points_to_differ_from_their_baselines_in_what_the_issue_names():
    """Settings cleared: the state agent through noise of the eyes' size, with its own settings and blind to
    achieved_goal. Settings delay: eyes first with the state agent's SAC + HER settings and nothing else changed."""
    from pixelpush_lib.core.configs import STEP2_SAC_HER_SETTINGS

    noisy, state = get_config("state_noisy_puck"), get_config("state")
    differing = {k for k, v in noisy.to_dict().items() if v != state.to_dict()[k]}
    assert differing == {"name", "arc_step", "description", "puck_noise_median_cm", "policy_sees_achieved_goal"}
    assert noisy.puck_noise_median_cm == 2.5 and not noisy.policy_sees_achieved_goal

    delay, eyes_first = get_config("eyes_first_state_settings"), get_config("eyes_first")
    for field in STEP2_SAC_HER_SETTINGS:
        assert getattr(delay, field) == getattr(state, field), field
    differing = {k for k, v in delay.to_dict().items() if v != eyes_first.to_dict()[k]}
    assert differing == {"name", "description", "learning_rate", "buffer_size", "her_n_sampled_goal", "n_envs"}


@pytest.mark.parametrize("config, overrides", [
    ("state_noisy_puck", {"policy_sees_achieved_goal": True}),  # the true position beside the noisy one
    ("state", {"puck_noise_median_cm": 2.5}),  # the state agent reads achieved_goal
    ("eyes_first", {"puck_noise_median_cm": 2.5}),  # only the state env has a position to blur
    ("state_noisy_puck", {"puck_noise_median_cm": -1}),
])
def test_puck_noise_is_refused_wherever_it_would_hide_nothing(config, overrides):
    with pytest.raises(ValueError, match="puck_noise_median_cm=.* is not valid; allowed: 0, or > 0"):
        get_config(config, overrides)
