"""Pixel students taught by the scripted expert: behaviour cloning, then DAgger, for each of the chapter's encoders.

A student is the chapter's pixel policy (its config's features extractor and SB3's SAC actor head) and sees what
that policy sees: the stacked frames, ``proprio`` and ``desired_goal``, never ``achieved_goal``. It learns by
regression onto the expert's action. Round 0 is behaviour cloning on the expert's own episodes; each later round
rolls the student out, lets the expert label every state the student visited, and trains on all labels so far
(DAgger with the student alone at the wheel). After every round the student is scored on validation episodes
that no round collects labels from, the same episodes for every encoder and seed.

``python -m pixelpush_lib.experiments distill`` writes ``data/measured/distill/``: ``curve.csv`` (success against
expert labels, per encoder, seed and round), ``tasks.csv`` (time, CPU time and frames/s per student) and the best
student of each encoder as an SB3 ``.zip`` (register it with ``pixelpush checkpoints add``). Until every student has
finished, the finished ones wait in ``data/measured/.distill.partial/`` with the last finished round of the others
(:mod:`~pixelpush_lib.experiments.investigations.distill_rounds`), and a re-run goes on from there.
``distill_control`` teaches the state policy, which reads the puck's position, by the same procedure and budgets:
a positive control that must push before a pixel student's failure can be blamed on its eyes.
"""

from __future__ import annotations

import functools
import json
import multiprocessing
import os
import shutil
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch as th
from stable_baselines3 import SAC

from pixelpush_lib.core.configs import RunConfig, get_config
from pixelpush_lib.core.files import write_json_atomic
from pixelpush_lib.core.paths import MEASURED_DIR
from pixelpush_lib.env.expert import PushExpert
from pixelpush_lib.env.wrappers import make_env
from pixelpush_lib.experiments.investigations.distill_rounds import Progress, load_progress, progress_dir, save_progress
from pixelpush_lib.experiments.investigations.expert import run_episodes
from pixelpush_lib.experiments.store import write_measured
from pixelpush_lib.replay.labelled import LabelStore, VectorStore
from pixelpush_lib.results.investigations.students import budgets
from pixelpush_lib.training.build import EPISODE_STEPS, policy_and_kwargs
from pixelpush_lib.training.pretrained import EVAL_SEED, check_model_fits

#: encoder name -> the chapter's pixels-only config whose policy network the student is
STUDENT_CONFIGS = {"manipulation": "step1_pixels_only", "nature": "step0_pixels_only"}
#: The positive control: the state agent's policy network, which reads the puck's position, taught the same way.
#: If it pushes on the same budget, the budget suffices for perfect eyes and a pixel student's failure is its eyes'.
CONTROL_CONFIGS = {"state": "state"}
# Env seeds: a student's labels come from episodes seeded COLLECT_SEED_STRIDE * (seed + 1) + k; its per-round
# score from VALIDATION_SEED + k; the registry's 100-episode evaluation from EVAL_SEED + k. The three never meet.
COLLECT_SEED_STRIDE = 100_000
VALIDATION_SEED = EVAL_SEED + 500_000


@dataclass(frozen=True)
class DistillSettings:
    """One distillation experiment; every budget is the same for each encoder and seed."""

    encoders: tuple[str, ...] = ("manipulation", "nature")
    """Students to teach, names in :data:`STUDENT_CONFIGS`."""
    seeds: tuple[int, ...] = (0, 1, 2)
    """Training seeds (network initialisation, minibatch order and which episodes are collected)."""
    demo_episodes: int = 100
    """Round 0: episodes the expert drives itself (50 labels each)."""
    dagger_rounds: int = 6
    """Rounds after behaviour cloning in which the student drives and the expert labels."""
    episodes_per_round: int = 40
    """Episodes the student drives in each DAgger round."""
    train_steps: int = 5000
    """Gradient steps after each round's labels arrive (all labels so far)."""
    batch_size: int = 64
    """Labelled observations per gradient step."""
    learning_rate: float = 1e-3
    """Adam's step size for the actor (encoder and head) at the start of each round."""
    anneal: bool = True
    """Decay the step size linearly to zero within each round, so each round ends on a converged fit of all labels
    so far rather than on Adam's last noisy step."""
    validation_episodes: int = 20
    """Episodes that score the student after each round (never labelled)."""
    expert: PushExpert = PushExpert()
    """The teacher (its tolerances in metres)."""
    device: str = "cpu"
    """Torch device the students train and act on (``cuda`` on a GPU machine); no budget depends on it."""

    def labels_per_student(self) -> int:
        """Expert labels a student has trained on after the last round."""
        return (self.demo_episodes + self.dagger_rounds * self.episodes_per_round) * EPISODE_STEPS

    def check(self, allowed: dict[str, str] = STUDENT_CONFIGS) -> None:
        """Raise ``ValueError`` naming the field and a fix before anything runs or is written."""
        unknown = [e for e in self.encoders if e not in allowed]
        if unknown or not self.encoders:
            raise ValueError(f"DistillSettings.encoders={self.encoders!r}: unknown or none; choose from "
                             f"{', '.join(allowed)}")
        for field in ("demo_episodes", "train_steps", "batch_size", "validation_episodes"):
            if getattr(self, field) < 1:
                raise ValueError(f"DistillSettings.{field}={getattr(self, field)} must be at least 1")
        if self.dagger_rounds < 0 or self.episodes_per_round < 1 or not self.seeds:
            raise ValueError("DistillSettings: dagger_rounds must be >= 0, episodes_per_round >= 1, seeds not empty")
        if th.device(self.device).type == "cuda" and not th.cuda.is_available():
            raise ValueError(f"DistillSettings.device={self.device!r} but torch sees no CUDA GPU; use device='cpu'")
        if self.demo_episodes * EPISODE_STEPS < self.batch_size:
            need = -(-self.batch_size // EPISODE_STEPS)
            raise ValueError(f"DistillSettings.demo_episodes={self.demo_episodes} gives "
                             f"{self.demo_episodes * EPISODE_STEPS} labels, fewer than one batch "
                             f"(batch_size={self.batch_size}); use demo_episodes >= {need} or a smaller batch_size")


QUICK = DistillSettings(seeds=(0,), demo_episodes=2, dagger_rounds=1, episodes_per_round=1, train_steps=3,
                        batch_size=16, validation_episodes=1)


def build_student(config: RunConfig, env: Any, seed: int, device: str = "cpu") -> SAC:
    """The config's SAC model (its policy network is the student; the critic is left untrained)."""
    policy, kwargs = policy_and_kwargs(config)
    return SAC(policy, env, policy_kwargs=kwargs, buffer_size=1, learning_starts=0, seed=seed, device=device)


def train_student(model: SAC, store: LabelStore, frame_stack: int, settings: DistillSettings,
                  optimizer: th.optim.Optimizer, rng: np.random.Generator) -> float:
    """``settings.train_steps`` Adam steps of mean squared error between the actor's deterministic action and the
    expert's, on minibatches drawn from all labels so far. Returns the mean loss of the last 50 steps."""
    actor = model.policy.actor
    actor.set_training_mode(True)
    losses = []
    for step in range(settings.train_steps):
        if settings.anneal:
            for group in optimizer.param_groups:
                group["lr"] = settings.learning_rate * (1 - step / settings.train_steps)
        indices = rng.integers(0, store.size, settings.batch_size)
        obs = {k: th.as_tensor(v).to(model.device) for k, v in store.observations(indices, frame_stack).items()}
        target = th.as_tensor(store.actions[indices]).to(model.device)
        loss = th.nn.functional.mse_loss(actor(obs, deterministic=True), target)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    actor.set_training_mode(False)
    return float(np.mean(losses[-50:]))


def teach_student(encoder: str, seed: int, settings: DistillSettings, save_to: Path,
                  log: Callable[[str], None] = functools.partial(print, flush=True)) -> dict[str, Any]:
    """Behaviour cloning, then ``settings.dagger_rounds`` DAgger rounds, for one encoder and seed.

    Saves the final student to ``save_to`` (SB3 zip; ``num_timesteps`` = expert labels it trained on) and returns
    ``rows`` (one per round: labels, validation success, training loss) and ``task`` (times and frames/s). After each
    round its state goes to ``<save_to stem>.rounds/``; a call that finds one there (same student, same budgets)
    goes on from the round after it, and ``task``'s times then add up every process's.
    """
    config = get_config({**STUDENT_CONFIGS, **CONTROL_CONFIGS}[encoder], {"n_envs": 1, "vec_env": "dummy"})
    env = make_env(config.obs_mode, frame_stack=config.frame_stack, image_size=config.image_size,
                   camera=config.camera)
    model = build_student(config, env, seed, settings.device)
    optimizer = th.optim.Adam(model.policy.actor.parameters(), lr=settings.learning_rate)
    rng = np.random.default_rng(seed)
    store: LabelStore | VectorStore = (
        LabelStore(settings.labels_per_student(), config.image_size) if config.obs_mode == "pixels"
        else VectorStore(settings.labels_per_student(), env.observation_space))
    expert = settings.expert

    def student(obs: dict[str, np.ndarray]) -> np.ndarray:
        return model.predict(obs, deterministic=True)[0]

    start_wall, start_cpu = time.perf_counter(), time.process_time()
    rounds, key = progress_dir(save_to), {"encoder": encoder, "seed": seed, **budgets(manifest_parameters(settings))}
    progress = load_progress(rounds, key, model, optimizer, store)
    if progress is not None:
        rng.bit_generator.state = progress.rng
        log(f"[distill {encoder} seed {seed}] resuming after round {progress.rounds_done - 1} ({rounds})")
    progress = progress or Progress(next_seed=COLLECT_SEED_STRIDE * (seed + 1))

    def episodes(n: int, first_seed: int, driver: Any = None, labelled: bool = True) -> list[bool]:
        tic = time.perf_counter()
        out = run_episodes(env, n, first_seed, expert, driver, store if labelled else None)
        progress.env_seconds += time.perf_counter() - tic
        progress.frames += n * EPISODE_STEPS
        return [episode["success"] for episode in out]

    def elapsed() -> tuple[float, float]:  # (wall, CPU) seconds, earlier processes' included
        return (progress.wall_s + time.perf_counter() - start_wall, progress.cpu_s + time.process_time() - start_cpu)

    try:
        if progress.rounds_done == 0:
            progress.expert_success = episodes(settings.demo_episodes, progress.next_seed)
            progress.next_seed += settings.demo_episodes
        for round_ in range(progress.rounds_done, settings.dagger_rounds + 1):
            if round_ > 0:
                episodes(settings.episodes_per_round, progress.next_seed, student)
                progress.next_seed += settings.episodes_per_round
            loss = train_student(model, store, config.frame_stack, settings, optimizer, rng)
            success = episodes(settings.validation_episodes, VALIDATION_SEED, student, labelled=False)
            progress.rows.append({"encoder": encoder, "config": config.name, "seed": seed, "round": round_,
                                  "labels": store.size, "success_rate": float(np.mean(success)),
                                  "n_episodes": len(success), "train_loss": loss})
            wall, cpu = elapsed()
            save_progress(rounds, replace(progress, wall_s=wall, cpu_s=cpu, rng=rng.bit_generator.state), key,
                          model, optimizer, store)
            log(f"[distill {encoder} seed {seed}] round {round_}: {store.size} labels, validation success "
                f"{np.mean(success):.0%} over {len(success)} episodes, loss {loss:.4f}, {wall:.0f} s")
        model.num_timesteps = store.size
        model.save(save_to)
    finally:
        env.close()
    wall, cpu = elapsed()
    task = {"encoder": encoder, "config": config.name, "seed": seed, "wall_s": wall, "cpu_s": cpu,
            "env_steps": progress.frames, "env_steps_per_s": progress.frames / progress.env_seconds,
            "expert_success_rate": float(np.mean(progress.expert_success)),
            "expert_episodes": len(progress.expert_success)}
    return {"rows": progress.rows, "task": task}


def _teach_in_worker(args: tuple[str, int, DistillSettings, Path, int]) -> dict[str, Any]:
    encoder, seed, settings, save_to, threads = args
    th.set_num_threads(threads)
    return teach_student(encoder, seed, settings, save_to)


def load_student(path: Path | str, encoder: str) -> SAC:
    """Load a student ``.zip`` saved by this module, checking that it is ``encoder``'s (a clear error if not)."""
    if encoder not in STUDENT_CONFIGS:
        raise ValueError(f"unknown encoder {encoder!r}; choose from {', '.join(STUDENT_CONFIGS)}")
    config = get_config(STUDENT_CONFIGS[encoder])
    model = SAC.load(path, device="cpu")
    try:
        check_model_fits(model, config, path)
    except ValueError as error:
        raise ValueError(f"{path} is not a {encoder} student ({config.name}): {error}") from None
    return model


def distill(settings: DistillSettings, out_dir: Path, jobs: int = 1,
            allowed: dict[str, str] = STUDENT_CONFIGS) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Teach every (encoder, seed) student of ``settings``, ``jobs`` at a time (a process each, the cores shared
    between them). Returns (curve, tasks).

    Each student is kept in ``out_dir`` as soon as it finishes: ``<encoder>_s<seed>.zip`` and, written last,
    ``<encoder>_s<seed>.json`` (its rows and task). A run stopped part-way keeps every student it finished, and a
    re-run into the same ``out_dir`` teaches only the students without a ``.json``, each from its last saved round.
    """
    settings.check(allowed)
    out_dir.mkdir(parents=True, exist_ok=True)
    students = [(e, s) for e in settings.encoders for s in settings.seeds]
    records = {(e, s): out_dir / f"{e}_s{s}.json" for e, s in students}
    results = [json.loads(records[key].read_text()) for key in students if records[key].exists()]
    todo = [key for key in students if not records[key].exists()]
    threads = max(1, (os.cpu_count() or 1) // jobs)
    args = [(e, s, settings, out_dir / f"{e}_s{s}.zip", threads) for e, s in todo]

    def keep(result: dict[str, Any]) -> None:
        key = (result["task"]["encoder"], result["task"]["seed"])
        write_json_atomic(records[key], result)
        shutil.rmtree(progress_dir(out_dir / f"{key[0]}_s{key[1]}.zip"), ignore_errors=True)  # its rounds are done
        results.append(result)

    if jobs == 1 or len(args) <= 1:
        for arg in args:
            keep(_teach_in_worker(arg))
    else:
        with multiprocessing.get_context("spawn").Pool(min(jobs, len(args))) as pool:
            for result in pool.imap_unordered(_teach_in_worker, args, chunksize=1):
                keep(result)
    order = {key: i for i, key in enumerate(students)}
    results.sort(key=lambda r: order[(r["task"]["encoder"], r["task"]["seed"])])
    curve = pd.DataFrame([row for r in results for row in r["rows"]])
    return curve, pd.DataFrame([r["task"] for r in results])


def best_students(curve: pd.DataFrame) -> dict[str, int]:
    """Encoder -> the seed whose final student scored highest in validation (lowest seed on a tie)."""
    final = curve[curve["round"] == curve["round"].max()].sort_values(["encoder", "success_rate", "seed"],
                                                                       ascending=[True, False, True])
    return {encoder: int(group["seed"].iloc[0]) for encoder, group in final.groupby("encoder")}


def precompute(quick: bool = False, measured_dir: Path = MEASURED_DIR,
               command: str = "python -m pixelpush_lib.experiments distill",
               settings: DistillSettings | None = None, jobs: int | None = None, device: str | None = None,
               seeds: tuple[int, ...] | None = None, encoders: tuple[str, ...] | None = None) -> Path:
    """Run the experiment (``quick``: a tiny budget for tests) and write ``measured_dir/distill/``, with the best
    student of each encoder. ``device``, ``seeds`` and ``encoders`` override the settings' own."""
    settings = _override(settings or (QUICK if quick else DistillSettings()), device, seeds)
    settings = replace(settings, encoders=tuple(encoders)) if encoders else settings
    return _measure("distill", settings, STUDENT_CONFIGS, quick, measured_dir, command, jobs)


def precompute_control(quick: bool = False, measured_dir: Path = MEASURED_DIR,
                       command: str = "python -m pixelpush_lib.experiments distill_control",
                       settings: DistillSettings | None = None, jobs: int | None = None,
                       device: str | None = None, seeds: tuple[int, ...] | None = None) -> Path:
    """The positive control (:data:`CONTROL_CONFIGS`) on the same budgets, into ``measured_dir/distill_control/``."""
    settings = replace(settings or (QUICK if quick else DistillSettings()), encoders=tuple(CONTROL_CONFIGS))
    settings = _override(settings, device, seeds)
    return _measure("distill_control", settings, CONTROL_CONFIGS, quick, measured_dir, command, jobs)


def _override(settings: DistillSettings, device: str | None, seeds: tuple[int, ...] | None) -> DistillSettings:
    settings = replace(settings, device=device) if device else settings
    return replace(settings, seeds=tuple(seeds)) if seeds else settings


def _measure(experiment: str, settings: DistillSettings, allowed: dict[str, str], quick: bool, measured_dir: Path,
             command: str, jobs: int | None) -> Path:
    settings.check(allowed)  # before anything is written
    jobs = jobs or (1 if quick else min(os.cpu_count() or 1, len(settings.encoders) * len(settings.seeds)))
    start = time.perf_counter()
    partial = Path(measured_dir) / f".{experiment}.partial"  # finished students survive a stopped run here
    parameters = manifest_parameters(settings, allowed, quick)
    kept = json.loads((partial / "parameters.json").read_text()) if (partial / "parameters.json").exists() else None
    if kept is not None and budgets(kept) != budgets(parameters):
        print(f"{partial}: kept students were taught on other settings; starting afresh", flush=True)
        shutil.rmtree(partial)
    partial.mkdir(parents=True, exist_ok=True)
    write_json_atomic(partial / "parameters.json", parameters)
    curve, tasks = distill(settings, partial, jobs, allowed)
    best = best_students(curve)
    writers: dict[str, Callable[[Path], None]] = {
        "curve.csv": lambda p: curve.to_csv(p, index=False, float_format="%.5g"),
        "tasks.csv": lambda p: tasks.to_csv(p, index=False, float_format="%.5g")}
    if allowed is STUDENT_CONFIGS:  # the pixel students are kept for the registry; the control is not needed
        for encoder, seed in best.items():
            source = partial / f"{encoder}_s{seed}.zip"
            writers[f"student_{encoder}.zip"] = lambda p, src=source: shutil.copyfile(src, p)
    wall = time.perf_counter() - start
    summary = {"best_seed": best, "labels_per_student": settings.labels_per_student(),
               "cpu_s_total": float(tasks["cpu_s"].sum()), "wall_s": wall, "jobs": jobs, "cpus": os.cpu_count()}
    folder = write_measured(experiment, writers, parameters, command, wall, summary, measured_dir)
    shutil.rmtree(partial)
    return folder


def manifest_parameters(settings: DistillSettings, allowed: dict[str, str] = STUDENT_CONFIGS,
                        quick: bool = False) -> dict[str, Any]:
    """The settings as the experiment's manifest records them (JSON types: tuples become lists)."""
    return json.loads(json.dumps({**asdict(settings), "student_configs": {e: allowed[e] for e in settings.encoders},
                                  "validation_seed": VALIDATION_SEED, "collect_seed_stride": COLLECT_SEED_STRIDE,
                                  "quick": quick}))


__all__ = ["DistillSettings", "STUDENT_CONFIGS", "best_students", "distill",
           "load_student", "manifest_parameters", "precompute", "precompute_control", "teach_student",
           "train_student"]
