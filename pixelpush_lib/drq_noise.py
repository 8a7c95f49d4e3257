"""Step 4: how much noise DrQ's random shifts put into SpatialSoftmax keypoints, against the signal they carry.

Measurement (:func:`measure_drq_noise`), on real frames from :func:`frames.render_states` (puck and gripper both
visible):

* **Noise**: each frame is shifted twice, independently, by DrQ's ``random_shift`` (+/-``pad`` px, as obs and
  next_obs are in a DrQ batch); the encoder's keypoints are computed for both copies and their Euclidean
  displacement ``|kp(A) - kp(B)|`` is taken per channel (keypoint units, the SpatialSoftmax's [-1, 1] space). We
  also report the displacement of the probe's decoded puck estimate, and the pure geometry: the content shift
  ``|offset_A - offset_B|`` converted to keypoint units (4 px = one 21-map cell = 0.1), what a keypoint that
  follows the image exactly would move.
* **Signal**: the gripper-puck distance in the same units, from the segmentation masks' centroids
  (``frames.pixels_to_keypoint_units``), one value per state: reported as a distribution.
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
from matplotlib.figure import Figure

from pixelpush_lib.augment import random_shift
from pixelpush_lib.curves import DATA_DIR, load_facts
from pixelpush_lib.experiments import MEASURED_DIR, load_manifest, write_measured
from pixelpush_lib.frames import MAP_CELLS, TOTAL_STRIDE, FrameSet, pixels_to_keypoint_units, render_states
from pixelpush_lib.plots import OKABE_ITO
from pixelpush_lib.probe import PuckProbe

SERIES_COLORS = {"keypoints": OKABE_ITO["vermillion"], "puck estimate": OKABE_ITO["blue"],
                 "pure geometry": OKABE_ITO["black"], "signal": OKABE_ITO["green"]}


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


def noise_figure(result: DrQNoiseResult, data_dir: Path = DATA_DIR) -> Figure:
    """Left: measured noise and signal distributions (keypoint units) with the log's figures; right: measured
    noise-to-signal distributions with the log's 40-80% band and 57% line."""
    s = result.samples
    fig = Figure(figsize=(10, 3.6), layout="constrained")
    left, right = fig.subplots(1, 2)
    bins = np.linspace(0, max(1.2, float(s["signal"].max())), 40)
    for col, key in (("signal", "signal"), ("keypoints", "keypoints"), ("puck_estimate", "puck estimate"),
                     ("geometry", "pure geometry")):
        left.hist(s[col], bins=bins, histtype="step", lw=1.5, color=SERIES_COLORS[key], label=key)
    left.axvspan(0.25, 0.5, color=OKABE_ITO["green"], alpha=0.12, label="log: signal 0.25-0.50")
    log_lines = ((0.1, ":", "log: noise +/-0.10"), (0.2, "--", "log: doubled +/-0.20"), (0.42, "-.", "log: +/-0.42"),
                 (0.74, "-", "log: distance ~0.74"))
    for x, ls, lab in log_lines:
        left.axvline(x, color=OKABE_ITO["black"], ls=ls, lw=1, label=lab)
    left.set_xlabel("keypoint units ([-1, 1] space; 0.1 = one 21-map cell)")
    left.set_ylabel("count")
    left.set_title("measured: DrQ noise vs gripper-puck signal", fontsize=9)
    fig.suptitle(f"encoder: {result.encoder}; +/-{result.pad} px shifts, obs and next_obs independent", fontsize=8)
    left.legend(fontsize=6)
    ratio_bins = np.linspace(0, 2, 41)
    ratios = (("nsr_keypoints", "keypoints"), ("nsr_puck_estimate", "puck estimate"), ("nsr_geometry", "pure geometry"))
    for col, key in ratios:
        right.hist(s[col].clip(upper=2), bins=ratio_bins, histtype="step", lw=1.5, color=SERIES_COLORS[key],
                   label=f"{key}: median {s[col].median():.0%}")
    right.axvspan(0.4, 0.8, color=OKABE_ITO["yellow"], alpha=0.3, label="log: 40-80%")
    right.axvline(0.57, color=OKABE_ITO["black"], ls="-.", lw=1, label="log: 57%")
    right.set_xlabel("noise / signal (per state and shift pair; clipped at 2)")
    right.set_title("measured noise-to-signal distribution", fontsize=9)
    right.legend(fontsize=6)
    return fig


# --- precompute / load ------------------------------------------------------------------------------

ENCODER_TRAINED = "ManipulationCNN+SS trained by the Step 1 probe (data/measured/probe, seed 0)"
ENCODER_RANDOM = "ManipulationCNN+SS, random init (seed 0)"


def run(n_states: int = 256, seed: int = 3000, pairs: int = 4, pad: int = 4,
        measured_dir: Path = MEASURED_DIR) -> dict[str, DrQNoiseResult]:
    """The measurement for the trained probe encoder and, as the pitfall, an untrained one (same frames, shifts)."""
    from pixelpush_lib.probe import load_trained_probe

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
