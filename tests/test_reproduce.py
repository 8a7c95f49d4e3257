"""`pixelpush reproduce` / `pixelpush collect`: a tiny 2 steps x 2 seeds sweep is killed, resumed, collected and
drawn as seed bands; submitit's local executor runs the slurm code path; bad input is refused cleanly.

The chapter notebooks are written elsewhere, so these tests generate small notebooks with the same papermill
parameter contract (``pixelpush_lib.chapter.notebook``) in a tmp folder.
"""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import numpy as np
import pandas as pd
import pytest
from datadir_helpers import copy_data, snapshot

from pixelpush_lib.chapter.style import CONFIG_LABELS
from pixelpush_lib.results.importer import import_run
from pixelpush_lib.sweeps import collect, spec
from pixelpush_lib.sweeps import reproduce as rp

# One env, 150 steps of pure collection then 50 gradient updates of small nets on 48x48 frames: seconds per job.
TINY = {"n_envs": 1, "learning_starts": 150, "batch_size": 8, "buffer_size": 1000, "cnn_channels": 8, "cnn_dim": 32,
        "image_size": 48, "frame_stack": 2, "net_arch": "32,32"}
TYPED = {**TINY, "net_arch": [32, 32]}  # as the sweep manifest records them
TINY_SET = [f"--set={k}={v}" for k, v in TINY.items()]
TOTAL = 200  # 4 episodes of 50 steps: SB3 logs one row, checkpoints every 50 steps


def make_notebooks(folder: Path, prelude: str = "") -> Path:
    """A notebook per step with the chapter's parameters cell and a train cell (``prelude`` runs first)."""
    folder.mkdir(parents=True, exist_ok=True)
    params = nbformat.v4.new_code_cell(
        'mode = "load"\nconfig = "step2"\nseed = 0\ntotal_steps = None\nrun_dir = None\noverrides = {}\n'
        'device = "auto"')
    params.metadata["tags"] = ["parameters"]
    train = nbformat.v4.new_code_cell(
        prelude + "import torch\ntorch.set_num_threads(1)\n"
        "from pixelpush_lib.chapter.notebook import check_parameters, train_or_resume\n"
        "p = check_parameters(mode, config, seed, total_steps, run_dir, overrides, device)\n"
        "if p.mode == 'train':\n    train_or_resume(p, progress_bar=False)\n")
    for name in spec.STEP_NOTEBOOKS.values():
        nb = nbformat.v4.new_notebook(cells=[params, train])
        nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
        nbformat.write(nb, folder / name)
    return folder


def segments(run_dir: Path) -> list[dict]:
    return json.loads((run_dir / "run.json").read_text())["segments"]


def logged_steps(run_dir: Path) -> list[int]:
    with open(run_dir / "progress.csv", newline="") as handle:
        return [int(float(r["time/total_timesteps"])) for r in csv.DictReader(handle)]


# --- bad input: nothing runs, nothing is written ------------------------------------------------


@pytest.mark.parametrize("steps, seeds, total, sets, match", [
    (["step7"], [0], 100, {}, "unknown step 'step7'.*choose from"),
    (["step3"], [0], 100, {}, "step3 is interpretation only"),
    (["step2"], [0, 1, 1], 100, {}, "--seeds lists 1 more than once"),
    (["step2", "step2"], [0], 100, {}, "--steps lists step2 more than once"),
    (["step2"], [-1], 100, {}, "seed -1"),
    (["step2"], [0], 0, {}, "--total-steps 0"),
    (["step2"], [0], 100, {"bogus": "1"}, "unknown config field"),
])
def test_bad_sweep_definitions_are_refused(tmp_path, steps, seeds, total, sets, match):
    out = tmp_path / "repro"
    with pytest.raises(spec.SweepError, match=match):
        rp.reproduce(steps, seeds, total, out, overrides=sets, notebooks_dir=make_notebooks(tmp_path / "nb"))
    assert not out.exists()


def test_folder_of_another_sweep_is_refused_with_the_command_to_continue_it(tmp_path, capsys):
    nb = make_notebooks(tmp_path / "nb")
    out = tmp_path / "repro"
    spec.open_sweep(spec.make_spec(["step2"], [0, 1], 300, {"batch_size": "8"}), out, "local")
    before = snapshot(out)
    for kwargs in ({"seeds": [0, 2]}, {"total": 400}, {"sets": {"batch_size": "16"}}, {"steps": ["step0"]}):
        args = {"steps": ["step2"], "seeds": [0, 1], "total": 300, "sets": {"batch_size": "8"}, **kwargs}
        with pytest.raises(spec.SweepError, match="holds another sweep.*pixelpush reproduce --steps step2 --seeds 0 1 "
                                                "--total-steps 300 .*--set batch_size=8.*or choose another --out"):
            rp.reproduce(args["steps"], args["seeds"], args["total"], out, overrides=args["sets"], notebooks_dir=nb)
    assert snapshot(out) == before
    # the same sweep, listed in another order and with "8" spelled as 8, is the same sweep
    spec.check_out_dir(spec.make_spec(["step2"], [1, 0], 300, {"batch_size": 8}), out)
    stranger = tmp_path / "notes"
    stranger.mkdir()
    (stranger / "todo.txt").write_text("x")
    with pytest.raises(spec.SweepError, match="not empty and has no sweep.json"):
        rp.reproduce(["step2"], [0], 300, stranger, notebooks_dir=nb)
    # through the CLI: exit status 2 and the message on stderr
    assert rp.main(["reproduce", "--steps", "step2", "--seeds", "0", "0", "--total-steps", "9", "--out",
                    str(tmp_path / "x")]) == 2
    assert "--seeds lists 0 more than once" in capsys.readouterr().err


def test_missing_notebooks_and_dry_run(tmp_path, capsys):
    with pytest.raises(spec.SweepError, match="notebook\\(s\\) not found: .*02_gradient_flow.ipynb.*--notebooks-dir"):
        rp.reproduce(["step2"], [0], 300, tmp_path / "o", notebooks_dir=tmp_path / "empty")
    out = tmp_path / "dry"
    outcomes = rp.reproduce(["step2", "state"], [0, 1], 300, out, dry_run=True,
                            notebooks_dir=make_notebooks(tmp_path / "nb"))
    assert [o.job_id for o in outcomes] == ["step2_s0", "step2_s1", "state_s0", "state_s1"]
    text = capsys.readouterr().out
    assert "02_gradient_flow.ipynb" in text and "pixelpush_lib.training.runs (no notebook)" in text
    assert not out.exists()


def test_collect_refuses_a_folder_that_is_not_a_sweep(tmp_path):
    with pytest.raises(spec.SweepError, match="not a `pixelpush reproduce` output folder"):
        collect.collect(tmp_path, into=copy_data(tmp_path))


# --- the sweep: run, kill, resume, collect, plot ------------------------------------------------


def _wait_for(condition, timeout_s: float, proc: subprocess.Popen) -> None:
    deadline = time.time() + timeout_s
    while time.time() < deadline:
        if condition():
            return
        if proc.poll() is not None:
            raise AssertionError(f"sweep ended (rc {proc.returncode}) before the kill point")
        time.sleep(0.05)
    raise AssertionError("kill point not reached in time")


@pytest.mark.slow
def test_sweep_is_killed_resumed_collected_and_drawn_as_seed_bands(tmp_path):
    nb = make_notebooks(tmp_path / "nb")
    out = tmp_path / "repro"
    cli = [sys.executable, "-m", "pixelpush_lib.sweeps.reproduce", "reproduce", "--steps", "step0", "step2",
           "--seeds", "0", "1", "--total-steps", str(TOTAL), "--out", str(out), "--device", "cpu",
           "--notebooks-dir", str(nb), *TINY_SET]
    proc = subprocess.Popen(cli, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    victim = out / "step0_s1" / "run"

    def mid_second_job() -> bool:
        pointer = victim / "checkpoints" / "latest.json"
        return pointer.exists() and json.loads(pointer.read_text())["num_timesteps"] < TOTAL

    try:
        _wait_for(mid_second_job, 150, proc)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)  # the job dies with its process group, as on a lost node
        proc.wait()
    killed_at = spec.checkpoint_step(victim)
    jobs = {j.job_id: j for j in spec.load_jobs(out, nb)}
    assert [spec.job_state(jobs[j]) for j in ("step0_s0", "step0_s1", "step2_s0", "step2_s1")] == \
        ["finished", "interrupted", "new", "new"]
    first_executed = (out / "step0_s0" / "executed.ipynb").stat().st_mtime_ns

    # the same command again, here with two (pretend) GPUs: one worker subprocess per GPU, on CPU
    outcomes = rp.reproduce(["step0", "step2"], [0, 1], TOTAL, out, overrides={k: str(v) for k, v in TINY.items()},
                            device="cpu", notebooks_dir=nb, gpus=["0", "1"])
    assert {o.job_id: o.state for o in outcomes} == {"step0_s0": "skipped", "step0_s1": "finished",
                                                    "step2_s0": "finished", "step2_s1": "finished"}
    assert (out / "step0_s0" / "executed.ipynb").stat().st_mtime_ns == first_executed
    assert len(segments(out / "step0_s0" / "run")) == 1
    resumed = segments(victim)
    # The killed job's notebook kernel can outlive its process group by about a second (ipykernel polls its
    # parent) and write one more checkpoint; the resume must start from the latest complete one, never from 0.
    assert len(resumed) == 2 and killed_at <= resumed[1]["from_step"] < TOTAL and resumed[1]["resumed_from"]
    attempts = json.loads((out / "step0_s1" / "job.json").read_text())["attempts"]
    assert [a["state"] for a in attempts] == ["running", "finished"]  # the killed attempt never ended
    assert attempts[1]["cuda_visible_devices"] in ("0", "1") and attempts[1]["to_step"] >= TOTAL
    for job in jobs.values():
        steps = logged_steps(job.run_dir)
        assert steps == sorted(set(steps)) and spec.checkpoint_step(job.run_dir) >= TOTAL
        assert not (job.job_dir / spec.PARTIAL).exists() and not (job.job_dir / spec.LOCK).exists()
    manifest = json.loads((out / "sweep.json").read_text())
    assert len(manifest["invocations"]) == 2 and manifest["definition"]["overrides"] == TYPED

    # a third run finds nothing to do
    assert {o.state for o in rp.reproduce(["step2", "step0"], [1, 0], TOTAL, out, overrides=TINY,
                                          notebooks_dir=nb)} == {"skipped"}
    _collect_and_plot(out, copy_data(tmp_path))


def _collect_and_plot(out: Path, data: Path) -> None:
    from pixelpush_lib.chapter.figures.curves import plot_success
    from pixelpush_lib.results.loaders import load_run_dir

    outcomes = collect.collect(out, into=data)
    assert {o.state for o in outcomes} == {"imported"}
    run = load_run_dir(data / "runs" / "repro_step2_s1")
    assert run.manifest["provenance"]["kind"] == "imported" and run.manifest["seed"] == 1
    assert run.manifest["inputs"] == "pixels+proprio+desired_goal+achieved_goal"
    assert {o.state for o in collect.collect(out, into=data)} == {"unchanged"}

    fig = plot_success(["step0", "step2"], data_dir=data)
    labels = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    for config in ("step0", "step2"):
        assert f"{CONFIG_LABELS[config]}, imported here: mean of 2 seeds (band: min-max)" in labels

    # a run collected from another log is replaced only with --force; a refused collect changes nothing
    other = out / "step2_s0" / "run" / "progress.csv"
    import_run(other, "repro_step0_s0", "step0", 0, force=True, data_dir=data, inputs="pixels+proprio+desired_goal")
    before = snapshot(data)
    with pytest.raises(spec.SweepError, match="repro_step0_s0 \\(from another log\\); pass --force.*Nothing was imported"):
        collect.collect(out, into=data)
    assert snapshot(data) == before
    forced = {o.job_id: o.state for o in collect.collect(out, into=data, force=True)}
    assert forced == {"step0_s0": "imported", "step0_s1": "unchanged", "step2_s0": "unchanged", "step2_s1": "unchanged"}


@pytest.mark.slow
def test_failed_notebook_is_recorded_and_kept_apart(tmp_path):
    nb = make_notebooks(tmp_path / "nb", prelude="raise RuntimeError('boom from the notebook')\n")
    out = tmp_path / "repro"
    (outcome,) = rp.reproduce(["step2"], [0], 100, out, notebooks_dir=nb, device="cpu")
    assert outcome.state == "failed" and "RuntimeError: boom from the notebook" in outcome.message
    job_dir = out / "step2_s0"
    assert (job_dir / spec.FAILED).exists() and not (job_dir / spec.EXECUTED).exists()
    assert not (job_dir / spec.PARTIAL).exists() and not (job_dir / spec.LOCK).exists()
    record = json.loads((job_dir / "job.json").read_text())
    assert record["state"] == "failed" and "boom" in record["attempts"][-1]["error"]


@pytest.mark.slow
def test_slurm_path_through_submitit_local_executor(tmp_path):
    """The slurm launcher's code path (pickled JobRunner, submission records) with submitit's local executor.

    ``state`` has no notebook: its job trains through pixelpush_lib.training.runs directly (no kernel, fast).
    """
    out = tmp_path / "repro"
    options = rp.SlurmOptions(gpus_per_job=0, cpus_per_job=1, timeout_min=10, cluster="local")
    outcomes = rp.reproduce(["state"], [3], TOTAL, out, overrides=TINY,
                            launcher="slurm", device="cpu", slurm=options, wait=True)
    assert [(o.job_id, o.state) for o in outcomes] == [("state_s3", "finished")], outcomes
    job = spec.load_jobs(out)[0]
    assert spec.job_state(job) == "finished" and segments(job.run_dir)[0]["to_step"] >= TOTAL
    submissions = json.loads((job.job_dir / "submissions.json").read_text())["submissions"]
    assert submissions[0]["cluster"] == "local" and submissions[0]["id"]
    assert json.loads((job.run_dir / "run.json").read_text())["seed"] == 3
    assert (out / ".submitit").is_dir()


def test_seed_band_mean_ci_and_range():
    rng = np.random.default_rng(1)
    curve = pd.concat([pd.DataFrame({"seed": s, "step": np.arange(100, 1001, 100), "value": rng.uniform(0, 1, 10)})
                       for s in range(3)])
    from pixelpush_lib.chapter.figures.curves import seed_band

    band = seed_band(curve, bins=10)
    assert (band["n"] == 3).all()
    per_step = curve.groupby("step")["value"]
    assert np.allclose(band["mean"], per_step.mean().to_numpy())
    assert (band["low"] <= band["ci_low"] + 1e-12).all() and (band["ci_low"] <= band["mean"]).all()
    assert (band["mean"] <= band["ci_high"]).all() and (band["ci_high"] <= band["high"] + 1e-12).all()
    assert seed_band(curve, bins=10).equals(band)  # fixed bootstrap seed: the same figure every build


def test_chapter_numbers_report_the_mean_of_collected_seeds_with_n(tmp_path):
    from pixelpush_lib.results.quoted_numbers import chapter_numbers

    data = copy_data(tmp_path)
    single = chapter_numbers(data)["step2_success_2m"]
    assert single.provenance == "reported" and single.n is None
    for seed, value in ((0, 0.2), (1, 0.4), (2, 0.9)):
        log = tmp_path / f"progress_{seed}.csv"
        log.write_text("time/total_timesteps,rollout/success_rate\n1000000,0.05\n2000000,%s\n" % value)
        import_run(log, f"repro_step2_s{seed}", "step2", seed, data_dir=data, inputs="pixels+proprio+desired_goal")
        number = chapter_numbers(data)["step2_success_2m"]
        assert number.n == seed + 1 and number.provenance == "imported"
    assert number.value == pytest.approx(0.5) and "mean of n=3 seeds [0, 1, 2]" in number.source
    assert "reported" not in number.provenance and number.alternatives  # the author's figure stays listed
