"""`pixelpush collect RUN_DIR --run-id ID`: one of this project's own training runs enters data/ as *measured*,
with its commands, commit, machine, wall and CPU time; an unfinished run or a clash is refused and data/ is unchanged."""

from __future__ import annotations

import json
import shutil

import pandas as pd
import pytest

from datadir_helpers import copy_data, snapshot
from pixelpush_lib.cli import main
from pixelpush_lib.core.configs import get_config
from pixelpush_lib.results.loaders import load_points, project_curve
from pixelpush_lib.results.schema import DataError
from pixelpush_lib.sweeps.collect import _cpu_time_s, _wall_time_s, collect_run
from pixelpush_lib.training.provenance import process_tree_cpu_s
from pixelpush_lib.training.runs import plan_new_run, plan_resume, train

TINY = {"n_envs": 2, "learning_starts": 100, "batch_size": 8, "buffer_size": 1000}


#: The process's CPU seconds (process_tree_cpu_s) around each of state_run's two segments, in this process.
SEGMENT_SPANS: list[float] = []


@pytest.fixture(scope="module")
def state_run(tmp_path_factory):
    """A real state run, trained in two segments (killed between them, as a long run is), both in this process, as
    a notebook kernel runs them."""
    run = tmp_path_factory.mktemp("runs") / "state_s4"
    before = process_tree_cpu_s()
    train(plan_new_run(get_config("state", TINY), run, seed=4, total_steps=200), device="cpu", progress_bar=False,
          checkpoint_every=100)
    between = process_tree_cpu_s()
    train(plan_resume(run, total_steps=400), device="cpu", progress_bar=False, checkpoint_every=100)
    SEGMENT_SPANS[:] = [between - before, process_tree_cpu_s() - between]
    return run


def test_a_finished_run_is_collected_as_measured(state_run, tmp_path):
    data = copy_data(tmp_path)
    out = collect_run(state_run, "state_tiny_s4", data_dir=data)
    manifest = json.loads((out / "manifest.json").read_text())
    prov = manifest["provenance"]
    assert (manifest["config"], manifest["seed"], prov["kind"]) == ("state", 4, "measured")
    assert prov["segments"] == 2 and prov["total_steps"] == 400
    assert prov["wall_time_s"] == _wall_time_s(state_run / "progress.csv")  # whole seconds: 0 for a tiny run
    segments = json.loads((state_run / "run.json").read_text())["segments"]
    assert [s["cpu_s_to_step"] for s in segments] == [200, 400]  # each recorded at its last checkpoint
    assert prov["cpu_time_s"] == pytest.approx(sum(s["cpu_s"] for s in segments)) and prov["cpu_time_s"] > 0
    # each segment counts from its own start: not this process's earlier work, nor the segment before it
    assert all(0 < s["cpu_s"] <= span + 0.1 for s, span in zip(segments, SEGMENT_SPANS))
    assert prov["command"].count(" ; ") == 1 and prov["overrides"] == TINY  # one command per segment
    assert prov["machine"]["cpus"] >= 1 and len(prov["commit"]) >= 7
    log = pd.read_csv(state_run / "progress.csv").dropna(subset=["rollout/success_rate"])
    curve = project_curve("state", 4, "success_rate", data)
    assert list(curve["step"]) == list(log["time/total_timesteps"])
    points = load_points(data)
    assert set(points[points["run_id"] == "state_tiny_s4"]["provenance"]) == {"measured"}


def test_cpu_time_counts_the_segments_that_advanced_the_run_and_is_unknown_when_one_did_not_record_it_to_its_end():
    first = {"from_step": 0, "cpu_s": 100.0, "cpu_s_to_step": 5000}
    killed_early = {"from_step": 5000}  # killed before its first checkpoint: nothing recorded, nothing kept
    last = {"from_step": 5000, "cpu_s": 40.5, "cpu_s_to_step": 9000}
    assert _cpu_time_s([first, killed_early, last], step=9000) == 140.5
    assert _cpu_time_s([first, {"from_step": 5000}], step=5000) == 100.0  # the last has kept no checkpoint yet
    assert _cpu_time_s([{"from_step": 0}, last], step=9000) is None  # trained before runs recorded their CPU
    # killed after writing its checkpoint at 5000, before recording its cost there: only 4000's is known
    assert _cpu_time_s([{**first, "cpu_s_to_step": 4000}, last], step=9000) is None


def test_module_runs_are_recorded_as_the_pixelpush_command():
    from pixelpush_lib.sweeps.collect import _readable

    assert _readable("/w/pixelpush_lib/cli.py train --config state --seed 0") == "pixelpush train --config state --seed 0"
    assert _readable("python other.py --x") == "python other.py --x"


def test_the_command_line_collects_one_run(state_run, tmp_path, capsys):
    data = copy_data(tmp_path)
    assert main(["collect", str(state_run), "--run-id", "state_cli_s4", "--into", str(data)]) == 0
    assert (data / "runs" / "state_cli_s4" / "curve.csv").exists()
    assert main(["collect", str(state_run), "--into", str(data)]) == 2
    assert "pass --run-id" in capsys.readouterr().err


def test_an_unfinished_run_or_a_reported_run_id_is_refused(state_run, tmp_path):
    data = copy_data(tmp_path)
    before = snapshot(data)
    manifest_path = state_run / "run.json"
    manifest = json.loads(manifest_path.read_text())
    manifest_path.write_text(json.dumps({**manifest, "total_steps": 10_000}))
    try:
        with pytest.raises(DataError, match=r"at step 400 of 10,000.*pixelpush train --resume"):
            collect_run(state_run, "state_unfinished", data_dir=data)
    finally:
        manifest_path.write_text(json.dumps(manifest))
    with pytest.raises(DataError, match="one of the author's reported runs"):
        collect_run(state_run, "state_ch09_run0_fullstate_seed0", data_dir=data)
    assert snapshot(data) == before


def test_wall_time_sums_the_segments_sb3_timed(tmp_path):
    # time/time_elapsed restarts at a resume: 1,758 s up to the checkpoint the resume kept, then 5,190 s.
    log = tmp_path / "progress.csv"
    pd.DataFrame({"time/total_timesteps": [100, 200, 300, 400, 500],
                  "time/time_elapsed": [900, 1758, 1, 2000, 5190]}).to_csv(log, index=False)
    assert _wall_time_s(log) == 1758 + 5190
    assert _wall_time_s(log, up_to_step=400) == 1758 + 2000  # an unfinished import counts only what it keeps
    pd.DataFrame({"time/total_timesteps": [100], "time/episodes": [2]}).to_csv(log, index=False)
    with pytest.raises(ValueError, match="progress.csv.*time/time_elapsed"):
        _wall_time_s(log)


def test_a_run_still_training_is_collected_up_to_its_last_checkpoint_only_when_asked(state_run, tmp_path, capsys):
    """--unfinished: the readings a resume keeps (up to the last checkpoint), marked in progress with the budget."""
    data = copy_data(tmp_path)
    manifest_path = state_run / "run.json"
    manifest = json.loads(manifest_path.read_text())
    manifest_path.write_text(json.dumps({**manifest, "total_steps": 10_000}))
    try:
        assert main(["collect", str(state_run), "--run-id", "state_tiny_s4", "--into", str(data)]) == 2
        assert "--unfinished" in capsys.readouterr().err and not (data / "runs").exists()
        assert main(["collect", str(state_run), "--run-id", "state_tiny_s4", "--into", str(data), "--unfinished"]) == 0
    finally:
        manifest_path.write_text(json.dumps(manifest))
    prov = json.loads((data / "runs" / "state_tiny_s4" / "manifest.json").read_text())["provenance"]
    assert (prov["total_steps"], prov["planned_steps"], prov["in_progress"]) == (400, 10_000, True)
    curve = project_curve("state", 4, "success_rate", data)
    assert curve["step"].max() <= 400
    from pixelpush_lib.results.own_runs import measured_runs

    row = measured_runs("state", data).iloc[0]
    assert (row["steps"], row["planned_steps"], row["in_progress"]) == (curve["step"].max(), 10_000, True)
    # Once finished it is collected again over the unfinished import, which only --force replaces.
    with pytest.raises(DataError, match="already exists"):
        collect_run(state_run, "state_tiny_s4", data_dir=data)
    collect_run(state_run, "state_tiny_s4", data_dir=data, force=True)
    prov = json.loads((data / "runs" / "state_tiny_s4" / "manifest.json").read_text())["provenance"]
    assert (prov["planned_steps"], prov["in_progress"]) == (400, False)


def test_rows_logged_after_the_last_checkpoint_are_left_out(state_run, tmp_path):
    """A resume throws away what was logged after its checkpoint, so the import does too."""
    run = tmp_path / "state_s4"
    shutil.copytree(state_run, run)
    log = pd.read_csv(run / "progress.csv")
    extra = log.iloc[[-1]].copy()
    extra["time/total_timesteps"] = 450
    pd.concat([log, extra]).to_csv(run / "progress.csv", index=False)
    data = copy_data(tmp_path)
    collect_run(run, "state_tiny_s4", data_dir=data)
    assert project_curve("state", 4, "success_rate", data)["step"].max() == 400


def test_unfinished_needs_a_checkpoint_and_a_single_run(tmp_path, capsys):
    from pixelpush_lib.training.run_dir import RunDir

    data = copy_data(tmp_path)
    run = tmp_path / "state_s5"
    train(plan_new_run(get_config("state", TINY), run, seed=5, total_steps=100), device="cpu", progress_bar=False,
          checkpoint_every=1000)
    for folder in run.glob("checkpoints/step_*"):  # as if killed before its first checkpoint
        shutil.rmtree(folder)
    (run / "checkpoints" / "latest.json").unlink(missing_ok=True)
    assert RunDir(run).checkpoint_step() is None
    with pytest.raises(DataError, match="at step 0 of 100.*no checkpoint yet"):
        collect_run(run, "state_s5", data_dir=data, unfinished=True)
    assert main(["collect", str(tmp_path), "--into", str(data), "--unfinished"]) == 2
    assert not (data / "runs").exists()


def test_what_the_policy_saw_follows_the_run_s_overrides():
    from pixelpush_lib.sweeps.collect import inputs_of

    assert inputs_of("eyes_first") == "pixels+proprio+desired_goal"
    assert inputs_of("eyes_first", {"policy_sees_achieved_goal": True}) == "pixels+proprio+desired_goal+achieved_goal"
    assert inputs_of("state") == "state+desired_goal+achieved_goal"
    assert inputs_of("state_noisy_puck") == "state+desired_goal"  # a noisy puck in the state, the truth kept from it
