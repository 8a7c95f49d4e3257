"""The importer on logs of a real SB3 run (CSV and TensorBoard), its refusals, and the loaders' preference."""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil

import numpy as np
import pandas as pd
import pytest
from datadir_helpers import copy_data, snapshot
from tiny_sb3_run import tiny_run_logs

from pixelpush_lib.results.importer import add_import_command, import_run, write_run
from pixelpush_lib.results.loaders import load_points, project_curve
from pixelpush_lib.results.quoted_numbers import chapter_numbers
from pixelpush_lib.results.schema import DataError


@pytest.fixture()
def data(tmp_path):
    return copy_data(tmp_path)


def _tb_dir(tmp_path):
    log_dir, _ = tiny_run_logs()
    tb = tmp_path / "tb"
    tb.mkdir()
    for f in log_dir.glob("events.out.tfevents*"):
        shutil.copy(f, tb / f.name)
    return tb


def test_import_progress_csv(data):
    log_dir, _ = tiny_run_logs()
    out = import_run(log_dir / "progress.csv", "tiny_state_s0", "state", 0, data_dir=data,
                     inputs="state+desired_goal+achieved_goal")
    manifest = json.loads((out / "manifest.json").read_text())
    prov = manifest["provenance"]
    assert prov["kind"] == "imported" and prov["format"] == "sb3_progress_csv"
    assert prov["sha256"] == hashlib.sha256((log_dir / "progress.csv").read_bytes()).hexdigest()
    sb3 = pd.read_csv(log_dir / "progress.csv").dropna(subset=["train/critic_loss"])
    mine = project_curve("state", 0, "critic_loss", data)
    np.testing.assert_allclose(mine["value"], sb3["train/critic_loss"])
    np.testing.assert_array_equal(mine["step"], sb3["time/total_timesteps"])
    points = load_points(data)
    assert (points[points["run_id"] == "tiny_state_s0"]["provenance"] == "imported").all()


def test_import_tensorboard_dir_matches_csv(data, tmp_path):
    log_dir, _ = tiny_run_logs()
    import_run(_tb_dir(tmp_path), "tiny_tb", "state", 1, data_dir=data)
    tb = project_curve("state", 1, "success_rate", data)
    csv = pd.read_csv(log_dir / "progress.csv").dropna(subset=["rollout/success_rate"])
    assert len(tb) == len(csv) > 0
    np.testing.assert_allclose(tb["value"], csv["rollout/success_rate"], rtol=1e-6)
    np.testing.assert_array_equal(tb["step"], csv["time/total_timesteps"])


def test_refuses_overwrite_without_force(data):
    log_dir, _ = tiny_run_logs()
    import_run(log_dir / "progress.csv", "dup", "step2", 0, data_dir=data)
    before = snapshot(data)
    with pytest.raises(DataError, match="already exists.*--force"):
        import_run(log_dir / "progress.csv", "dup", "step2", 0, data_dir=data)
    assert snapshot(data) == before
    import_run(log_dir / "progress.csv", "dup", "step2", 0, data_dir=data, force=True)
    assert sorted(p.name for p in (data / "runs").iterdir()) == ["dup"]  # no temp folders left behind


def _progress_with(tmp_path, edit) -> object:
    log_dir, _ = tiny_run_logs()
    frame = pd.read_csv(log_dir / "progress.csv")
    frame = edit(frame)
    path = tmp_path / "progress.csv"
    frame.to_csv(path, index=False)
    return path


def _set(frame, column, row, value):
    frame[column] = frame[column].astype(object)
    frame.loc[frame.index[row], column] = value
    return frame


BAD_CSV = {
    "missing step column": (lambda f: f.drop(columns=["time/total_timesteps"]), "missing column.*time/total_timesteps"),
    "percent success": (lambda f: _set(f, "rollout/success_rate", 1, 95.0), r"row 3, column 'rollout/success_rate'.*write 0.95"),
    "NaN": (lambda f: _set(f, "train/critic_loss", 2, "nan"), r"row 4, column 'train/critic_loss'.*NaN"),
    "steps out of order": (lambda f: pd.concat([f, f.iloc[[1]]]), r"does not come after.*resumed run"),
    "header only": (lambda f: f.iloc[:0], "no logged rows"),
}


@pytest.mark.parametrize("case", list(BAD_CSV))
def test_bad_progress_csv(data, tmp_path, case):
    edit, pattern = BAD_CSV[case]
    path = _progress_with(tmp_path, edit)
    before = snapshot(data)
    with pytest.raises(DataError, match=pattern) as info:
        import_run(path, "bad", "step2", 0, data_dir=data)
    assert str(path) in str(info.value) and "Fix:" in str(info.value)
    assert snapshot(data) == before


@pytest.mark.parametrize("content, pattern", [(b"", "file is empty"), (bytes(range(256)) * 8, "binary")])
def test_empty_and_binary_logs(data, tmp_path, content, pattern):
    path = tmp_path / "progress.csv"
    path.write_bytes(content)
    before = snapshot(data)
    with pytest.raises(DataError, match=pattern):
        import_run(path, "bad", "step2", 0, data_dir=data)
    assert snapshot(data) == before


def test_tensorboard_dir_without_scalars(data, tmp_path):
    from torch.utils.tensorboard import SummaryWriter

    tb = tmp_path / "tb_text_only"
    writer = SummaryWriter(str(tb))
    writer.add_text("notes", "no scalars here", 0)
    writer.close()
    empty = tmp_path / "tb_empty"
    empty.mkdir()
    before = snapshot(data)
    with pytest.raises(DataError, match=r"tb_text_only: no SB3 scalars in 1 event file.*Fix:"):
        import_run(tb, "bad", "step2", 0, data_dir=data)
    with pytest.raises(DataError, match="no TensorBoard event files"):
        import_run(empty, "bad", "step2", 0, data_dir=data)
    assert snapshot(data) == before


@pytest.mark.parametrize("kwargs, pattern", [
    ({"config": "step3"}, "unknown config 'step3'"),
    ({"run_id": "cellA_ext_seed0"}, "one of the author's reported runs"),
    ({"run_id": "../escape"}, "not a plain identifier"),
    ({"seed": -1}, "non-negative"),
])
def test_bad_identity(data, kwargs, pattern):
    log_dir, _ = tiny_run_logs()
    args = {"run_id": "ok", "config": "step2", "seed": 0, **kwargs}
    before = snapshot(data)
    with pytest.raises(DataError, match=pattern):
        import_run(log_dir / "progress.csv", data_dir=data, **args)
    assert snapshot(data) == before


def test_cli_registration(data, capsys):
    log_dir, _ = tiny_run_logs()
    parser = argparse.ArgumentParser(prog="pixelpush")
    add_import_command(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["import", str(log_dir / "progress.csv"), "--run-id", "cli_run", "--config", "step2",
                              "--seed", "3", "--data-dir", str(data)])
    assert args.func(args) == 0 and (data / "runs" / "cli_run" / "curve.csv").exists()
    assert args.func(args) == 2 and "already exists" in capsys.readouterr().err


def test_numbers_prefer_project_data_for_the_same_config_and_seed(data):
    reported = chapter_numbers(data)["state_success_2m"]
    assert reported.provenance == "reported"
    steps = np.arange(0, 2_100_001, 100_000)
    curve = pd.DataFrame({"step": steps, "metric": "success_rate", "value": np.linspace(0, 0.5, len(steps))})
    manifest = {"schema_version": 1, "run_id": "measured_state_s0", "arc_step": "state", "config": "state", "seed": 0,
                "inputs": "state+desired_goal+achieved_goal",
                "provenance": {"kind": "measured", "command": "pixelpush train --config state --seed 0",
                               "config": "state", "commit": "abc1234", "machine": "test"}}
    write_run(manifest, curve, data)
    number = chapter_numbers(data)["state_success_2m"]
    expected = curve.loc[curve["step"] == 2_000_000, "value"].item()
    assert number.provenance == "measured" and number.value == pytest.approx(expected)
    assert any(reported.source in alt for alt in number.alternatives)


def test_import_a_pixelpush_train_run_csv_and_tensorboard(data, tmp_path):
    """The logs `pixelpush train` writes (progress.csv and tb/) import with provenance `imported`."""
    from pixelpush_lib.core.configs import get_config
    from pixelpush_lib.training.runs import plan_new_run, train

    # The state config: the logs' format is the same for every config, and it needs no rendering.
    run = tmp_path / "state_run"
    tiny = {"n_envs": 2, "learning_starts": 100, "batch_size": 8, "buffer_size": 1000}
    train(plan_new_run(get_config("state", tiny), run, seed=0, total_steps=400), device="cpu", progress_bar=False)
    from_csv = import_run(run / "progress.csv", "state_tiny_csv", "state", 0, data_dir=data)
    from_tb = import_run(run / "tb", "state_tiny_tb", "state", 0, data_dir=data)
    for out, fmt in ((from_csv, "csv"), (from_tb, "tensorboard")):
        manifest = json.loads((out / "manifest.json").read_text())
        assert manifest["provenance"]["kind"] == "imported"
        curve = pd.read_csv(out / "curve.csv")
        success = curve[curve["metric"] == "success_rate"]
        assert list(success["step"]) == [200, 400], fmt
    csv_curve = pd.read_csv(from_csv / "curve.csv").sort_values(["metric", "step"]).reset_index(drop=True)
    tb_curve = pd.read_csv(from_tb / "curve.csv").sort_values(["metric", "step"]).reset_index(drop=True)
    shared = sorted(set(csv_curve["metric"]) & set(tb_curve["metric"]))
    assert "critic_loss" in shared
    for metric in shared:
        a = csv_curve[csv_curve["metric"] == metric]["value"].to_numpy()
        b = tb_curve[tb_curve["metric"] == metric]["value"].to_numpy()
        np.testing.assert_allclose(a, b, rtol=1e-5)


def test_a_log_without_the_success_metric_is_refused_unless_allowed(data, tmp_path):
    """A real SB3 log whose success column was dropped: importing it silently would draw an empty success curve."""
    log_dir, _ = tiny_run_logs()
    frame = pd.read_csv(log_dir / "progress.csv").drop(columns=["rollout/success_rate"])
    log = tmp_path / "progress.csv"
    frame.to_csv(log, index=False)
    before = snapshot(data)
    with pytest.raises(DataError, match=r"progress.csv.*rollout/success_rate.*--allow-no-success"):
        import_run(log, "no_success", "state", 3, data_dir=data)
    assert snapshot(data) == before
    out = import_run(log, "no_success", "state", 3, data_dir=data, allow_without_success=True)
    assert project_curve("state", 3, "success_rate", data).empty
    assert not project_curve("state", 3, "critic_loss", data).empty
    assert out.name == "no_success"


def test_two_dumps_at_one_step_keep_the_later_reading(data, tmp_path):
    # SB3 with 8 envs and log_interval=4 dumps twice in the step where all 8 episodes end: the episode-4 reading,
    # then the episode-8 one. The importer keeps the episode-8 reading and drops the superseded one.
    def dump_twice(frame):
        first = frame.iloc[[1]].copy()
        first["rollout/success_rate"] = 0.0
        second = frame.iloc[[1]].copy()
        second["rollout/success_rate"] = 0.75
        return pd.concat([frame.iloc[:1], first, second, frame.iloc[2:]], ignore_index=True)

    path = _progress_with(tmp_path, dump_twice)
    import_run(path, "twice", "step2", 0, data_dir=data)
    curve = pd.read_csv(data / "runs" / "twice" / "curve.csv")
    success = curve[curve["metric"] == "success_rate"]
    step = int(pd.read_csv(path)["time/total_timesteps"].iloc[1])
    assert success["step"].is_unique
    assert success.loc[success["step"] == step, "value"].tolist() == [0.75]
