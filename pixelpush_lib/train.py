"""Training runs: build the SAC + HER model for a config, train it, checkpoint it, resume it.

A run directory holds::

    run.json               the manifest: config, overrides, seed, versions, git commit, host, segments
    progress.csv           SB3's logger (rollout/success_rate, train/critic_loss, train/actor_loss, ...)
    tb/                    the same scalars for TensorBoard
    checkpoints/latest.json  -> checkpoints/step_<N>/{model.zip, replay_buffer.pkl, checkpoint.json}

Checkpoints are taken at episode boundaries (every env just finished its 50-step episode), written
into a temporary folder and renamed, and only then does ``latest.json`` point at them: a run killed
at any moment resumes from a complete checkpoint, with its replay buffer, its step and episode
counters, and a ``progress.csv`` that continues with no duplicated or missing rows. What a resume does
not restore: the random-number states (the envs are re-seeded with ``seed + episodes``), so the resumed
run is a faithful continuation, not a bit-identical replay; and TensorBoard keeps any scalars written
between the checkpoint and a crash (``progress.csv`` is the log of record).
"""

from __future__ import annotations

import csv
import datetime as dt
import json
import os
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from stable_baselines3 import SAC, HerReplayBuffer
from stable_baselines3.common.callbacks import BaseCallback, CallbackList
from stable_baselines3.common.env_util import make_vec_env
from stable_baselines3.common.logger import CSVOutputFormat, Logger, TensorBoardOutputFormat
from stable_baselines3.common.vec_env import DummyVecEnv, SubprocVecEnv, VecEnv

from pixelpush_lib.augment import DrQHerReplayBuffer, DrQShift
from pixelpush_lib.buffers import FrameHerReplayBuffer
from pixelpush_lib.configs import RunConfig, get_config
from pixelpush_lib.encoders import ManipulationExtractor, NatureExtractor
from pixelpush_lib.provenance import environment_record, git_commit, write_json_atomic
from pixelpush_lib.regime import RegimeMonitorCallback
from pixelpush_lib.routing import CriticEncoderPolicy
from pixelpush_lib.wrappers import make_env

EPISODE_STEPS = 50  # FetchPush-v4's TimeLimit
MANIFEST = "run.json"
PROGRESS = "progress.csv"
STEP_COLUMN = "time/total_timesteps"
FRAME_BUFFER_FILE = "replay_buffer.npz"
SB3_BUFFER_FILE = "replay_buffer.pkl"


class RunError(ValueError):
    """A run cannot start or resume as asked; nothing in the run directory was changed."""


# --- Building -----------------------------------------------------------------------------------


def make_training_env(config: RunConfig, seed: int = 0) -> VecEnv:
    """``config.n_envs`` copies of the config's env (Monitor-wrapped), seeded ``seed, seed+1, ...``."""
    def env_fn() -> Any:
        return make_env(config.obs_mode, frame_stack=config.frame_stack, image_size=config.image_size, camera=config.camera)

    vec_cls = SubprocVecEnv if config.vec_env == "subproc" else DummyVecEnv
    return make_vec_env(env_fn, n_envs=config.n_envs, seed=seed, vec_env_cls=vec_cls)


def policy_and_kwargs(config: RunConfig) -> tuple[Any, dict[str, Any]]:
    """SB3 policy (class or name) and ``policy_kwargs`` for the config's encoder and routing."""
    kwargs: dict[str, Any] = {"net_arch": list(config.net_arch)}
    if config.obs_mode == "state":
        return "MultiInputPolicy", kwargs
    if config.encoder == "nature":
        extractor, extractor_kwargs = NatureExtractor, {"cnn_dim": config.cnn_dim}
    else:
        extractor = ManipulationExtractor
        extractor_kwargs = {"channels": config.cnn_channels, "spatial_softmax": config.spatial_softmax}
    extractor_kwargs["policy_sees_achieved_goal"] = config.policy_sees_achieved_goal
    kwargs.update(features_extractor_class=extractor, features_extractor_kwargs=extractor_kwargs, normalize_images=False)
    if config.routing == "critic_encoder":
        return CriticEncoderPolicy, kwargs
    kwargs["share_features_extractor"] = config.routing == "sb3_shared"
    return "MultiInputPolicy", kwargs


def replay_buffer_spec(config: RunConfig) -> tuple[type, dict[str, Any]]:
    """Replay buffer class and kwargs: HER ``future`` relabelling, DrQ shifts at sampling time if asked."""
    kwargs: dict[str, Any] = {"n_sampled_goal": config.her_n_sampled_goal, "goal_selection_strategy": config.her_strategy}
    if config.replay_buffer == "frame_her":
        augment = DrQShift(config.drq_pad) if config.drq else None
        return FrameHerReplayBuffer, {**kwargs, "frame_stack": config.frame_stack, "pixel_augment": augment}
    if config.drq:
        return DrQHerReplayBuffer, {**kwargs, "drq_pad": config.drq_pad}
    return HerReplayBuffer, kwargs


def build_model(config: RunConfig | str, env: VecEnv | None = None, seed: int = 0, device: str = "auto") -> SAC:
    """The SB3 SAC + HER model the config describes (a new env is made if ``env`` is None)."""
    config = get_config(config) if isinstance(config, str) else config
    if config.learning_starts < EPISODE_STEPS * config.n_envs:
        raise ValueError(
            f"learning_starts={config.learning_starts} must be >= {EPISODE_STEPS * config.n_envs} "
            f"({EPISODE_STEPS} steps x n_envs={config.n_envs}): HER samples only finished episodes"
        )
    env = env if env is not None else make_training_env(config, seed)
    policy, policy_kwargs = policy_and_kwargs(config)
    buffer_class, buffer_kwargs = replay_buffer_spec(config)
    return SAC(
        policy,
        env,
        learning_rate=config.learning_rate,
        buffer_size=config.buffer_size,
        learning_starts=config.learning_starts,
        batch_size=config.batch_size,
        tau=config.tau,
        gamma=config.gamma,
        train_freq=config.train_freq,
        gradient_steps=config.gradient_steps,
        ent_coef=config.ent_coef if config.ent_coef == "auto" else float(config.ent_coef),
        replay_buffer_class=buffer_class,
        replay_buffer_kwargs=buffer_kwargs,
        policy_kwargs=policy_kwargs,
        seed=seed,
        device=device,
        verbose=0,
    )


# --- Files: atomic writes, manifest, log ---------------------------------------------------------


def read_manifest(run_dir: Path) -> dict[str, Any]:
    path = Path(run_dir) / MANIFEST
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise RunError(f"{path} not found: {run_dir} is not a pixelpush run directory") from None
    except json.JSONDecodeError as error:
        raise RunError(f"{path} is not valid JSON ({error}); restore it from a backup or start a new run") from None


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


def truncate_progress(path: Path, last_step: int) -> int:
    """Drop log rows after ``last_step`` (they will be logged again) and broken trailing lines.

    Returns the number of rows kept. The file is replaced atomically.
    """
    if not path.exists():
        return 0
    with open(path, newline="") as handle:
        rows = list(csv.reader(handle))
    if not rows:
        return 0
    header, body = rows[0], rows[1:]
    step_index = header.index(STEP_COLUMN) if STEP_COLUMN in header else None
    kept = [
        row
        for row in body
        if len(row) == len(header) and (step_index is None or (row[step_index] and float(row[step_index]) <= last_step))
    ]
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "w", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(header)
        writer.writerows(kept)
    os.replace(tmp, path)
    return len(kept)


def make_logger(run_dir: Path) -> Logger:
    return Logger(str(run_dir), [ResumableCSV(str(run_dir / PROGRESS)), TensorBoardOutputFormat(str(run_dir / "tb"))])


# --- Checkpoints --------------------------------------------------------------------------------


def latest_checkpoint(run_dir: Path) -> Path | None:
    pointer = Path(run_dir) / "checkpoints" / "latest.json"
    if not pointer.exists():
        return None
    target = pointer.parent / json.loads(pointer.read_text())["dir"]
    return target if (target / "checkpoint.json").exists() else None


def save_checkpoint(model: SAC, run_dir: Path) -> Path:
    """Model + replay buffer into ``checkpoints/step_<N>``; ``latest.json`` moves only when complete.

    Older checkpoints keep their model (small) and lose their replay buffer (up to tens of GB).
    """
    root = Path(run_dir) / "checkpoints"
    root.mkdir(parents=True, exist_ok=True)
    # Steps and updates together name a unique state (the final save may share a step with the last
    # periodic one, after one more gradient update), so a complete checkpoint is never overwritten.
    name = f"step_{model.num_timesteps:010d}_u{model._n_updates}"
    staging = root / f".tmp-{name}"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir()
    model.save(staging / "model.zip")
    if isinstance(model.replay_buffer, FrameHerReplayBuffer):
        model.replay_buffer.save_state(staging / FRAME_BUFFER_FILE)  # compressed, each frame once
    else:
        model.save_replay_buffer(staging / SB3_BUFFER_FILE)
    write_json_atomic(
        staging / "checkpoint.json",
        {
            "num_timesteps": int(model.num_timesteps),
            "episodes": int(model._episode_num),
            "replay_buffer_transitions": int(model.replay_buffer.size() * model.n_envs),
            "saved_at": dt.datetime.now(dt.timezone.utc).isoformat(),
        },
    )
    final = root / name
    if final.exists():  # the very same state was saved already
        shutil.rmtree(staging)
        return final
    os.replace(staging, final)
    previous = latest_checkpoint(run_dir)
    write_json_atomic(root / "latest.json", {"dir": name, "num_timesteps": int(model.num_timesteps)})
    if previous is not None and previous != final:
        for buffer_file in (FRAME_BUFFER_FILE, SB3_BUFFER_FILE):
            (previous / buffer_file).unlink(missing_ok=True)
    return final


def load_replay_buffer(model: SAC, checkpoint: Path) -> None:
    """Restore the checkpoint's replay buffer into ``model`` (in place for the frame buffer)."""
    if (checkpoint / FRAME_BUFFER_FILE).exists():
        model.replay_buffer.load_state(checkpoint / FRAME_BUFFER_FILE)
    else:
        model.load_replay_buffer(checkpoint / SB3_BUFFER_FILE)


class EpisodeBoundaryCheckpoint(BaseCallback):
    """Checkpoints every ``every`` steps, at the first moment after that when all envs finished an episode.

    It acts at the end of SB3's rollout, after the step's transitions are in the replay buffer and
    before that step's gradient update: a resumed run skips that one update (``gradient_steps`` of
    them). See the module docstring for what else a resume does not restore.
    """

    def __init__(self, run_dir: Path, every: int) -> None:
        super().__init__()
        self.run_dir, self.every = Path(run_dir), every
        self.next_at = 0

    def _on_training_start(self) -> None:
        self.next_at = (self.num_timesteps // self.every + 1) * self.every

    def _on_step(self) -> bool:
        return True

    def _on_rollout_end(self) -> None:
        if self.num_timesteps >= self.next_at and np.all(self.locals["dones"]):
            save_checkpoint(self.model, self.run_dir)
            self.next_at = (self.num_timesteps // self.every + 1) * self.every


# --- Runs ---------------------------------------------------------------------------------------


@dataclass
class RunPlan:
    """What ``train`` will do, checked completely before anything is written."""

    run_dir: Path
    config: RunConfig
    overrides: dict[str, Any]
    seed: int
    total_steps: int
    checkpoint: Path | None  # set when resuming
    start_step: int


def _positive_steps(total_steps: Any) -> int:
    if isinstance(total_steps, bool) or not isinstance(total_steps, (int, np.integer)) or total_steps <= 0:
        raise RunError(f"total_steps={total_steps!r} must be a positive integer number of environment steps")
    return int(total_steps)


def plan_new_run(config_name: str, run_dir: Path | str, seed: int, total_steps: int | None, overrides=None) -> RunPlan:
    run_dir = Path(run_dir)
    config = get_config(config_name, overrides)  # ValueError names unknown configs / fields
    steps = _positive_steps(total_steps if total_steps is not None else config.total_steps)
    if (run_dir / MANIFEST).exists():
        raise RunError(f"{run_dir} already holds a run: extend it with `pixelpush train --resume {run_dir}` or choose another --run-dir")
    return RunPlan(run_dir, config, dict(overrides or {}), int(seed), steps, None, 0)


def check_same_run(run_dir: Path, manifest: dict[str, Any], config_name: str | None, overrides) -> None:
    """Refuse to continue ``run_dir`` as a different experiment.

    ``config_name=None`` / ``overrides=None`` mean "whatever the run used" (``pixelpush train --resume``
    without ``--config``/``--set``). Overrides are compared through the configs they produce, so ``"8"``
    from the command line and ``8`` from a notebook are the same value.
    """
    if config_name is not None and config_name != manifest["config_name"]:
        raise RunError(
            f"{run_dir} was trained with config {manifest['config_name']!r}, not {config_name!r}: "
            "resume without --config, or start a new run directory"
        )
    if overrides is not None:
        used = get_config(manifest["config_name"], manifest["overrides"]).to_dict()
        asked = get_config(manifest["config_name"], overrides).to_dict()
        if used != asked:
            raise RunError(
                f"{run_dir} was trained with overrides {manifest['overrides']}, not {dict(overrides)}: a resumed run "
                "keeps its config; start a new run directory to change it"
            )


def plan_resume(run_dir: Path | str, total_steps: int | None, config_name: str | None = None, overrides=None) -> RunPlan:
    run_dir = Path(run_dir)
    manifest = read_manifest(run_dir)
    check_same_run(run_dir, manifest, config_name, overrides)
    checkpoint = latest_checkpoint(run_dir)
    if checkpoint is None:
        raise RunError(f"{run_dir} has no complete checkpoint (checkpoints/latest.json): nothing to resume from")
    start = json.loads((checkpoint / "checkpoint.json").read_text())["num_timesteps"]
    steps = _positive_steps(total_steps if total_steps is not None else manifest["total_steps"])
    if steps <= start:
        raise RunError(f"total_steps={steps} must exceed the checkpoint's step {start} in {run_dir}")
    config = get_config(manifest["config_name"], manifest["overrides"])
    return RunPlan(run_dir, config, manifest["overrides"], manifest["seed"], steps, checkpoint, start)


def train(plan: RunPlan, *, checkpoint_every: int | None = None, device: str = "auto", progress_bar: bool = True, callbacks=()) -> SAC:
    """Execute a planned run (new or resumed). Returns the trained model."""
    run_dir = plan.run_dir
    every = checkpoint_every or max(EPISODE_STEPS * plan.config.n_envs, plan.total_steps // 10)
    if plan.checkpoint is None:
        run_dir.mkdir(parents=True, exist_ok=True)
        manifest = {
            "config_name": plan.config.name,
            "config": plan.config.to_dict(),
            "overrides": plan.overrides,
            "seed": plan.seed,
            "total_steps": plan.total_steps,
            "policy_sees_achieved_goal": plan.config.policy_sees_achieved_goal,
            "created_at": dt.datetime.now(dt.timezone.utc).isoformat(),
            "command": " ".join(sys.argv),
            "segments": [],
            **environment_record(device),
        }
        model = build_model(plan.config, seed=plan.seed, device=device)
    else:
        manifest = read_manifest(run_dir)
        manifest["total_steps"] = plan.total_steps
        # New env seeds after a resume: re-using the run's own would replay its first episodes' goals.
        episodes = json.loads((plan.checkpoint / "checkpoint.json").read_text())["episodes"]
        env = make_training_env(plan.config, plan.seed + episodes)
        model = SAC.load(plan.checkpoint / "model.zip", env=env, device=device)
        load_replay_buffer(model, plan.checkpoint)
        truncate_progress(run_dir / PROGRESS, plan.start_step)
    segment = {
        "started_at": dt.datetime.now(dt.timezone.utc).isoformat(),
        "from_step": int(model.num_timesteps),
        "resumed_from": str(plan.checkpoint.relative_to(run_dir)) if plan.checkpoint else None,
        "replay_buffer_transitions_at_start": int(model.replay_buffer.size() * model.n_envs),
        "command": " ".join(sys.argv),
        "git_commit": git_commit(),
    }
    manifest["segments"].append(segment)
    write_json_atomic(run_dir / MANIFEST, manifest)

    model.set_logger(make_logger(run_dir))
    checkpointer = EpisodeBoundaryCheckpoint(run_dir, every)
    # regime/phase in the log; samples about 100 times per run (at least every 1000 steps)
    regime = RegimeMonitorCallback(sample_every=max(1000, plan.total_steps // 100))
    model.learn(
        total_timesteps=plan.total_steps - model.num_timesteps,
        reset_num_timesteps=plan.checkpoint is None,
        callback=CallbackList([checkpointer, regime, *callbacks]),
        progress_bar=progress_bar,
    )
    save_checkpoint(model, run_dir)
    model.logger.close()
    segment.update(ended_at=dt.datetime.now(dt.timezone.utc).isoformat(), to_step=int(model.num_timesteps))
    write_json_atomic(run_dir / MANIFEST, manifest)
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
    from pixelpush_lib.configs import config_names

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


def _train_command(args) -> int:
    try:
        overrides = parse_overrides(args.set)
        if args.checkpoint_every is not None and args.checkpoint_every <= 0:
            raise RunError(f"--checkpoint-every={args.checkpoint_every} must be a positive number of steps")
        if args.resume is not None:
            plan = plan_resume(args.resume, args.total_steps, args.config, overrides or None)
        else:
            if args.config is None or args.run_dir is None:
                raise RunError("a new run needs --config and --run-dir (or --resume RUN_DIR to extend one)")
            plan = plan_new_run(args.config, args.run_dir, args.seed, args.total_steps, overrides)
    except ValueError as error:
        print(f"pixelpush train: error: {error}", file=sys.stderr)
        return 2
    model = train(plan, checkpoint_every=args.checkpoint_every, device=args.device, progress_bar=not args.no_progress_bar)
    print(f"{plan.run_dir}: {model.num_timesteps} steps, log in {plan.run_dir / PROGRESS}")
    return 0
