"""Training runs: plan a new run or a resume (checked completely before anything is written), then train.

A resumed run continues from its last complete checkpoint with its replay buffer, its step and episode counters,
and a ``progress.csv`` with no duplicated or missing rows. It is a faithful continuation, not a bit-identical
replay: the random-number states are not restored (the envs are re-seeded with ``seed + episodes``), and
TensorBoard keeps any scalars written between the checkpoint and a crash (``progress.csv`` is the log of record).
"""

from __future__ import annotations

import csv
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch as th
from stable_baselines3 import SAC
from stable_baselines3.common.callbacks import CallbackList
from stable_baselines3.common.logger import CSVOutputFormat, Logger, TensorBoardOutputFormat

from pixelpush_lib.core.configs import RunConfig, config_names, get_config
from pixelpush_lib.core.files import git_commit, utc_now
from pixelpush_lib.env.rendering import load_triton_before_gl
from pixelpush_lib.training.build import EPISODE_STEPS, build_model, config_eyes, make_training_env
from pixelpush_lib.training.callbacks import EpisodeBoundaryCheckpoint, RegimeMonitorCallback
from pixelpush_lib.training.provenance import environment_record, process_tree_cpu_s
from pixelpush_lib.training.run_dir import RunDir, RunError


class ResumableCSV(CSVOutputFormat):
    """SB3's CSV writer, continuing an existing ``progress.csv`` instead of truncating it."""

    def __init__(self, filename: str) -> None:
        if not os.path.exists(filename):
            super().__init__(filename)
            return
        with open(filename, newline="") as handle:
            header = next(csv.reader(handle), [])
        self.file = open(filename, "r+")
        self.file.seek(0, os.SEEK_END)
        self.keys = header
        self.separator = ","
        self.quotechar = '"'


def make_logger(run_dir: RunDir) -> Logger:
    return Logger(str(run_dir.path), [ResumableCSV(str(run_dir.progress_path)),
                                      TensorBoardOutputFormat(str(run_dir.tensorboard_dir))])


@dataclass
class RunPlan:
    """What ``train`` will do, checked completely before anything is written."""

    run_dir: Path
    config: RunConfig  # resolved once, by whoever asked for the run
    overrides: dict[str, Any]  # what the run records, with the config's name, to rebuild it (RunConfig.overrides)
    seed: int
    total_steps: int
    checkpoint: Path | None  # set when resuming
    start_step: int
    eyes: dict[str, Any] | None  # the eyes an obs_mode="eyes" run reads (eyes_record), checked once


class RunFinished(RunError):
    """The run has already reached the steps asked of it: there is nothing to resume."""


def _positive_steps(total_steps: Any) -> int:
    if isinstance(total_steps, bool) or not isinstance(total_steps, (int, np.integer)) or total_steps <= 0:
        raise RunError(f"total_steps={total_steps!r} must be a positive integer number of environment steps")
    return int(total_steps)


def plan_new_run(config: RunConfig, run_dir: Path | str, seed: int, total_steps: int | None = None) -> RunPlan:
    """A new run of ``config`` (``total_steps``: default the config's) into ``run_dir``, which must hold none."""
    run_dir = Path(run_dir)
    steps = _positive_steps(total_steps if total_steps is not None else config.total_steps)
    if RunDir(run_dir).has_run():
        raise RunError(f"{run_dir} already holds a run: extend it with `pixelpush train --resume {run_dir}` or choose another --run-dir")
    eyes = eyes_record(config)  # missing or tampered eyes are refused before anything is written
    return RunPlan(run_dir, config, config.overrides(), int(seed), steps, None, 0, eyes)


def _check_same_run(run_dir: Path, recorded: RunConfig, asked: RunConfig) -> None:
    """Refuse to continue ``run_dir`` (trained as ``recorded``) as a different experiment."""
    if asked.name != recorded.name:
        raise RunError(
            f"{run_dir} was trained with config {recorded.name!r}, not {asked.name!r}: "
            "resume without --config, or start a new run directory"
        )
    if asked != recorded:
        raise RunError(
            f"{run_dir} was trained with overrides {recorded.overrides()}, not {asked.overrides()}: a resumed run "
            "keeps its config; start a new run directory to change it"
        )


def plan_resume(run_dir: Path | str, total_steps: int | None, config: RunConfig | None = None) -> RunPlan:
    """Extend the run in ``run_dir`` from its last complete checkpoint to ``total_steps`` (default: its own).

    ``config=None`` means "whatever the run used"; a config is compared field by field with the run's, so
    ``batch_size="8"`` from the command line and ``8`` from a notebook are the same run. Raises
    :class:`RunFinished` when the checkpoint has already reached ``total_steps``.
    """
    run_dir = Path(run_dir)
    manifest = RunDir(run_dir).read_manifest()
    recorded = get_config(manifest["config_name"], manifest["overrides"])
    if config is not None:
        _check_same_run(run_dir, recorded, config)
    checkpoint = RunDir(run_dir).latest_checkpoint()
    if checkpoint is None:
        raise RunError(f"{run_dir} has no complete checkpoint (checkpoints/latest.json): nothing to resume from")
    start = RunDir.checkpoint_info(checkpoint)["num_timesteps"]
    steps = _positive_steps(total_steps if total_steps is not None else manifest["total_steps"])
    if steps <= start:
        raise RunFinished(f"total_steps={steps} must exceed the checkpoint's step {start} in {run_dir}")
    eyes = eyes_record(recorded)
    if manifest.get("eyes") != eyes:
        raise RunError(f"{run_dir} was trained with eyes {manifest.get('eyes')}, but data/measured/eyes now gives "
                       f"{eyes}: a run keeps its eyes. Restore the eyes it used (git checkout of "
                       "data/measured/eyes at the run's commit) or start a new run directory")
    return RunPlan(run_dir, recorded, manifest["overrides"], manifest["seed"], steps, checkpoint, start, eyes)


def eyes_record(config: RunConfig) -> dict[str, Any] | None:
    """For an ``obs_mode="eyes"`` config, which committed eyes it reads (encoder, seed, sha256), else None."""
    if config.obs_mode != "eyes":
        return None
    eyes = config_eyes(config)
    return {"encoder": config.encoder, "seed": eyes.seed, "sha256": eyes.sha256}


def torch_threads_for(config: RunConfig, device: str) -> int:
    """Torch's CPU threads for a run: one for the state baseline off the GPU, else torch's own default.

    The state agent's networks are small (two 256-unit layers, batch 256), so a second thread buys little, and on
    a two-core machine it fights the simulator for the cores: measured here, one thread ran 334 env-steps/s next to
    another busy process where two threads fell below 30 (``python -m pixelpush_lib.bench train-state``).
    """
    if config.obs_mode in ("state", "eyes") and not str(device).startswith("cuda"):  # eyes: a vector policy too
        return 1
    return th.get_num_threads()


def train(plan: RunPlan, *, checkpoint_every: int | None = None, device: str = "auto", progress_bar: bool = True, callbacks=()) -> SAC:
    """Execute a planned run (new or resumed). Returns the trained model."""
    previous = th.get_num_threads()
    th.set_num_threads(torch_threads_for(plan.config, device))
    try:
        return _train(plan, checkpoint_every=checkpoint_every, device=device, progress_bar=progress_bar, callbacks=callbacks)
    finally:
        th.set_num_threads(previous)


def _interval_of(manifest: dict[str, Any] | None, plan: RunPlan) -> int:
    """Steps between checkpoints when none is given: what the run's last segment used (``manifest``: the run's, on a
    resume), so a resume without ``--checkpoint-every`` keeps the interval it was started with; for a new run, or
    one whose segments recorded none, a tenth of its budget."""
    recorded = [s.get("checkpoint_every") for s in manifest["segments"]] if manifest else []
    if recorded and recorded[-1]:
        return int(recorded[-1])
    return max(EPISODE_STEPS * plan.config.n_envs, plan.total_steps // 10)


def _train(plan: RunPlan, *, checkpoint_every: int | None = None, device: str = "auto", progress_bar: bool = True, callbacks=()) -> SAC:
    cpu_at_start = process_tree_cpu_s()  # a segment costs what follows: a kernel may train many times
    run_dir = RunDir(plan.run_dir)
    if plan.checkpoint is None:
        run_dir.path.mkdir(parents=True, exist_ok=True)
        manifest = {
            "config_name": plan.config.name,
            "config": plan.config.to_dict(),
            "overrides": plan.overrides,
            "seed": plan.seed,
            "total_steps": plan.total_steps,
            "policy_sees_achieved_goal": plan.config.policy_sees_achieved_goal,
            "eyes": plan.eyes,
            "created_at": utc_now("microseconds"),
            "command": " ".join(sys.argv),
            "segments": [],
            **environment_record(device),
        }
        model = build_model(plan.config, seed=plan.seed, device=device)
        every = checkpoint_every or _interval_of(None, plan)
    else:
        manifest = run_dir.read_manifest()
        every = checkpoint_every or _interval_of(manifest, plan)
        manifest["total_steps"] = plan.total_steps
        # New env seeds after a resume: re-using the run's own would replay its first episodes' goals.
        episodes = RunDir.checkpoint_info(plan.checkpoint)["episodes"]
        load_triton_before_gl(strict=True)  # SAC.load builds optimizers, which import triton
        env = make_training_env(plan.config, plan.seed + episodes)
        model = SAC.load(plan.checkpoint / "model.zip", env=env, device=device)
        RunDir.load_replay_buffer(model, plan.checkpoint)
        run_dir.truncate_progress(plan.start_step)
    segment = {
        "started_at": utc_now("microseconds"),
        "from_step": int(model.num_timesteps),
        "resumed_from": str(plan.checkpoint.relative_to(run_dir.path)) if plan.checkpoint else None,
        "replay_buffer_transitions_at_start": int(model.replay_buffer.size() * model.n_envs),
        "command": " ".join(sys.argv),
        "git_commit": git_commit(),
        "torch_threads": th.get_num_threads(),
        "checkpoint_every": every,
        # The renderer's settings: they change its speed, never its pixels (a resume may differ from its run here).
        "render_env": {name: os.environ.get(name) for name in ("MUJOCO_GL", "LP_NUM_THREADS")},
    }
    manifest["segments"].append(segment)
    run_dir.write_manifest(manifest)

    def record_cost(model: SAC) -> None:
        # At every checkpoint, so a segment that is killed later still says what it cost up to the step a resume
        # starts from: building or loading the model and its buffer, then training (not the imports before).
        segment.update(cpu_s=round(process_tree_cpu_s() - cpu_at_start, 1), cpu_s_to_step=int(model.num_timesteps))
        run_dir.write_manifest(manifest)

    model.set_logger(make_logger(run_dir))
    checkpointer = EpisodeBoundaryCheckpoint(run_dir, every, after_save=record_cost)
    # regime/phase in the log; samples about 100 times per run (at least every 1000 steps)
    regime = RegimeMonitorCallback(sample_every=max(1000, plan.total_steps // 100))
    model.learn(
        total_timesteps=plan.total_steps - model.num_timesteps,
        reset_num_timesteps=plan.checkpoint is None,
        callback=CallbackList([checkpointer, regime, *callbacks]),
        progress_bar=progress_bar,
    )
    run_dir.save_checkpoint(model)
    model.logger.close()
    segment.update(ended_at=utc_now("microseconds"), to_step=int(model.num_timesteps))
    record_cost(model)
    return model


# --- CLI ----------------------------------------------------------------------------------------


def parse_overrides(pairs: list[str] | None) -> dict[str, str]:
    overrides: dict[str, str] = {}
    for pair in pairs or []:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise RunError(f"--set {pair!r} must look like key=value (for example --set batch_size=8)")
        overrides[key.strip()] = value.strip()
    return overrides


def add_train_command(subparsers) -> None:
    parser = subparsers.add_parser(
        "train",
        help="train (or resume) a SAC + HER run for one of the chapter's configs",
        description="Train a new run (--config, --run-dir) or extend one (--resume RUN_DIR --total-steps N).",
    )
    parser.add_argument("--config", choices=config_names(), help="config name (new runs)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--total-steps", type=int, help="environment steps to reach (default: the config's)")
    parser.add_argument("--run-dir", type=Path, help="directory for a new run")
    parser.add_argument("--resume", type=Path, metavar="RUN_DIR", help="extend the run in RUN_DIR from its last checkpoint")
    parser.add_argument("--set", action="append", metavar="KEY=VALUE", help="override a config field (repeatable)")
    parser.add_argument("--checkpoint-every", type=int, metavar="N", help="checkpoint every N steps (default: total/10)")
    parser.add_argument("--device", default="auto", help="torch device: auto, cpu, cuda, cuda:1 ...")
    parser.add_argument("--no-progress-bar", action="store_true")
    parser.set_defaults(func=_train_command)


def _asked_config(run_dir: Path, config_name: str | None, overrides: dict[str, str]) -> RunConfig | None:
    """What ``--resume RUN_DIR`` asks of the run: None (whatever it used) without ``--config`` and ``--set``, else
    a config, the run's own name and overrides standing in for whichever of the two is not given."""
    if config_name is None and not overrides:
        return None
    manifest = RunDir(run_dir).read_manifest()
    return get_config(config_name or manifest["config_name"], overrides or manifest["overrides"])


def _train_command(args) -> int:
    try:
        overrides = parse_overrides(args.set)
        if args.checkpoint_every is not None and args.checkpoint_every <= 0:
            raise RunError(f"--checkpoint-every={args.checkpoint_every} must be a positive number of steps")
        if args.resume is not None:
            plan = plan_resume(args.resume, args.total_steps, _asked_config(args.resume, args.config, overrides))
        else:
            if args.config is None or args.run_dir is None:
                raise RunError("a new run needs --config and --run-dir (or --resume RUN_DIR to extend one)")
            plan = plan_new_run(get_config(args.config, overrides), args.run_dir, args.seed, args.total_steps)
    except ValueError as error:
        print(f"pixelpush train: error: {error}", file=sys.stderr)
        return 2
    model = train(plan, checkpoint_every=args.checkpoint_every, device=args.device, progress_bar=not args.no_progress_bar)
    print(f"{plan.run_dir}: {model.num_timesteps} steps, log in {RunDir(plan.run_dir).progress_path}")
    return 0
