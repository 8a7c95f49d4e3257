"""Training runs at tiny scale: every config, checkpoints, kill -9 and resume, bad input, the CPU a run records."""

import csv
import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import once_per_session
from policy_checks import assert_blind_to_the_puck_position
from pixelpush_lib.core.configs import config_names, get_config
from pixelpush_lib.sweeps.spec import format_override
from pixelpush_lib.training import RunError, build_model, plan_new_run, plan_resume, train

TINY = {"n_envs": 2, "learning_starts": 100, "batch_size": 8, "buffer_size": 1000}
# Runs whose sizes do not matter to what they prove (resume, checkpoints, refusals): 48x48 frames, two stacked, small
# nets; about a quarter of the full-size run's time, most of which goes to convolutions.
SMALL = {**TINY, "image_size": 48, "frame_stack": 2, "cnn_channels": 8, "cnn_dim": 32, "net_arch": [32, 32]}
# SMALL in this process: "auto" would start a renderer process per env, seconds of imports each.
SMALL_HERE = {**SMALL, "vec_env": "dummy"}
# Every config at its full frame and network sizes, as few gradient steps as still log the train/ keys: SB3 writes a
# row every 4 episodes (200 steps of 2 envs), and the two updates after step 196 put the losses in it (from step 150
# on, 25 updates took 40% more of each config's time, and proved nothing more).
EVERY_CONFIG = {**TINY, "learning_starts": 196, "batch_size": 4, "vec_env": "dummy"}
CLI = [sys.executable, "-m", "pixelpush_lib.cli"]


def _steps(run_dir: Path) -> list[int]:
    with open(run_dir / "progress.csv", newline="") as handle:
        return [int(float(row["time/total_timesteps"])) for row in csv.DictReader(handle)]


def _snapshot(path: Path) -> dict[str, str]:
    return {
        str(p.relative_to(path)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(path.rglob("*"))
        if p.is_file()
    }


@pytest.mark.slow
@pytest.mark.parametrize("name", config_names())
def test_every_config_trains_200_steps_on_cpu(name, tmp_path):
    # In this process: starting a renderer process per env (vec_env "auto" on two cores) doubled the pixel configs'
    # time. The papermill train-mode notebooks train through "auto".
    plan = plan_new_run(get_config(name, EVERY_CONFIG), tmp_path / name, seed=0, total_steps=200)
    model = train(plan, device="cpu", progress_bar=False)
    assert model.num_timesteps == 200
    assert model.logger.name_to_value["train/n_updates"] > 0 or model._n_updates > 0
    with open(tmp_path / name / "progress.csv", newline="") as handle:
        header = next(csv.reader(handle))
    for key in ("rollout/success_rate", "rollout/ep_rew_mean", "time/fps", "train/critic_loss", "train/actor_loss"):
        assert key in header, key
    manifest = json.loads((tmp_path / name / "run.json").read_text())
    assert manifest["config_name"] == name and manifest["seed"] == 0
    assert manifest["policy_sees_achieved_goal"] == get_config(name).policy_sees_achieved_goal
    if not get_config(name).policy_sees_achieved_goal:  # a config that says so never hands the policy the puck
        assert_blind_to_the_puck_position(model)
    assert {"versions", "git_commit", "host"} <= set(manifest)
    assert any((tmp_path / name / "tb").iterdir())


def test_learning_starts_must_cover_one_episode_per_env():
    with pytest.raises(ValueError, match="learning_starts"):
        build_model(get_config("step2", {"learning_starts": 10, "n_envs": 1}))


def _cli_train(*args, **kwargs):
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    return subprocess.run([*CLI, "train", *args], capture_output=True, text=True, env=env, timeout=600, **kwargs)


TINY_SET = [f"--set={k}={format_override(v)}" for k, v in TINY.items()]


# The kill -9 test's runs are SMALL and step their envs in their own process, so that its two runs take seconds: what
# it proves (the resume restarts at the last complete checkpoint, restores the buffer, and logs exactly the rows of an
# uninterrupted run) depends on neither. The papermill train-mode tests train through vec_env "auto".
SMALL_SET = [f"--set={k}={format_override(v)}" for k, v in SMALL_HERE.items()]
# 600 steps of 2 envs: SB3 logs a row every 4 episodes (200 steps), the run checkpoints at 300. The victim is killed
# once its row at 400 is logged, so the resume must drop that row (past the checkpoint) and log it again.
KILL_TOTAL, CHECKPOINT_EVERY, KILL_AT_ROW, ROW_EVERY = 600, 300, 400, 200


def _logged_steps_so_far(run_dir: Path) -> list[int]:
    """The steps of the rows written so far (a row being written may be cut short: it is left out)."""
    try:
        return _steps(run_dir)
    except (FileNotFoundError, KeyError, ValueError, TypeError):
        return []


@pytest.mark.slow
def test_kill_dash_nine_then_resume_continues_log_steps_and_buffer(tmp_path):
    victim = tmp_path / "victim"
    common = ["--config", "step2", "--no-progress-bar", "--checkpoint-every", str(CHECKPOINT_EVERY), *SMALL_SET,
              "--total-steps", str(KILL_TOTAL)]
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    proc = subprocess.Popen(
        [*CLI, "train", *common, "--run-dir", str(victim)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env,
    )
    deadline = time.time() + 300
    while time.time() < deadline and proc.poll() is None:
        if any(step >= KILL_AT_ROW for step in _logged_steps_so_far(victim)):
            break
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    logged_at_kill = _steps(victim)
    checkpoint_step = json.loads((victim / "checkpoints" / "latest.json").read_text())["num_timesteps"]
    assert checkpoint_step == CHECKPOINT_EVERY and max(logged_at_kill) > checkpoint_step, \
        f"killed too late: checkpoint {checkpoint_step}, rows {logged_at_kill}"

    resumed = _cli_train("--resume", str(victim), "--total-steps", str(KILL_TOTAL), "--no-progress-bar")
    assert resumed.returncode == 0, resumed.stderr
    manifest = json.loads((victim / "run.json").read_text())
    first, second = manifest["segments"]
    assert first["cpu_s_to_step"] == checkpoint_step and first["cpu_s"] > 0  # its cost to the step a resume kept
    assert second["from_step"] == checkpoint_step
    assert second["resumed_from"].startswith("checkpoints/step_")
    checkpoint = json.loads((victim / second["resumed_from"] / "checkpoint.json").read_text())
    assert second["replay_buffer_transitions_at_start"] == checkpoint["replay_buffer_transitions"] == checkpoint_step
    steps = _steps(victim)
    assert steps == sorted(set(steps)), "no duplicated or out-of-order rows"
    # exactly the rows of an uninterrupted run: one per 4 episodes (test_resume_extends_a_finished_run logs them so)
    assert steps == list(range(ROW_EVERY, KILL_TOTAL + 1, ROW_EVERY))


def test_a_run_s_cpu_time_counts_its_child_processes_live_and_ended():
    import psutil

    from pixelpush_lib.training.provenance import process_tree_cpu_s

    def own_cpu_s() -> float:
        times = psutil.Process().cpu_times()
        return times.user + times.system

    busy = "import time\nend = time.process_time() + 1.0\nwhile time.process_time() < end: pass\ntime.sleep(60)"
    tree, own = process_tree_cpu_s(), own_cpu_s()
    child = subprocess.Popen([sys.executable, "-c", busy])  # as an env subprocess is: CPU in another process
    try:
        deadline = time.time() + 30
        while sum(psutil.Process(child.pid).cpu_times()[:2]) < 1.0 and time.time() < deadline:
            time.sleep(0.05)
        assert process_tree_cpu_s() - tree - (own_cpu_s() - own) >= 0.8  # live: read from the child itself
    finally:
        child.kill()
        child.wait()
    assert process_tree_cpu_s() - tree - (own_cpu_s() - own) >= 0.8  # ended and waited for: the OS counts it for us


@pytest.mark.slow
def test_resume_extends_a_finished_run(tmp_path):
    run = tmp_path / "run"
    train(plan_new_run(get_config("step2", SMALL_HERE), run, seed=0, total_steps=200), device="cpu", progress_bar=False)
    model = train(plan_resume(run, total_steps=400), device="cpu", progress_bar=False)
    assert model.num_timesteps == 400
    assert _steps(run) == [200, 400]
    assert len(json.loads((run / "run.json").read_text())["segments"]) == 2


@pytest.mark.slow
def test_a_resume_keeps_the_checkpoint_interval_its_run_was_started_with(tmp_path, monkeypatch):
    """``--resume`` without ``--checkpoint-every`` checkpoints as often as the run did (the default for a new run of
    this budget, a tenth of it, would be every 60 steps here), and each segment records the renderer's settings."""
    monkeypatch.setenv("LP_NUM_THREADS", "1")
    run = tmp_path / "run"
    small_state = {**TINY, "net_arch": [32, 32]}
    train(plan_new_run(get_config("state", small_state), run, seed=0, total_steps=200), device="cpu",
          progress_bar=False, checkpoint_every=200)
    train(plan_resume(run, total_steps=600), device="cpu", progress_bar=False)
    saved = sorted({int(d.name.split("_")[1]) for d in (run / "checkpoints").glob("step_*")})
    assert saved == [200, 400, 600]
    segments = json.loads((run / "run.json").read_text())["segments"]
    assert [s["checkpoint_every"] for s in segments] == [200, 200]
    assert segments[-1]["render_env"]["LP_NUM_THREADS"] == "1"


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory):
    def build(runs):
        train(plan_new_run(get_config("step1", SMALL_HERE), runs / "done", seed=0, total_steps=200), device="cpu",
              progress_bar=False)
        return runs / "done"

    return once_per_session(tmp_path_factory, "finished-run", build)


@pytest.mark.parametrize(
    "args, message",
    [
        (["--config", "step3", "--run-dir", "{new}"], "invalid choice: 'step3'"),
        (["--config", "step2", "--run-dir", "{new}", "--total-steps", "0"], "total_steps=0"),
        (["--config", "step2", "--run-dir", "{new}", "--set", "bach_size=8"], "unknown config field"),
        (["--config", "step2", "--run-dir", "{new}", "--set", "batch_size"], "key=value"),
        (["--config", "step2", "--run-dir", "{done}"], "already holds a run"),
        (["--resume", "{done}", "--total-steps", "100"], "must exceed the checkpoint's step 200"),
        (["--resume", "{done}", "--config", "step2"], "trained with config 'step1'"),
        (["--resume", "{empty}"], "not a pixelpush run directory"),
    ],
)
def test_bad_input_is_refused_and_nothing_is_written(args, message, finished_run, tmp_path, capsys):
    from pixelpush_lib.cli import main

    empty = tmp_path / "empty"
    empty.mkdir()
    new = tmp_path / "new"
    before = _snapshot(finished_run)
    filled = [a.format(new=new, done=finished_run, empty=empty) for a in args]
    # In this process (`pixelpush train` is `sys.exit(main())`): a subprocess would spend 5 s importing torch to say no.
    try:
        code = main(["train", *filled, "--no-progress-bar"])
    except SystemExit as refused:  # argparse's own refusals
        code = refused.code
    assert code == 2
    assert message in capsys.readouterr().err
    assert _snapshot(finished_run) == before
    assert not new.exists() and not any(empty.iterdir())


def test_resume_without_checkpoint_is_refused(finished_run, tmp_path):
    copy = tmp_path / "nockpt"
    copy.mkdir()
    (copy / "run.json").write_text((finished_run / "run.json").read_text())
    with pytest.raises(RunError, match="no complete checkpoint"):
        plan_resume(copy, total_steps=1000)


def test_resume_compares_effective_configs_not_raw_overrides(finished_run):
    """'8' from the command line equals 8 from a notebook; {} is not the run's tiny overrides."""
    as_strings = {key: format_override(value) for key, value in SMALL_HERE.items()}
    assert plan_resume(finished_run, 400, get_config("step1", as_strings)).start_step == 200
    with pytest.raises(RunError, match="trained with overrides"):
        plan_resume(finished_run, 400, get_config("step1"))
    assert plan_resume(finished_run, 400, None).start_step == 200  # CLI --resume without --config or --set


def test_a_run_records_the_name_and_overrides_that_rebuild_its_config(finished_run):
    """The manifest's name and overrides give back the very config the run trained with, and a resume plans it."""
    manifest = json.loads((finished_run / "run.json").read_text())
    assert manifest["overrides"] == SMALL_HERE
    assert plan_resume(finished_run, 400).config == get_config("step1", SMALL_HERE)


def test_cli_resume_fills_in_the_runs_own_name_or_overrides(finished_run):
    """``--resume`` with ``--config`` alone keeps the run's overrides; with ``--set`` alone, its config's name."""
    from pixelpush_lib.training.runs import _asked_config

    assert _asked_config(finished_run, None, {}) is None
    assert _asked_config(finished_run, "step1", {}) == get_config("step1", SMALL_HERE)
    assert _asked_config(finished_run, None, {"batch_size": "8"}) == get_config("step1", {"batch_size": 8})


def test_notebook_train_mode_never_continues_another_experiment(finished_run):
    from pixelpush_lib.chapter.notebook import check_parameters, train_or_resume

    params = check_parameters("train", "step1", 0, 200, finished_run, overrides={})
    with pytest.raises(RunError, match="trained with overrides"):
        train_or_resume(params)  # finished at 200 steps, but with other overrides: refused, not "done"


def test_notebook_train_mode_leaves_a_finished_run_of_its_config_as_it_is(finished_run):
    from pixelpush_lib.chapter.notebook import check_parameters, train_or_resume

    before = _snapshot(finished_run)
    params = check_parameters("train", "step1", 0, 200, finished_run, overrides=SMALL_HERE)
    assert train_or_resume(params) == finished_run
    assert _snapshot(finished_run) == before


def test_notebook_train_mode_resolves_its_config_once(finished_run, tmp_path, monkeypatch):
    """``check_parameters`` resolves the notebook's config; planning a new run resolves nothing again, and a resume
    only the run's own, to compare the two (training is stubbed out: the planning is what is counted)."""
    import pixelpush_lib.chapter.notebook as notebook
    import pixelpush_lib.training.runs as runs

    resolved = []

    def counting(name, overrides=None):
        resolved.append(name)
        return get_config(name, overrides)

    for module in (notebook, runs):
        monkeypatch.setattr(module, "get_config", counting)
    monkeypatch.setattr(runs, "train", lambda plan, **kwargs: None)  # train_or_resume imports it when it runs
    notebook.train_or_resume(notebook.check_parameters("train", "step1", 0, 400, tmp_path / "new", overrides=TINY))
    assert resolved == ["step1"]
    resolved.clear()
    notebook.train_or_resume(notebook.check_parameters("train", "step1", 0, 400, finished_run, overrides=SMALL_HERE))
    assert resolved == ["step1", "step1"]  # the notebook's, and the run's own (its manifest) to compare with
