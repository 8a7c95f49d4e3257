"""Step 1's spatial probe: can each encoder, trained briefly and identically, say where the puck is?

Protocol (fixed before any result was looked at; :data:`PROTOCOL`):

* Data: :func:`scenes.render_states` frames (one RGB frame, 3x84x84, no stack) with random puck and gripper
  positions; training states drawn with seed 1000, held-out test states with seed 2000 (different states).
  Frames where the puck is not visible at all are dropped from both splits (the label would be undefined).
* Target: the puck's segmentation-mask centroid in keypoint units (``scenes.pixels_to_keypoint_units``).
* Encoders, as the policies use them: ``nature`` = SB3's ``NatureCNN`` (8x8/4, 4x4/2, 3x3/1, then its Linear to
  256 + ReLU); ``manipulation`` = ``ManipulationCNN`` (32 channels) + ``SpatialSoftmax`` (learnable temperature),
  64 values. Each gets the same head type: ONE ``Linear(features, 2)``.
* Training: the same frames, the same number of Adam steps, learning rate, batch size and batch order (per seed)
  for both; MSE loss on the (x, y) target. No tuning per encoder.
* Report: held-out localisation error = Euclidean distance between predicted and true centroid, in pixels
  (median, mean, 90th percentile), per encoder and seed, next to the error of always predicting the training
  mean (what an encoder that learned nothing would score).

The full protocol is too slow to run live on 2 CPU cores (minutes); ``python -m pixelpush_lib.experiments probe``
precomputes it into ``data/measured/probe/`` and :func:`load_results` reads it. ``run_probe(quick=True)`` is a
seconds-long variant for tests (its numbers mean nothing).
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch as th
from gymnasium import spaces
from stable_baselines3.common.torch_layers import NatureCNN
from torch import nn

from pixelpush_lib.core.paths import MEASURED_DIR
from pixelpush_lib.experiments.scenes import FrameSet, pixels_to_keypoint_units, render_states
from pixelpush_lib.experiments.store import write_measured
from pixelpush_lib.nets.encoders import (MANIPULATION_LAYERS, ManipulationCNN, SpatialSoftmax, map_size,
                                         policy_vector_keys)
from pixelpush_lib.results.measured import load_manifest

ENCODERS = ("nature", "manipulation")
ENCODER_LABELS = {"nature": "NatureCNN + Linear", "manipulation": "ManipulationCNN + SpatialSoftmax + Linear"}
PX_PER_UNIT = 40.0  # keypoint units -> pixels (frames module docstring)
STATE_DICT_FILE = "manipulation_ss_seed0.pt"


@dataclass(frozen=True)
class ProbeProtocol:
    """Everything that defines one probe run; identical for both encoders."""

    n_train: int = 768
    n_test: int = 256
    train_seed: int = 1000
    test_seed: int = 2000
    steps: int = 800
    batch_size: int = 32
    learning_rate: float = 1e-3
    eval_every: int = 100
    seeds: tuple[int, ...] = (0, 1, 2)
    channels: int = 32
    camera: str = "table"  # a name of env.rendering.CAMERAS: which view the frames are rendered from


PROTOCOL = ProbeProtocol()
QUICK = ProbeProtocol(n_train=48, n_test=16, steps=30, batch_size=8, eval_every=10, seeds=(0,), channels=8)


class PuckProbe(nn.Module):
    """An encoder and one linear head: ``(B, 3, H, W)`` uint8-range floats in [0, 1] -> ``(B, 2)`` puck (x, y).

    ``spatial_softmax=False`` (ManipulationCNN only) hands the head the flattened ``channels x 21 x 21`` map instead
    of the keypoints, as ``ManipulationExtractor(spatial_softmax=False)`` hands it to a policy (Step 1's exercise).
    """

    def __init__(self, encoder: str, channels: int = 32, image_size: int = 84, precision: str = "fp32",
                 spatial_softmax: bool = True) -> None:
        super().__init__()
        self.kind = encoder
        if encoder == "nature" and precision != "fp32":
            raise ValueError(f"precision={precision!r}: the probe runs SB3's NatureCNN in fp32 only")
        if encoder == "nature" and not spatial_softmax:
            raise ValueError("spatial_softmax=False is for the ManipulationCNN probe; NatureCNN has none to remove")
        if encoder == "nature":
            space = spaces.Box(0, 255, (3, image_size, image_size), np.uint8)
            self.cnn: nn.Module = NatureCNN(space, features_dim=256, normalized_image=False)
            self.pool: nn.Module = nn.Identity()
            dim = 256
        elif encoder == "manipulation" and spatial_softmax:
            self.cnn = ManipulationCNN(3, channels, precision)
            self.pool = SpatialSoftmax(learnable_temperature=True)
            dim = 2 * channels
        elif encoder == "manipulation":
            self.cnn = ManipulationCNN(3, channels, precision)
            self.pool = nn.Flatten()
            dim = channels * map_size(MANIPULATION_LAYERS, image_size) ** 2
        else:
            raise ValueError(f"encoder={encoder!r} is not valid; allowed: {ENCODERS}")
        self.head = nn.Linear(dim, 2)

    def features(self, images: th.Tensor) -> th.Tensor:
        return self.pool(self.cnn(images))

    def forward(self, images: th.Tensor) -> th.Tensor:
        return self.head(self.features(images))


def _usable(frames: FrameSet) -> FrameSet:
    return frames.subset(frames.puck_pixels > 0)


def probe_data(protocol: ProbeProtocol = PROTOCOL) -> tuple[FrameSet, FrameSet]:
    """(train, test) frames with a visible puck, rendered as the protocol says (its camera included)."""
    return (_usable(render_states(protocol.n_train, protocol.train_seed, camera=protocol.camera)),
            _usable(render_states(protocol.n_test, protocol.test_seed, camera=protocol.camera)))


def _tensors(frames: FrameSet) -> tuple[th.Tensor, th.Tensor]:
    images = th.as_tensor(frames.rgb, dtype=th.float32) / 255.0
    return images, th.as_tensor(pixels_to_keypoint_units(frames.puck_px), dtype=th.float32)


def localisation_errors_px(model: PuckProbe, frames: FrameSet, batch: int = 64) -> np.ndarray:
    """``(N,)`` Euclidean error in pixels between predicted and true puck centroids."""
    images, target = _tensors(frames)
    model.eval()
    with th.no_grad():
        pred = th.cat([model(images[i:i + batch]) for i in range(0, len(images), batch)])
    model.train()
    return (pred - target).norm(dim=1).numpy() * PX_PER_UNIT


def train_probe(encoder: str, train: FrameSet, test: FrameSet, seed: int, protocol: ProbeProtocol = PROTOCOL,
                precision: str = "fp32", spatial_softmax: bool = True) -> tuple[PuckProbe, pd.DataFrame]:
    """Train one probe (its convolutions in ``precision``; ``spatial_softmax=False``: ManipulationCNN's flattened
    map instead of its keypoints); returns the model and its curve (step, train_loss, test_median_px)."""
    th.manual_seed(seed)  # same seed -> same batch order for both encoders (init differs by architecture)
    model = PuckProbe(encoder, protocol.channels, precision=precision, spatial_softmax=spatial_softmax)
    images, target = _tensors(train)
    order = th.Generator().manual_seed(seed)
    optimizer = th.optim.Adam(model.parameters(), lr=protocol.learning_rate)
    rows, losses = [], []
    for step in range(1, protocol.steps + 1):
        idx = th.randint(0, len(images), (protocol.batch_size,), generator=order)
        loss = nn.functional.mse_loss(model(images[idx]), target[idx])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(float(loss.detach()))
        if step % protocol.eval_every == 0 or step == protocol.steps:
            rows.append({"step": step, "train_loss": float(np.mean(losses[-protocol.eval_every:])),
                         "test_median_px": float(np.median(localisation_errors_px(model, test)))})
    return model, pd.DataFrame(rows)


def mean_predictor_errors_px(train: FrameSet, test: FrameSet) -> np.ndarray:
    """Errors of always answering the training set's mean puck position (the 'learned nothing' floor)."""
    mean = pixels_to_keypoint_units(train.puck_px).mean(axis=0)
    return np.linalg.norm(pixels_to_keypoint_units(test.puck_px) - mean, axis=1) * PX_PER_UNIT


@dataclass
class ProbeResult:
    """``errors``: one row per (encoder, seed) with median/mean/p90 error in px; ``curves``: long format
    (encoder, seed, step, train_loss, test_median_px); ``model``: the seed-0 ManipulationCNN+SS probe."""

    errors: pd.DataFrame
    curves: pd.DataFrame
    protocol: ProbeProtocol
    model: PuckProbe | None = None
    n_train: int = 0
    n_test: int = 0


def _summary_row(encoder: str, seed: int, errors: np.ndarray) -> dict[str, float | int | str]:
    return {"encoder": encoder, "seed": seed, "median_px": float(np.median(errors)),
            "mean_px": float(np.mean(errors)), "p90_px": float(np.percentile(errors, 90))}


def run_probe(quick: bool = False, protocol: ProbeProtocol | None = None) -> ProbeResult:
    """Run the probe for both encoders and every seed of the protocol (``quick``: tiny sizes, seconds)."""
    protocol = protocol or (QUICK if quick else PROTOCOL)
    train, test = probe_data(protocol)
    rows = [_summary_row("mean predictor", -1, mean_predictor_errors_px(train, test))]
    curves, kept = [], None
    for seed in protocol.seeds:
        for encoder in ENCODERS:
            model, curve = train_probe(encoder, train, test, seed, protocol)
            rows.append(_summary_row(encoder, seed, localisation_errors_px(model, test)))
            curves.append(curve.assign(encoder=encoder, seed=seed))
            if encoder == "manipulation" and seed == protocol.seeds[0]:
                kept = model
    return ProbeResult(pd.DataFrame(rows), pd.concat(curves, ignore_index=True), protocol, kept, len(train), len(test))


def summarise(errors: pd.DataFrame) -> pd.DataFrame:
    """Per encoder: median over seeds of the median error, and its min-max over seeds (pixels)."""
    g = errors.groupby("encoder", sort=False)["median_px"]
    return pd.DataFrame({"median_px (median over seeds)": g.median(), "min over seeds": g.min(),
                         "max over seeds": g.max(), "seeds": g.size()})


def probe_facts(errors: pd.DataFrame) -> dict[str, str]:
    """What Step 1 states about the probe, for ``{glue:text}``: each encoder's median error (px, median over
    seeds), the mean predictor's, the number of seeds and on how many ManipulationCNN was the more precise."""
    summary = summarise(errors)["median_px (median over seeds)"]
    per_seed = errors[errors["seed"] >= 0].pivot_table(index="seed", columns="encoder", values="median_px")
    manip_wins = int((per_seed["manipulation"] < per_seed["nature"]).sum())
    return {"probe_nature_px": f"{summary['nature']:.2f}", "probe_manip_px": f"{summary['manipulation']:.2f}",
            "probe_mean_px": f"{summary['mean predictor']:.1f}", "probe_seeds": str(len(per_seed)),
            "probe_manip_wins": "every seed" if manip_wins == len(per_seed) else f"{manip_wins} of {len(per_seed)} seeds"}


# --- precompute / load -------------------------------------------------------------------------


def precompute(quick: bool = False, measured_dir: Path = MEASURED_DIR,
               command: str = "python -m pixelpush_lib.experiments probe") -> Path:
    """Run the full protocol and write ``measured_dir/probe/`` (errors.csv, curves.csv, the seed-0 probe)."""
    start = time.perf_counter()
    result = run_probe(quick=quick)
    summary = summarise(result.errors).reset_index().to_dict(orient="records")
    writers = {
        "errors.csv": lambda p: result.errors.to_csv(p, index=False, float_format="%.4f"),
        "curves.csv": lambda p: result.curves.to_csv(p, index=False, float_format="%.5f"),
        STATE_DICT_FILE: lambda p: th.save(result.model.state_dict(), p),
    }
    params = {**asdict(result.protocol), "n_train_used": result.n_train, "n_test_used": result.n_test,
              "quick": quick, "torch_threads": th.get_num_threads()}
    return write_measured("probe", writers, params, command, time.perf_counter() - start, {"per_encoder": summary},
                          measured_dir)


def load_results(measured_dir: Path = MEASURED_DIR) -> ProbeResult:
    """The precomputed probe (validated manifest), with the trained seed-0 ManipulationCNN+SS probe loaded."""
    manifest = load_manifest("probe", measured_dir)
    folder = measured_dir / "probe"
    params = manifest["parameters"]
    protocol = ProbeProtocol(**{k: tuple(v) if k == "seeds" else v for k, v in params.items()
                                if k in ProbeProtocol.__dataclass_fields__})
    return ProbeResult(pd.read_csv(folder / "errors.csv"), pd.read_csv(folder / "curves.csv"), protocol,
                       load_trained_probe(measured_dir), params["n_train_used"], params["n_test_used"])


def load_trained_probe(measured_dir: Path = MEASURED_DIR) -> PuckProbe:
    """The seed-0 ManipulationCNN + SpatialSoftmax probe trained by the precomputed protocol (eval mode)."""
    params = load_manifest("probe", measured_dir)["parameters"]
    model = PuckProbe("manipulation", params["channels"])
    model.load_state_dict(th.load(measured_dir / "probe" / STATE_DICT_FILE, weights_only=True))
    return model.eval()


# --- what the policy sees ------------------------------------------------------------------------


def policy_inputs_table(policy_sees_achieved_goal: bool = False) -> pd.DataFrame:
    """Keys of ``make_env("pixels")``'s observation, their shapes, whether they carry the puck's position, and
    whether the extractor passes them to the policy (``encoders.policy_vector_keys``)."""
    from pixelpush_lib.env.wrappers import PROPRIO_NAMES, make_env

    env = make_env("pixels")
    space = env.observation_space
    env.close()
    vectors = policy_vector_keys(policy_sees_achieved_goal)
    carries = {"pixels": "yes, implicitly (must be extracted by the encoder)",
               "proprio": f"no (robot only: {', '.join(PROPRIO_NAMES)})",
               "achieved_goal": "yes, exactly (the puck's 3-D position, metres)",
               "desired_goal": "no (the target position)"}
    rows = [{"key": key, "shape": tuple(space[key].shape), "dtype": str(space[key].dtype),
             "carries puck position": carries[key],
             "reaches the policy": "yes" if key == "pixels" or key in vectors else "no (HER only)"}
            for key in space.spaces]
    return pd.DataFrame(rows).set_index("key")


# --- figures ---------------------------------------------------------------------------------------


