"""Step 4: how much noise DrQ's random shifts put into SpatialSoftmax keypoints, against the signal they carry.

Measurement (:func:`measure_drq_noise`), on real frames from :func:`scenes.render_states` (puck and gripper both
visible):

* **Noise**: each frame is shifted twice, independently, by DrQ's ``random_shift`` (+/-``pad`` px, as obs and
  next_obs are in a DrQ batch); the encoder's keypoints are computed for both copies and their Euclidean
  displacement ``|kp(A) - kp(B)|`` is taken per channel (keypoint units, the SpatialSoftmax's [-1, 1] space). We
  also report the displacement of the probe's decoded puck estimate, and the pure geometry: the content shift
  ``|offset_A - offset_B|`` converted to keypoint units (4 px = one 21-map cell = 0.1), what a keypoint that
  follows the image exactly would move.
* **Signal**: the gripper-puck distance in the same units, from the segmentation masks' centroids
  (``scenes.pixels_to_keypoint_units``), one value per state: reported as a distribution.
* **Noise-to-signal**: per (state, shift pair), noise / that state's signal.

Which encoder: by default the ManipulationCNN + SpatialSoftmax trained by the Step 1 probe
(``data/measured/probe/``), because a randomly initialised encoder's keypoints sit near the centre and barely move
(its numbers are reported beside, as the pitfall). The probe saw single RGB frames; the policy's encoder sees four
stacked frames, which a shift moves together, so the geometry is the same.

Live it takes about 10-20 s for 128 states on 2 CPU cores; the committed result uses 256 states.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch as th

from pixelpush_lib.core.paths import DATA_DIR, MEASURED_DIR
from pixelpush_lib.experiments.probe import PuckProbe
from pixelpush_lib.experiments.scenes import MAP_CELLS, TOTAL_STRIDE, FrameSet, pixels_to_keypoint_units, render_states
from pixelpush_lib.experiments.store import write_measured
from pixelpush_lib.nets.augment import random_shift
from pixelpush_lib.results.loaders import load_facts
from pixelpush_lib.results.measured import load_manifest
from pixelpush_lib.results.quoted_numbers import Number, chapter_numbers


def cell_size_units(map_cells: int = MAP_CELLS) -> float:
    """Distance between neighbouring cell centres in SpatialSoftmax units: ``2 / (map_cells - 1)`` (0.1 for 21)."""
    return 2.0 / (map_cells - 1)


def geometric_displacement_units(offsets_px: np.ndarray, total_stride: int = TOTAL_STRIDE,
                                 map_cells: int = MAP_CELLS) -> np.ndarray:
    """Keypoint displacement ``(..., 2)`` of a keypoint that follows image content shifted by ``-offsets_px``
    (``random_shift``'s offsets: positive = content moved left/up): ``offset / total_stride`` cells."""
    return -np.asarray(offsets_px, dtype=float) / total_stride * cell_size_units(map_cells)


@dataclass
class DrQNoiseResult:
    """``samples``: one row per (state, shift pair): ``state``, ``signal`` (gripper-puck distance, units),
    ``geometry`` (|content shift difference|, units), ``keypoints`` (median over channels of |kp(A)-kp(B)|),
    ``keypoints_max`` (max over channels), ``puck_estimate`` (|probe(A)-probe(B)|, NaN without a head) and the
    three ratios ``nsr_*``. ``tracking_gain``: per channel, least-squares slope of keypoint displacement on the
    geometric displacement (1 = follows the image, 0 = ignores it). ``encoder``: which encoder was used."""

    samples: pd.DataFrame
    tracking_gain: np.ndarray
    encoder: str
    pad: int


def measure_drq_noise(model: PuckProbe, frames: FrameSet, encoder: str, pad: int = 4, pairs: int = 4,
                      seed: int = 0) -> DrQNoiseResult:
    """Keypoint noise from two independent DrQ shifts per state, ``pairs`` pairs per state, vs the signal."""
    frames = frames.subset(frames.both_visible)
    images = th.as_tensor(frames.rgb).repeat_interleave(pairs, dim=0)  # uint8 (N*pairs, 3, H, W)
    generator = th.Generator().manual_seed(seed)
    shifted_a, off_a = random_shift(images, pad, generator, return_shifts=True)
    shifted_b, off_b = random_shift(images, pad, generator, return_shifts=True)
    kp_a, est_a = _keypoints(model, shifted_a)
    kp_b, est_b = _keypoints(model, shifted_b)
    displacement = kp_a - kp_b  # (M, C, 2)
    geometry = geometric_displacement_units((off_a - off_b).numpy())  # (M, 2)
    signal = np.linalg.norm(pixels_to_keypoint_units(frames.puck_px) - pixels_to_keypoint_units(frames.gripper_px),
                            axis=1).repeat(pairs)
    per_channel = np.linalg.norm(displacement, axis=-1)  # (M, C)
    samples = pd.DataFrame({
        "state": np.arange(len(frames)).repeat(pairs), "signal": signal,
        "geometry": np.linalg.norm(geometry, axis=1), "keypoints": np.median(per_channel, axis=1),
        "keypoints_max": per_channel.max(axis=1), "puck_estimate": np.linalg.norm(est_a - est_b, axis=1)})
    for col in ("geometry", "keypoints", "puck_estimate"):
        samples[f"nsr_{col}"] = samples[col] / samples["signal"]
    return DrQNoiseResult(samples, _tracking_gain(displacement, geometry), encoder, pad)


def _keypoints(model: PuckProbe, images: th.Tensor, batch: int = 64) -> tuple[np.ndarray, np.ndarray]:
    """``(M, C, 2)`` keypoints and ``(M, 2)`` puck estimates of uint8 images."""
    kps, ests = [], []
    with th.no_grad():
        for i in range(0, len(images), batch):
            x = images[i:i + batch].float() / 255.0
            features = model.cnn(x)
            kp = model.pool.keypoints(features)
            kps.append(kp.numpy())
            ests.append(model.head(kp.flatten(1)).numpy())
    return np.concatenate(kps), np.concatenate(ests)


def _tracking_gain(displacement: np.ndarray, geometry: np.ndarray) -> np.ndarray:
    """Per channel, slope of keypoint displacement on geometric displacement (both axes pooled)."""
    g = geometry.reshape(-1)
    denom = float(g @ g)
    return np.array([float(displacement[:, c, :].reshape(-1) @ g) / denom for c in range(displacement.shape[1])])


def _describe(values: pd.Series) -> dict[str, float]:
    q = values.quantile([0.1, 0.25, 0.5, 0.75, 0.9])
    return {"p10": q[0.1], "p25": q[0.25], "median": q[0.5], "p75": q[0.75], "p90": q[0.9]}


def summary_table(result: DrQNoiseResult) -> pd.DataFrame:
    """Distribution (p10/p25/median/p75/p90) of noise, signal and noise-to-signal, measured."""
    s = result.samples
    names = {"signal": "signal: gripper-puck distance (units)",
             "geometry": "noise, pure geometry |shift A - shift B| (units)",
             "keypoints": "noise, keypoints: median channel |kp A - kp B| (units)",
             "keypoints_max": "noise, keypoints: most-moving channel (units)",
             "puck_estimate": "noise, probe's puck estimate (units)",
             "nsr_geometry": "noise/signal, pure geometry", "nsr_keypoints": "noise/signal, keypoints (median channel)",
             "nsr_puck_estimate": "noise/signal, probe's puck estimate"}
    table = pd.DataFrame({label: _describe(s[col]) for col, label in names.items()}).T
    table.index.name = f"measured ({result.encoder}; +/-{result.pad} px, obs and next_obs shifted independently)"
    return table


def log_figures(data_dir: Path = DATA_DIR) -> pd.DataFrame:
    """The author's two contradicting accounts of the DrQ noise (``data/reported/facts.csv``), with sources."""
    facts = load_facts(data_dir)
    rows = facts[facts["fact"].isin(["drq_noise_coord", "drq_noise_coord_doubled", "drq_signal_coord",
                                     "drq_noise_to_signal"])]
    def fmt(r: pd.Series) -> str:
        return f"{r['value']:g}" if pd.notna(r["value"]) else f"{r['value_low']:g}-{r['value_high']:g}"

    return pd.DataFrame({"fact": rows["fact"], "value": rows.apply(fmt, axis=1), "unit": rows["unit"],
                         "source": rows["source_file"] + ":" + rows["source_lines"].astype(str),
                         "note": rows["note"]}).reset_index(drop=True)


def geometry_facts(pad: int = 4, map_cells: int = MAP_CELLS) -> dict[str, float]:
    """The arithmetic behind the log's +/-0.10: one cell, the largest single shift, the largest difference."""
    cell = cell_size_units(map_cells)
    return {"one feature cell (units)": cell,
            f"largest single shift, {pad} px, per axis (units)": pad / TOTAL_STRIDE * cell,
            "largest obs/next_obs difference, per axis (units)": 2 * pad / TOTAL_STRIDE * cell}


def random_encoder(channels: int = 32, seed: int = 0) -> PuckProbe:
    """An untrained ManipulationCNN + SpatialSoftmax (+ untrained head): the pitfall's encoder."""
    th.manual_seed(seed)
    return PuckProbe("manipulation", channels).eval()


# --- precompute / load ------------------------------------------------------------------------------

ENCODER_TRAINED = "ManipulationCNN+SS trained by the Step 1 probe (data/measured/probe, seed 0)"
ENCODER_RANDOM = "ManipulationCNN+SS, random init (seed 0)"


def run(n_states: int = 256, seed: int = 3000, pairs: int = 4, pad: int = 4,
        measured_dir: Path = MEASURED_DIR) -> dict[str, DrQNoiseResult]:
    """The measurement for the trained probe encoder and, as the pitfall, an untrained one (same frames, shifts)."""
    from pixelpush_lib.experiments.probe import load_trained_probe

    frames = render_states(n_states, seed)
    return {"trained": measure_drq_noise(load_trained_probe(measured_dir), frames, ENCODER_TRAINED, pad, pairs),
            "random": measure_drq_noise(random_encoder(), frames, ENCODER_RANDOM, pad, pairs)}


def precompute(quick: bool = False, measured_dir: Path = MEASURED_DIR,
               command: str = "python -m pixelpush_lib.experiments drq_noise") -> Path:
    """Write ``measured_dir/drq_noise/`` (samples and tracking gains per encoder). Needs the probe's results."""
    start = time.perf_counter()
    params = {"n_states": 24 if quick else 256, "seed": 3000, "pairs": 2 if quick else 4, "pad": 4, "quick": quick,
              "probe_commit": load_manifest("probe", measured_dir)["provenance"]["git_commit"]}
    results = run(params["n_states"], params["seed"], params["pairs"], params["pad"], measured_dir)
    writers = {}
    for key, r in results.items():
        gains = pd.DataFrame({"channel": range(len(r.tracking_gain)), "gain": r.tracking_gain})
        writers[f"samples_{key}.csv"] = lambda p, r=r: r.samples.to_csv(p, index=False, float_format="%.5f")
        writers[f"tracking_gain_{key}.csv"] = lambda p, g=gains: g.to_csv(p, index=False, float_format="%.4f")
    summary = {key: {"encoder": r.encoder, "median_signal": float(r.samples["signal"].median()),
                     "median_nsr_keypoints": float(r.samples["nsr_keypoints"].median()),
                     "median_nsr_puck_estimate": float(r.samples["nsr_puck_estimate"].median()),
                     "median_tracking_gain": float(np.median(r.tracking_gain))} for key, r in results.items()}
    return write_measured("drq_noise", writers, params, command, time.perf_counter() - start, summary, measured_dir)


def load_results(measured_dir: Path = MEASURED_DIR) -> dict[str, DrQNoiseResult]:
    """The precomputed measurement (validated manifest): ``{"trained": ..., "random": ...}``."""
    manifest = load_manifest("drq_noise", measured_dir)
    folder = measured_dir / "drq_noise"
    return {key: DrQNoiseResult(pd.read_csv(folder / f"samples_{key}.csv"),
                                pd.read_csv(folder / f"tracking_gain_{key}.csv")["gain"].to_numpy(),
                                manifest["summary"][key]["encoder"], manifest["parameters"]["pad"])
            for key in ("trained", "random")}


# --- What Step 4's page glues ------------------------------------------------------------------------------------


def drq_facts(result: DrQNoiseResult, numbers: dict[str, Number] | None = None,
              data_dir: Path = DATA_DIR) -> dict[str, str]:
    """Step 4's numbers as prose (name -> text for ``{glue:text}``): the measured noise and signal of DrQ's
    shift on keypoints, against the log's figures (``numbers`` defaults to the chapter's quoted numbers)."""
    numbers = chapter_numbers(data_dir) if numbers is None else numbers
    samples = result.samples
    ratio = samples["nsr_puck_estimate"]
    log_low = numbers["drq_noise_to_signal"].low  # the log's 40-80% range, reported
    above = ratio > log_low
    moving = result.tracking_gain[result.tracking_gain > 0]  # channels that respond to the image at all
    geometry = geometry_facts()
    log = log_figures(data_dir)
    log_noise = log[log["fact"] == "drq_noise_coord"]["value"].astype(float)
    single_ratios = [float(v) for v in log[log["fact"] == "drq_noise_to_signal"]["value"].astype(str) if "-" not in v]
    return {
        "drq_encoder": result.encoder,
        "drq_states": str(samples["state"].nunique()),
        "drq_signal_median": f"{samples['signal'].median():.2f}",
        "drq_noise_median": f"{samples['puck_estimate'].median():.3f}",
        "drq_nsr_median": f"{100 * ratio.median():.0f}%",
        "drq_nsr_iqr": f"{100 * ratio.quantile(0.25):.0f}-{100 * ratio.quantile(0.75):.0f}%",
        "drq_nsr_threshold": f"{100 * log_low:.0f}%",
        "drq_nsr_above_log": f"{100 * above.mean():.0f}%",
        "drq_signal_above_log": f"{samples.loc[above, 'signal'].median():.2f}",
        "drq_noise_max": f"{samples['puck_estimate'].max():.2f}",
        "drq_tracking_gain": f"{np.median(moving):.2f}",
        "drq_cell_units": f"{geometry['one feature cell (units)']:.1f}",
        "drq_pair_units": f"{geometry['largest obs/next_obs difference, per axis (units)']:.1f}",
        "log_noise_small": f"{log_noise.min():.2f}",
        "log_noise_large": f"{log_noise.max():.2f}",
        "log_nsr_single": f"{100 * max(single_ratios):.0f}%",
    }
