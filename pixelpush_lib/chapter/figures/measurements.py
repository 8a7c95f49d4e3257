"""Figures of the live experiments (footprint, probe, gradient flow, stop rules, DrQ noise, pixel students).

Each takes what its experiment in :mod:`pixelpush_lib.experiments` measured and draws it; nothing here measures.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import torch as th
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, MaxNLocator, PercentFormatter

from pixelpush_lib.chapter.figures.curves import SourcesTable
from pixelpush_lib.chapter.style import CONFIG_COLORS, FIG_WIDTH, FONT_MIN, OKABE_ITO, PHASE_COLORS, readable
from pixelpush_lib.core.paths import DATA_DIR, MEASURED_DIR
from pixelpush_lib.experiments.drq_noise import DrQNoiseResult
from pixelpush_lib.experiments.footprint import FootprintResult, layer_geometry, owned_cells, puck_pixels_in_rf
from pixelpush_lib.experiments.patience import replay_stop_rules, step2_loss_table, step2_success_curve
from pixelpush_lib.experiments.probe import ENCODER_LABELS, ENCODERS, ProbeResult, PuckProbe
from pixelpush_lib.experiments.scenes import FrameSet, keypoint_units_to_pixels
from pixelpush_lib.results.measured import load_manifest
from pixelpush_lib.results.investigations.students import PUSHES, DistillResult, control_for, runs_table

# --- drq_noise -----------------------------------------------------------------------------------


SERIES_COLORS = {"keypoints": OKABE_ITO["vermillion"], "puck estimate": OKABE_ITO["blue"],
                 "pure geometry": OKABE_ITO["black"], "signal": OKABE_ITO["green"]}
def noise_figure(result: DrQNoiseResult, data_dir: Path = DATA_DIR) -> Figure:
    """Top: measured noise and signal distributions (keypoint units) with the log's figures; bottom: measured
    noise-to-signal distributions with the log's 40-80% band and 57% line. One above the other, legends below each,
    so a phone reads them."""
    s = result.samples
    fig = Figure(figsize=(FIG_WIDTH, 10), layout="constrained")
    left, right = fig.subplots(2, 1)
    bins = np.linspace(0, max(1.2, float(s["signal"].max())), 40)
    for col, key in (("signal", "signal"), ("keypoints", "keypoints"), ("puck_estimate", "puck estimate"),
                     ("geometry", "pure geometry")):
        left.hist(s[col], bins=bins, histtype="step", lw=1.5, color=SERIES_COLORS[key], label=key)
    left.axvspan(0.25, 0.5, color=OKABE_ITO["green"], alpha=0.12, label="log: signal 0.25-0.50")
    log_lines = ((0.1, ":", "log: noise \u00b10.10"), (0.2, "--", "log: doubled \u00b10.20"),
                 (0.42, "-.", "log: \u00b10.42"), (0.74, "-", "log: distance ~0.74"))
    for x, ls, lab in log_lines:
        left.axvline(x, color=OKABE_ITO["black"], ls=ls, lw=1, label=lab)
    left.set_xlabel("keypoint units (0.1 = one cell of the 21x21 map)")
    left.set_ylabel("states")
    left.set_title("measured: DrQ's noise against the signal")
    fig.suptitle(f"Measured: \u00b1{result.pad} px shifts, obs and next obs shifted independently", fontsize=FONT_MIN + 1)
    left.legend(fontsize=FONT_MIN, loc="upper center", bbox_to_anchor=(0.5, -0.2), ncol=2, frameon=False)
    ratio_bins = np.linspace(0, 2, 41)
    ratios = (("nsr_keypoints", "keypoints"), ("nsr_puck_estimate", "puck estimate"), ("nsr_geometry", "pure geometry"))
    for col, key in ratios:
        right.hist(s[col].clip(upper=2), bins=ratio_bins, histtype="step", lw=1.5, color=SERIES_COLORS[key],
                   label=f"{key}: median {s[col].median():.0%}")
    right.axvspan(0.4, 0.8, color=OKABE_ITO["yellow"], alpha=0.3, label="log: 40-80%")
    right.axvline(0.57, color=OKABE_ITO["black"], ls="-.", lw=1, label="log: 57%")
    right.set_xlabel("noise / signal (per state and shift pair; clipped at 2)")
    right.set_ylabel("states")
    right.set_title("measured: noise-to-signal ratio")
    right.legend(fontsize=FONT_MIN, loc="upper center", bbox_to_anchor=(0.5, -0.2), ncol=1, frameon=False)
    return readable(fig)


# --- distill -------------------------------------------------------------------------------------

STUDENT_LABELS = {"manipulation": "ManipulationCNN + SpatialSoftmax", "nature": "NatureCNN"}


def distill_figure(result: DistillResult, measured_dir: Path = MEASURED_DIR) -> Figure:
    """Validation success (fraction) of each pixel student against the expert labels it has trained on: one line
    per seed through its rounds (round 0 is behaviour cloning), colour per encoder; the state control's seeds in
    grey when it ran on the same budgets; the teacher's success dashed."""
    expert_success = load_manifest("expert", measured_dir)["summary"]["success_rate"]
    fig = Figure(figsize=(FIG_WIDTH, 5.4), layout="constrained", dpi=110)
    ax = fig.add_subplot()
    for encoder, runs in result.curve.groupby("encoder", sort=True):
        config = runs["config"].iloc[0]
        for i, (seed, run) in enumerate(runs.groupby("seed", sort=True)):
            run = run.sort_values("round")
            label = f"{STUDENT_LABELS[encoder]}, {runs['seed'].nunique()} seeds" if i == 0 else "_"
            ax.plot(run["labels"], run["success_rate"], color=CONFIG_COLORS[config], marker="o", ms=4, lw=1.4,
                    alpha=0.9, label=label)
    control = control_for(result, measured_dir)
    if control is not None:
        for i, (seed, run) in enumerate(control.curve.groupby("seed", sort=True)):
            run = run.sort_values("round")
            label = (f"control: the state policy, same teaching, {control.curve['seed'].nunique()} seeds"
                     if i == 0 else "_")
            ax.plot(run["labels"], run["success_rate"], color=OKABE_ITO["black"], marker="s", ms=3, lw=1,
                    alpha=0.45, label=label)
    ax.axhline(expert_success, color=OKABE_ITO["black"], ls="--", lw=1, label="the scripted expert (measured)")
    ax.axhspan(0, PUSHES, color=OKABE_ITO["black"], alpha=0.06, lw=0, label=f"at or below {PUSHES:.0%}: not pushing")
    ax.set_ylim(-0.02, 1.02)
    ax.set_xlim(left=0)
    ax.xaxis.set_major_formatter(FuncFormatter(lambda x, _: f"{x / 1000:g}K" if x else "0"))
    ax.set_xlabel("expert labels trained on (environment steps)")
    ax.set_ylabel("success rate (fraction of\nvalidation episodes)")
    ax.grid(alpha=0.3)
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.18), ncol=1, fontsize=FONT_MIN, frameon=False)
    return readable(fig)


def distill_sources(result: DistillResult) -> SourcesTable:
    """The collapsible "Where these numbers come from" table under ``distill_figure``: each run that taught
    students, where it ran, how it ended and what it cost (:func:`~pixelpush_lib.results.investigations.students.runs_table`)."""
    return SourcesTable(runs_table(result).reset_index())


# --- footprint -----------------------------------------------------------------------------------


def footprint_figure(result: FootprintResult, index: int = 0) -> Figure:
    """One real observation in six panels: the newest frame with the puck's mask outlined, then for NatureCNN's
    three layers and ManipulationCNN's last the puck's share of each cell's receptive field, and the whole stack.

    The four maps share one colour scale, from 0 to the largest share in any of them, with its bar in the last panel: each map
    on a scale of its own would paint its best cell full blue, so a layer where the puck is 3% of the field would
    look as full as one where it is 44%."""
    obs = result.observations[index]
    k = obs.pixels.shape[0] // 3
    panels = [("NatureCNN", g) for g in layer_geometry("NatureCNN")]
    panels.append(("ManipulationCNN", layer_geometry("ManipulationCNN")[-1]))
    fig = Figure(figsize=(FIG_WIDTH, 9.6), layout="constrained", dpi=110)
    axes = fig.subplots(3, 2).ravel()  # two panels a row: a phone reads them
    ax = axes[0]
    ax.imshow(obs.pixels[-3:].transpose(1, 2, 0))
    ax.contour(obs.puck_mask, levels=[0.5], colors=OKABE_ITO["vermillion"], linewidths=1.2)
    ax.set_title(f"newest frame, 84x84\npuck mask: {int(obs.puck_mask.sum())} px", fontsize=FONT_MIN)
    ax.set_axis_off()
    shares = [puck_pixels_in_rf(obs.puck_mask, g) / g.rf ** 2 for _, g in panels]
    scale = {"cmap": "Blues", "vmin": 0.0, "vmax": max(max(share.max() for share in shares), 1e-9)}
    for ax, (arch, g), share in zip(axes[1:5], panels, shares):
        image = ax.imshow(share, **scale)
        ax.contour(owned_cells(obs.puck_mask, g), levels=[0.5], colors=OKABE_ITO["vermillion"], linewidths=1)
        ax.set_title(f"{arch} layer {g.layer}: {g.size}x{g.size}\nbest cell: {100 * share.max():.0f}% puck",
                     fontsize=FONT_MIN)
        ax.set_xticks([])
        ax.set_yticks([])
    stack = np.concatenate([obs.pixels[3 * t:3 * t + 3].transpose(1, 2, 0) for t in range(k)], axis=1)
    axes[5].imshow(stack)
    axes[5].set_title(f"the {k}-frame stack, oldest left", fontsize=FONT_MIN)
    axes[5].set_axis_off()
    # the scale's bar under the frame stack, in that panel's spare room (an inset: the figure keeps its six panels)
    bar = fig.colorbar(image, cax=axes[5].inset_axes([0.05, -1.0, 0.9, 0.22]), orientation="horizontal",
                       ticks=MaxNLocator(4), format=PercentFormatter(1.0, decimals=0))
    bar.set_label("the puck's share of a cell's\nreceptive field: one scale\nfor the four maps")
    fig.suptitle("Measured on a real observation. Blue: the puck's share\nof each cell's receptive field. "
                 "Red outline: the cells\nthe puck's pixels map to.", fontsize=FONT_MIN)
    return readable(fig)


# --- gradflow ------------------------------------------------------------------------------------


LOSS_COLORS = {"critic loss": OKABE_ITO["blue"], "actor loss": OKABE_ITO["orange"]}
def gradient_flow_figure(table: pd.DataFrame) -> Figure:
    """Grouped bars: encoder gradient norm from the critic loss and from the actor loss, per routing/encoder."""
    fig = Figure(figsize=(FIG_WIDTH, 4), layout="constrained")
    ax = fig.subplots()
    x = np.arange(len(table))
    for offset, loss in ((-0.2, "critic loss"), (0.2, "actor loss")):
        bars = ax.bar(x + offset, table[loss], width=0.38, color=LOSS_COLORS[loss], label=f"from the {loss}")
        ax.bar_label(bars, labels=[f"{v:.2g}" for v in table[loss]], fontsize=7)
    ax.set_xticks(x, [f"{r}\n{e}" for r, e in table.index], fontsize=8)
    ax.set_ylabel("encoder gradient L2 norm")
    ax.set_title("measured on one real replay batch:\nwhich loss trains the pixel encoder")
    ax.legend(fontsize=FONT_MIN)
    return readable(fig)


# --- patience ------------------------------------------------------------------------------------


def stop_rules_figure(data_dir: Path = DATA_DIR) -> Figure:
    """The reported Step 2 success readings, the regime phases of the loss table, and each rule's decision step."""
    curve, losses, decisions = step2_success_curve(data_dir), step2_loss_table(data_dir), replay_stop_rules(data_dir)
    fig = Figure(figsize=(FIG_WIDTH, 5), layout="constrained")
    ax = fig.subplots()
    for (_, a), (_, b) in zip(losses.iloc[:-1].iterrows(), losses.iloc[1:].iterrows()):
        if not np.isnan(b["phase"]) and int(b["phase"]) in PHASE_COLORS:
            ax.axvspan(a["step"], b["step"], color=PHASE_COLORS[int(b["phase"])], alpha=0.18, lw=0)
    ax.plot(curve["step"], curve["success"], "o", ms=3, color=OKABE_ITO["blue"], label="Step 2 reported readings")
    styles = ("-", "--", ":", "-.")
    for style, (name, row) in zip(styles, decisions.iterrows()):
        step = float(row["decision step"].rstrip("M")) * 1e6
        ax.axvline(step, color=OKABE_ITO["vermillion" if row["decision"] == "STOP" else "green"], ls=style, lw=1.2,
                   label=f"{name} [{row['kind']}]: {row['decision']}")
    ax.set_xlabel("environment steps")
    ax.set_ylabel("success rate")
    ax.set_title("reported Step 2 curve, regime phases (shaded)\nand stop-rule decisions", fontsize=FONT_MIN)
    ax.legend(fontsize=FONT_MIN, loc="upper center", bbox_to_anchor=(0.5, -0.2), frameon=False)
    return readable(fig)


# --- probe ---------------------------------------------------------------------------------------


ENCODER_COLORS = {"nature": OKABE_ITO["orange"], "manipulation": OKABE_ITO["blue"]}
def errors_figure(result: ProbeResult) -> Figure:
    """Measured held-out error per encoder and seed (points) and the training curves (test median error)."""
    fig = Figure(figsize=(FIG_WIDTH, 7.4), layout="constrained")
    ax_bar, ax_curve = fig.subplots(2, 1)
    for i, encoder in enumerate(ENCODERS):
        values = result.errors.loc[result.errors["encoder"] == encoder, "median_px"]
        ax_bar.scatter(np.full(len(values), i), values, color=ENCODER_COLORS[encoder], zorder=3)
        ax_bar.hlines(values.median(), i - 0.25, i + 0.25, color=ENCODER_COLORS[encoder])
        for seed, curve in result.curves[result.curves["encoder"] == encoder].groupby("seed"):
            ax_curve.plot(curve["step"], curve["test_median_px"], color=ENCODER_COLORS[encoder],
                          label=ENCODER_LABELS[encoder] if seed == result.curves["seed"].min() else None)
    floor = result.errors.loc[result.errors["encoder"] == "mean predictor", "median_px"]
    for ax in (ax_bar, ax_curve):
        if len(floor):
            ax.axhline(float(floor.iloc[0]), color=OKABE_ITO["black"], ls=":", label="predict the mean")
        ax.set_ylim(bottom=0)
    ax_bar.set_xticks(range(len(ENCODERS)), ["NatureCNN", "ManipCNN+SS"])
    ax_bar.set_ylabel("held-out median error (px)")
    ax_bar.set_title("measured: error per seed")
    ax_curve.set_xlabel("Adam steps")
    ax_curve.set_ylabel("held-out median error (px)")
    ax_curve.set_title("measured: held-out error during training")
    ax_curve.legend(fontsize=FONT_MIN, loc="upper center", bbox_to_anchor=(0.5, -0.2), frameon=False)
    return readable(fig)
def keypoints_figure(model: PuckProbe, frames: FrameSet, index: int = 0, top: int = 8) -> Figure:
    """One frame with the probe's SpatialSoftmax keypoints (the ``top`` sharpest channels), its puck estimate
    and the true (segmentation) puck centroid."""
    image = th.as_tensor(frames.rgb[index:index + 1], dtype=th.float32) / 255.0
    with th.no_grad():
        feats = model.cnn(image)
        kps = model.pool.keypoints(feats)[0].numpy()  # (C, 2)
        pred = model(image)[0].numpy()
    # Sharpness: the peak softmax mass of each channel, so the drawn keypoints are the ones that commit to a spot.
    b, c, h, w = feats.shape
    att = th.softmax(feats.reshape(c, h * w) / model.pool.log_temperature.exp(), dim=-1)
    order = th.argsort(att.max(dim=-1).values, descending=True)[:top].numpy()
    fig = Figure(figsize=(0.75 * FIG_WIDTH, 5.6), layout="constrained")
    ax = fig.subplots()
    ax.imshow(frames.rgb[index].transpose(1, 2, 0))
    kp_px = keypoint_units_to_pixels(kps[order])
    ax.scatter(kp_px[:, 0], kp_px[:, 1], s=30, facecolor="none", edgecolor=OKABE_ITO["vermillion"], lw=1.5,
               label=f"SpatialSoftmax keypoints (top {top} of {c})")
    px = keypoint_units_to_pixels(pred)
    ax.scatter(*px, marker="x", s=60, color=OKABE_ITO["blue"], label="probe's puck estimate")
    ax.scatter(*frames.puck_px[index], marker="+", s=80, color=OKABE_ITO["black"], label="puck centroid (mask)")
    ax.set_axis_off()
    ax.set_title("measured: trained probe's keypoints", fontsize=FONT_MIN)
    ax.legend(fontsize=FONT_MIN, loc="upper center", bbox_to_anchor=(0.5, 0), frameon=False)
    return readable(fig)

