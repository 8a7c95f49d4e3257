"""The chapter's training-curve figures (success, loss signature), drawn from ``data/`` with each series' provenance in its legend label.

Drawing rules (the honesty rules of ``data/README.md``):

* reported ``point`` -> markers only, never joined; reported ``range`` -> vertical bar (a one-sided bound is an
  arrow-head marker); ``rolling_mean`` -> a horizontal segment over its window; ``phase_summary`` -> a shaded
  horizontal band over its span, labelled (only the top-ranked source per config, to keep the figure legible);
* measured/imported curves -> lines; two or more seeds of one config -> mean line, a 95% bootstrap CI band of
  the mean and a fainter min-max band over step bins (no interpolation: each bin takes each seed's last
  logged value in it).

Colours come from :mod:`pixelpush_lib.chapter.style`. Figures are built with ``matplotlib.figure.Figure`` directly, so importing this module
never changes the pyplot backend (notebooks keep their inline backend; headless builds need no display).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter

from pixelpush_lib.chapter.style import CONFIG_COLORS, PHASE_COLORS
from pixelpush_lib.core.paths import DATA_DIR
from pixelpush_lib.results.loaders import load_points, load_project_runs, project_curve
from pixelpush_lib.results.quoted_numbers import HEAD_COMMIT, rank_rows
from pixelpush_lib.results.regime import PHASE_NAMES, label_phases
from pixelpush_lib.results.schema import CONFIG_NAMES

_MARKERS = ("o", "s", "D", "^", "v", "P", "X", "*", "h", "<", ">")
_MILLIONS = FuncFormatter(lambda x, _: f"{x / 1e6:g}M")


def _label(config: str, provenance: str, source: str) -> str:
    return f"{config} {provenance}: {source}"


def _marker_for(source_file: str, order: list[str]) -> str:
    if source_file not in order:
        order.append(source_file)
    return _MARKERS[order.index(source_file) % len(_MARKERS)]


def _reported_success(points: pd.DataFrame, config: str, include_guidance: bool) -> pd.DataFrame:
    kinds = ["point", "range", "rolling_mean", "phase_summary"] + (["milestone_guidance"] if include_guidance else [])
    rows = points[(points["provenance"] == "reported") & (points["config"] == config)
                  & (points["metric"] == "success_rate") & points["kind"].isin(kinds)]
    return rows[rows["commit"] == HEAD_COMMIT]  # older commits hold overwritten figures (see book/data_notes.md)


def _draw_reported(ax: Axes, rows: pd.DataFrame, config: str, markers: list[str], x_max: float) -> None:
    color = CONFIG_COLORS[config]
    for source, group in rows.groupby("source_file", sort=False):
        marker, label = _marker_for(source, markers), _label(config, "reported", source)
        pts = group[group["kind"] == "point"]
        if len(pts):
            ax.plot(pts["step"], pts["value"], linestyle="none", marker=marker, color=color, label=label, ms=5)
        for _, r in group[group["kind"].isin(["range", "milestone_guidance"])].iterrows():
            _draw_bar(ax, r, color, marker, label)
        for _, r in group[group["kind"] == "rolling_mean"].iterrows():
            end = r["span_end"] if pd.notna(r["span_end"]) else r["step"]
            ax.hlines(r["value"], r["step"], end, colors=color, linewidth=2.5, alpha=0.8, label=f"{label} (rolling mean)")
    summaries = rows[rows["kind"] == "phase_summary"]
    if len(summaries):
        top = rank_rows(summaries, ("phase_summary",)).iloc[0]["source_file"]
        for _, r in summaries[summaries["source_file"] == top].iterrows():
            _draw_band(ax, r, color, x_max, _label(config, "reported", f"{top} (span summary)"))


def _draw_bar(ax: Axes, r: pd.Series, color: str, marker: str, label: str) -> None:
    lo, hi = r["value_low"], r["value_high"]
    style = {"color": color, "alpha": 0.5 if r["kind"] == "milestone_guidance" else 1.0}
    if pd.notna(lo) and pd.notna(hi):
        ax.vlines(r["step"], lo, hi, linewidth=2, label=f"{label} (range)", **style)
    else:  # one-sided: '95%+' points up from its bound, '< 0.1' down
        ax.plot([r["step"]], [lo if pd.notna(lo) else hi], linestyle="none", ms=7,
                marker="^" if pd.notna(lo) else "v", label=f"{label} (bound)", **style)


def _draw_band(ax: Axes, r: pd.Series, color: str, x_max: float, label: str) -> None:
    end = r["span_end"] if pd.notna(r["span_end"]) else x_max
    lo = r["value_low"] if pd.notna(r["value_low"]) else r["value"]
    hi = r["value_high"] if pd.notna(r["value_high"]) else (r["value"] if pd.notna(r["value"]) else 1.0)
    ax.fill_between([r["step"], end], [lo, lo], [hi, hi], color=color, alpha=0.12, linewidth=0, label=label)
    ax.text(r["step"], hi, f" {r['value_low'] if pd.notna(r['value_low']) else ''}"
            f"{'-' if pd.notna(r['value_low']) and pd.notna(r['value_high']) else ''}"
            f"{r['value_high'] if pd.notna(r['value_high']) else ''}"
            f"{r['value'] if pd.notna(r['value']) and pd.isna(r['value_low']) else ''}",
            color=color, fontsize=7, va="bottom")


def _project_source(run_id: str, data_dir: Path) -> tuple[str, str]:
    for run in load_project_runs(data_dir):
        if run.manifest["run_id"] == run_id:
            prov = run.manifest["provenance"]
            return prov["kind"], Path(str(prov.get("original_file") or prov.get("command"))).name
    return "project", run_id


def seed_band(curve: pd.DataFrame, bins: int = 50, n_boot: int = 2000, ci: float = 0.95,
              rng_seed: int = 0) -> pd.DataFrame:
    """Mean over seeds with a bootstrap confidence interval, plus min-max, per step bin.

    ``curve``: columns seed, step, value (several seeds). Each seed contributes its last logged value in a bin
    (no interpolation); bins where any seed has no value are dropped. The CI resamples the seeds with
    replacement ``n_boot`` times (percentile interval, fixed ``rng_seed`` so a figure is reproducible); with
    2-3 seeds it is wide and crude, and it can never be wider than min-max. Returns columns step (bin right
    edge, environment steps), n (seeds), mean, ci_low, ci_high, median, low, high (values in the curve's unit).
    """
    edges = np.linspace(0, curve["step"].max(), bins + 1)
    binned = curve.assign(bin=np.clip(np.searchsorted(edges, curve["step"], side="left"), 1, bins))
    last = binned.groupby(["bin", "seed"])["value"].last().unstack("seed").dropna()
    values = last.to_numpy()  # (bins kept, seeds)
    draws = np.random.default_rng(rng_seed).integers(0, values.shape[1], size=(n_boot, values.shape[1]))
    boot_means = values[:, draws].mean(axis=2)  # (bins kept, n_boot)
    tail = 100 * (1 - ci) / 2
    return pd.DataFrame({"step": edges[last.index], "n": values.shape[1], "mean": values.mean(axis=1),
                         "ci_low": np.percentile(boot_means, tail, axis=1),
                         "ci_high": np.percentile(boot_means, 100 - tail, axis=1),
                         "median": np.median(values, axis=1), "low": values.min(axis=1), "high": values.max(axis=1)})


def _draw_project(ax: Axes, config: str, data_dir: Path) -> None:
    curve = project_curve(config, None, "success_rate", data_dir)
    if curve.empty:
        return
    color = CONFIG_COLORS[config]
    seeds = sorted(int(s) for s in curve["seed"].unique())
    kind, source = _project_source(curve["run_id"].iloc[0], data_dir)
    if len(seeds) >= 2:
        band = seed_band(curve)
        ax.plot(band["step"], band["mean"], color=color, linewidth=2,
                label=_label(config, kind, f"mean of seeds {seeds} (n={len(seeds)})"))
        ax.fill_between(band["step"], band["ci_low"], band["ci_high"], color=color, alpha=0.35, linewidth=0,
                        label=_label(config, kind, "95% bootstrap CI of the mean"))
        ax.fill_between(band["step"], band["low"], band["high"], color=color, alpha=0.12, linewidth=0,
                        label=_label(config, kind, "min-max over seeds"))
        return
    ax.plot(curve["step"], curve["value"], color=color, linewidth=1.8,
            label=_label(config, kind, f"{source} (seed {seeds[0]})"))


def _finish(ax: Axes, ylabel: str) -> None:
    ax.xaxis.set_major_formatter(_MILLIONS)
    ax.set_ylabel(ylabel)
    ax.grid(alpha=0.3)


def plot_success(configs: Sequence[str] = ("state", "step0", "step1", "step2", "step4"), data_dir: Path = DATA_DIR, include_guidance: bool = False,
                 figsize: tuple[float, float] = (10, 5.5)) -> Figure:
    """Success rate (fraction) vs environment steps for ``configs``, project runs as lines, reported as marks.

    Marker shape = the author's source file, colour = config; legend entries read
    "<config> <provenance>: <source>". ``include_guidance`` adds the tutorial's milestone table (faint bars).
    """
    unknown = [c for c in configs if c not in CONFIG_NAMES]
    if unknown:
        raise ValueError(f"unknown config(s) {unknown}; use names from {list(CONFIG_NAMES)}")
    points = load_points(data_dir)
    fig = Figure(figsize=figsize, layout="constrained")
    ax = fig.add_subplot()
    x_max = float(points.loc[points["config"].isin(configs), "step"].max())
    markers: list[str] = []
    for config in configs:
        _draw_project(ax, config, data_dir)
        _draw_reported(ax, _reported_success(points, config, include_guidance), config, markers, x_max)
    ax.set_ylim(-0.02, 1.02)
    ax.set_xlabel("environment steps")
    _finish(ax, "success rate (fraction)")
    handles, labels = ax.get_legend_handles_labels()
    unique = dict(zip(labels, handles))
    fig.legend(unique.values(), unique.keys(), loc="outside right upper", fontsize=6.5, frameon=False)
    ax.set_title("Success vs steps: reported figures are markers/bars (never joined); lines are project logs",
                 fontsize=9)
    return fig


def _reported_signature(points: pd.DataFrame, config: str) -> tuple[pd.DataFrame, str]:
    """The reported source with the most steps carrying success, critic and actor loss together."""
    rows = points[(points["provenance"] == "reported") & (points["config"] == config) & (points["kind"] == "point")
                  & (points["commit"] == HEAD_COMMIT)]
    best, best_src = pd.DataFrame(), ""
    cols = ["success_rate", "critic_loss", "actor_loss"]
    for src, group in rows.groupby("source_file"):
        # one source line = one table row: never mix a step's success from one table with losses from another
        table = group.pivot_table(index=["step", "source_line"], columns="metric", values="value", aggfunc="last")
        if not set(cols) <= set(table.columns):
            continue
        table = table[cols].dropna().reset_index()
        table = table.drop_duplicates("step", keep="last").set_index("step")[cols]
        if len(table) > len(best):
            best, best_src = table, f"reported: {src}"
    return best, best_src


def _project_signature(config: str, seed: int, data_dir: Path) -> tuple[pd.DataFrame, str]:
    parts = {m: project_curve(config, seed, m, data_dir) for m in ("success_rate", "critic_loss", "actor_loss")}
    if any(p.empty for p in parts.values()):
        return pd.DataFrame(), ""
    table = pd.concat({m: p.set_index("step")["value"] for m, p in parts.items()}, axis=1).dropna()
    kind, source = _project_source(parts["success_rate"]["run_id"].iloc[0], data_dir)
    return table, f"{kind}: {source}"


def plot_loss_signature(config: str = "step2", seed: int = 0, data_dir: Path = DATA_DIR, window: int | None = None,
                        figsize: tuple[float, float] = (8, 7)) -> Figure:
    """Success, critic loss and actor loss in three stacked panels, shaded by :func:`regime.label_phases`.

    Uses the preferred project run of (config, seed) when one logs all three metrics (lines, ``window`` 5 by
    default), else the author's source with the most complete steps (markers, ``window`` 2: one window per pair of
    consecutive readings). Raises ``LookupError`` when neither exists.
    """
    table, source = _project_signature(config, seed, data_dir)
    project = not table.empty
    if not project:
        table, source = _reported_signature(load_points(data_dir), config)
    if table.empty:
        raise LookupError(f"no curve with success, critic and actor loss for config '{config}' in {data_dir}")
    window = window or (5 if project else 2)
    steps = table.index.to_numpy()
    windows = label_phases(steps, table["success_rate"], table["critic_loss"], table["actor_loss"],
                           window=min(window, len(steps)))
    fig = Figure(figsize=figsize, layout="constrained")
    axes = fig.subplots(3, 1, sharex=True)
    style = {"linestyle": "-", "marker": None} if project else {"linestyle": "none", "marker": "o"}
    for ax, metric, ylabel in zip(axes, ("success_rate", "critic_loss", "actor_loss"),
                                  ("success (fraction)", "critic loss", "actor loss")):
        _shade(ax, windows)
        ax.plot(steps, table[metric], color=CONFIG_COLORS[config], label=f"{config} {source}", **style)
        _finish(ax, ylabel)
    axes[-1].set_xlabel("environment steps")
    axes[0].legend(fontsize=7, loc="upper left")
    phases = sorted({w.phase for w in windows if w.phase})
    fig.suptitle(f"Loss signature, {config} seed {seed}. Shading: " +
                 "; ".join(f"{PHASE_NAMES[p]}" for p in phases), fontsize=8)
    return fig


def _shade(ax: Axes, windows: list) -> None:
    for w in windows:
        if w.phase:
            ax.axvspan(w.start_step, w.end_step, color=PHASE_COLORS[w.phase], alpha=0.18, linewidth=0)
