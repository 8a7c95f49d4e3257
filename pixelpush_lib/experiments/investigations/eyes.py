"""Eyes first: train each policy encoder, with the simulator's labels, to read the puck from the frames it gets.

Protocol (fixed before any result was looked at; :data:`PROTOCOL`):

* Frames: exactly the observations a policy receives: ``make_env("pixels")`` with Step 1's 4-frame stack
  (ManipulationCNN + SpatialSoftmax, as ``step1``) or its newest frame alone (NatureCNN, as ``step0``'s
  ``frame_stack=1``; the newest frame of a stack is that observation).
* Sources of training frames: whole 50-step episodes driven by three policies, so that the frames cover what a
  pushing policy meets: the scripted expert (:class:`~pixelpush_lib.env.expert.PushExpert`, its pushes hide and
  move the puck) with Gaussian action noise; the registered state agent (``state_s0_2m``) with action noise; and
  uniform random actions. Beside them, Step 1's random static scenes (:func:`scenes.render_states`: one distinct
  puck position per frame, the stack a repeated frame, velocity zero).
* Mixes compared (seed 0 of each encoder, chosen by validation error): ``episodes`` (the three policies' episodes),
  ``scenes``, and ``episodes+scenes`` (both, sampled in proportion to their sizes).
* Splits: training, validation and test episodes come from disjoint reset seeds (:class:`EyesProtocol`'s
  ``*_seed`` fields); scenes are training data only. Validation picks the mix; test is touched once per run.
* Target: the puck's ``(x, y)`` in metres and, with a stack, ``(vx, vy)`` in metres per step, from the simulator
  (:func:`~pixelpush_lib.env.puck_state.puck_labels`). Loss: MSE on scaled targets (:class:`~pixelpush_lib.nets.eyes.PuckEyes`).
* Training: the same steps, batch size, learning rate and batch order (per seed) for both encoders; no tuning.
* Report: held-out position error in centimetres on whole test episodes (median and 90th percentile; all frames,
  and frames where the gripper is within 5 cm of the puck), per encoder and seed, beside a predictor that learned
  nothing (the training frames' mean position, zero velocity).

``python -m pixelpush_lib.experiments eyes`` writes ``data/measured/eyes/`` with the trained weights of the chosen
mix (one file per encoder and seed, sha256 in the manifest). ``quick=True`` is a seconds-long variant for tests.
"""

from __future__ import annotations

import os
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass
from multiprocessing import get_context
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch as th
from torch import nn

from pixelpush_lib.core.paths import MEASURED_DIR
from pixelpush_lib.experiments.investigations.eyes_frames import CACHE_DIR, PROTOCOL, QUICK, SOURCES, EyesProtocol, \
    Frames, cached_collect, collect, collect_episodes, load_collected
from pixelpush_lib.experiments.store import write_measured
from pixelpush_lib.nets.eyes import EyesSpec, PuckEyes, save_eyes

EXPERIMENT = "eyes"
ENCODER_STACKS = {"manipulation": 4, "nature": 1}  # step1's and step0's frame_stack
MIXES = ("episodes", "scenes", "episodes+scenes")


# --- training and scoring -----------------------------------------------------------------------------------------


def mix_index(train: Frames, mix: str) -> np.ndarray:
    """Indices of the training samples a mix uses."""
    if mix not in MIXES:
        raise ValueError(f"mix {mix!r} is not valid; allowed: {MIXES}")
    is_scene = train.source == "scenes"
    return {"episodes": np.flatnonzero(~is_scene), "scenes": np.flatnonzero(is_scene),
            "episodes+scenes": np.arange(len(train))}[mix]


def predict(eyes: PuckEyes, frames: Frames, index: np.ndarray, batch: int = 256) -> np.ndarray:
    """``(len(index), outputs)`` estimates in metres (eval mode, no gradients)."""
    eyes.eval()
    with th.no_grad():
        out = [eyes(th.as_tensor(frames.pixels(index[i:i + batch], eyes.spec.frame_stack))).numpy()
               for i in range(0, len(index), batch)]
    eyes.train()
    return np.concatenate(out).astype(np.float64)


def position_errors_cm(estimates: np.ndarray, frames: Frames, index: np.ndarray) -> np.ndarray:
    """Euclidean table-position error per sample, centimetres."""
    return np.linalg.norm(estimates[:, :2] - frames.labels[index, :2], axis=1) * 100.0


def train_eyes(encoder: str, mix: str, seed: int, data: dict[str, Frames], protocol: EyesProtocol,
               progress: bool = True) -> tuple[PuckEyes, pd.DataFrame]:
    """Train one pair of eyes; returns them and the curve (step, train_loss, val_median_cm)."""
    th.manual_seed(seed)
    spec = EyesSpec(encoder, ENCODER_STACKS[encoder], channels=protocol.channels)
    eyes = PuckEyes(spec)
    train, val = data["train"], data["val"]
    pool = mix_index(train, mix)
    val_index = np.random.default_rng(seed).permutation(len(val))[:protocol.val_frames]
    targets = eyes.to_scaled(th.as_tensor(train.labels[:, :len(spec.outputs)], dtype=th.float32))
    order = np.random.default_rng(1000 + seed)  # same seed -> same batches for both encoders
    optimizer = th.optim.Adam(eyes.parameters(), lr=protocol.learning_rate)
    rows, losses = [], []
    for step in range(1, protocol.steps + 1):
        batch = pool[order.integers(0, len(pool), protocol.batch_size)]
        loss = nn.functional.mse_loss(eyes.scaled(th.as_tensor(train.pixels(batch, spec.frame_stack))),
                                      targets[batch])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(float(loss.detach()))
        if step % protocol.eval_every == 0 or step == protocol.steps:
            median = float(np.median(position_errors_cm(predict(eyes, val, val_index), val, val_index)))
            rows.append({"step": step, "train_loss": float(np.mean(losses[-protocol.eval_every:])),
                         "val_median_cm": median})
            if progress:
                print(f"  {encoder} {mix} seed {seed}: step {step}/{protocol.steps}, loss {rows[-1]['train_loss']:.4f},"
                      f" validation median {median:.2f} cm", flush=True)
    return eyes.eval(), pd.DataFrame(rows)


def score(estimates: np.ndarray, frames: Frames, near_gripper_m: float) -> list[dict[str, Any]]:
    """Error rows of one predictor on a split: position (cm) over all frames, near the gripper, far from it, and per
    source; velocity (cm per step) over all frames when the predictor gives one."""
    index = np.arange(len(frames))
    position = position_errors_cm(estimates, frames, index)
    near = frames.gripper_m < near_gripper_m
    groups = {"all": np.ones(len(frames), bool), "near gripper": near, "away from gripper": ~near}
    groups.update({f"source: {s}": frames.source == s for s in np.unique(frames.source)})
    rows = [{"quantity": "position", "frames": name, "n": int(mask.sum()), "median_cm": float(np.median(position[mask])),
             "p90_cm": float(np.percentile(position[mask], 90))} for name, mask in groups.items() if mask.any()]
    if estimates.shape[1] == 4:
        velocity = np.linalg.norm(estimates[:, 2:] - frames.labels[:, 2:], axis=1) * 100.0
        rows.append({"quantity": "velocity (cm/step)", "frames": "all", "n": len(frames),
                     "median_cm": float(np.median(velocity)), "p90_cm": float(np.percentile(velocity, 90))})
    return rows


def learned_nothing(train: Frames, test: Frames) -> np.ndarray:
    """The floor: always the training episodes' mean position and zero velocity, ``(len(test), 4)``."""
    mean = train.labels[train.source != "scenes", :2].mean(axis=0)
    return np.c_[np.tile(mean, (len(test), 1)), np.zeros((len(test), 2))]


@dataclass(frozen=True)
class EyesRun:
    """One training run: an encoder, a mix of training frames and a seed."""

    encoder: str
    mix: str
    seed: int

    @property
    def scratch_name(self) -> str:
        """Its weights' file name while the experiment runs (only the chosen mix's are kept)."""
        return f"{self.encoder}_{self.mix.replace('+', '_')}_s{self.seed}.pt"


def run_one(run: EyesRun, data_path: str, protocol: EyesProtocol, weights_path: str | None,
            threads: int = 1, progress: bool = True) -> dict[str, Any]:
    """Train and score one run (in a worker process); saves the weights when ``weights_path`` is given."""
    th.set_num_threads(threads)
    start, cpu = time.perf_counter(), time.process_time()
    data = load_collected(Path(data_path))
    eyes, curve = train_eyes(run.encoder, run.mix, run.seed, data, protocol, progress)
    labels = {"encoder": run.encoder, "mix": run.mix, "seed": run.seed}
    rows = [{**labels, "split": split, **row} for split in ("val", "test")
            for row in score(predict(eyes, data[split], np.arange(len(data[split]))), data[split],
                             protocol.near_gripper_m)]
    sha = save_eyes(eyes, weights_path) if weights_path else None
    return {"run": asdict(run), "errors": rows, "curve": curve.assign(**labels).to_dict("records"), "sha256": sha,
            "wall_s": time.perf_counter() - start, "cpu_s": time.process_time() - cpu}


def _median_val_error(results: list[dict[str, Any]], encoder: str, mix: str, seed: int) -> float:
    for result in results:
        if result["run"] == {"encoder": encoder, "mix": mix, "seed": seed}:
            return next(r["median_cm"] for r in result["errors"] if r["split"] == "val" and r["frames"] == "all"
                        and r["quantity"] == "position")
    raise KeyError((encoder, mix, seed))


def run_all(protocol: EyesProtocol, data_path: Path, weights_dir: Path, jobs: int = 2,
            progress: bool = True) -> tuple[list[dict[str, Any]], dict[str, str]]:
    """Phase 1: every mix at the first seed, for both encoders; the mix with the lowest validation median error is
    chosen per encoder. Phase 2: the other seeds with the chosen mix. Runs go ``jobs`` at a time, a process each."""
    first, others = protocol.seeds[0], protocol.seeds[1:]

    context = get_context("spawn")  # no forked MuJoCo/EGL or torch thread state
    with ProcessPoolExecutor(max_workers=jobs, mp_context=context) as pool:
        def run_batch(runs: list[EyesRun]) -> list[dict[str, Any]]:
            futures = [pool.submit(run_one, run, str(data_path), protocol, str(weights_dir / run.scratch_name), 1, progress) for run in runs]
            return [future.result() for future in futures]

        # ManipulationCNN's runs cost about 6x NatureCNN's: submit them first so the two workers finish together.
        results = run_batch([EyesRun(e, m, first) for e in ("manipulation", "nature") for m in MIXES])
        chosen = {e: min(MIXES, key=lambda m: _median_val_error(results, e, m, first)) for e in ENCODER_STACKS}
        results += run_batch([EyesRun(e, chosen[e], s) for e in ("manipulation", "nature") for s in others])
    return results, chosen


def weights_file(encoder: str, seed: int) -> str:
    """The committed weights of the chosen mix: one file per encoder and seed."""
    return f"eyes_{encoder}_s{seed}.pt"


def precompute(quick: bool = False, measured_dir: Path = MEASURED_DIR,
               command: str = "python -m pixelpush_lib.experiments eyes", jobs: int | None = None,
               cache_dir: Path = CACHE_DIR) -> Path:
    """Collect (or reuse) the frames, run every mix and seed, and write ``measured_dir/eyes/``."""
    protocol = QUICK if quick else PROTOCOL
    start = time.perf_counter()
    print(f"eyes: collecting frames (protocol {protocol.data_key()})", flush=True)
    data_path = cached_collect(protocol, Path(cache_dir))
    collect_s = time.perf_counter() - start
    data = load_collected(data_path)
    scratch = Path(measured_dir) / f".{EXPERIMENT}.weights"
    scratch.mkdir(parents=True, exist_ok=True)
    results, chosen = run_all(protocol, data_path, scratch, jobs or min(2, os.cpu_count() or 1))
    errors = pd.DataFrame([row for r in results for row in r["errors"]])
    floor = pd.DataFrame([{"encoder": "learned nothing", "mix": "-", "seed": -1, "split": split, **row}
                          for split in ("val", "test")
                          for row in score(learned_nothing(data["train"], data[split]), data[split],
                                           protocol.near_gripper_m)])
    errors = pd.concat([errors, floor], ignore_index=True)
    curves = pd.DataFrame([row for r in results for row in r["curve"]])
    runs = pd.DataFrame([{**r["run"], "wall_s": round(r["wall_s"], 1), "cpu_s": round(r["cpu_s"], 1),
                          "chosen_mix": r["run"]["mix"] == chosen[r["run"]["encoder"]]} for r in results])
    kept = {(r["run"]["encoder"], r["run"]["seed"]): r for r in results if r["run"]["mix"] == chosen[r["run"]["encoder"]]}
    source_of = {weights_file(e, s): scratch / EyesRun(**r["run"]).scratch_name for (e, s), r in kept.items()}
    writers: dict[str, Any] = {
        "errors.csv": lambda p: errors.to_csv(p, index=False, float_format="%.4f"),
        "curves.csv": lambda p: curves.to_csv(p, index=False, float_format="%.5f"),
        "runs.csv": lambda p: runs.to_csv(p, index=False),
    }
    for name, source in source_of.items():
        writers[name] = lambda p, source=source: p.write_bytes(source.read_bytes())
    best_seed = {e: min((s for (enc, s) in kept if enc == e), key=lambda s: _median_val_error(results, e, chosen[e], s))
                 for e in ENCODER_STACKS}
    summary = {
        "chosen_mix": chosen,
        "weights": {e: {str(s): {"file": weights_file(e, s), "sha256": kept[(e, s)]["sha256"]}
                        for (enc, s) in sorted(kept) if enc == e} for e in ENCODER_STACKS},
        "best_seed_by_validation": best_seed,
        "cpu_s_total": round(float(runs["cpu_s"].sum()), 1),
        "collect_wall_s": round(collect_s, 1),
        "samples": {split: int(len(frames)) for split, frames in data.items()},
        "train_samples_by_source": {str(k): int(v) for k, v in
                                    pd.Series(data["train"].source).value_counts().items()},
    }
    params = {**asdict(protocol), "quick": quick, "torch_threads_per_run": 1, "jobs": jobs,
              "encoder_stacks": ENCODER_STACKS, "data_key": protocol.data_key()}
    try:
        return write_measured(EXPERIMENT, writers, params, command, time.perf_counter() - start, summary, measured_dir)
    finally:
        for leftover in scratch.glob("*.pt"):
            leftover.unlink()
        scratch.rmdir()


__all__ = ["EyesProtocol", "PROTOCOL", "QUICK", "Frames", "SOURCES", "collect", "collect_episodes", "train_eyes",
           "score", "precompute"]
