"""The chapter's training-curve figures: success against steps, and the loss signature of Step 3.

Drawing rules (the honesty rules of ``data/README.md``): one line per run, joining its successive logged
readings with straight segments and a marker at each reading, never smoothed or interpolated. A reported run is
drawn as a line from its richest source file when that file gives at least three readings; the other reported
readings of the same configs are faint markers, bars and bands without legend entries. This project's runs
(measured or imported) are lines of small dots (they log thousands of readings), and two or more seeds of a config are their mean with a min-max band over
step bins (each bin takes each seed's last logged value in it). :func:`success_sources` lists every source.

Colours come from :mod:`pixelpush_lib.chapter.style`. Figures are built with ``matplotlib.figure.Figure``
directly, so importing this module never changes the pyplot backend.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter

from pixelpush_lib.chapter.style import CONFIG_COLORS, CONFIG_LABELS, FIG_WIDTH, FONT_MIN, PHASE_COLORS, readable
from pixelpush_lib.core.paths import DATA_DIR
from pixelpush_lib.results.loaders import load_points, load_project_runs, project_curve
from pixelpush_lib.results.quoted_numbers import HEAD_COMMIT, rank_rows
from pixelpush_lib.results.regime import PHASE_NAMES, label_phases
from pixelpush_lib.results.schema import CONFIG_NAMES

_MILLIONS = FuncFormatter(lambda x, _: "0" if x == 0 else f"{x / 1e6:g}M")
MAX_LEGEND = 6  # legend entries; more runs than this are summarised per config
LINE_MIN_READINGS = 3  # a reported run with at least this many success readings in one source is drawn as a line
FAINT = {"alpha": 0.35, "ms": 3.5, "linestyle": "none", "marker": "o"}

def _reported_success(points: pd.DataFrame, config: str, include_guidance: bool = False) -> pd.DataFrame:
    kinds = ["point", "range", "rolling_mean", "phase_summary"] + (["milestone_guidance"] if include_guidance else [])
    rows = points[(points["provenance"] == "reported") & (points["config"] == config)
                  & (points["metric"] == "success_rate") & points["kind"].isin(kinds)]
    return rows[rows["commit"] == HEAD_COMMIT]  # older commits hold overwritten figures (see book/data_notes.md)


def reported_lines(rows: pd.DataFrame) -> list[tuple[str, str, pd.DataFrame]]:
    """``(run_id, source_file, readings)`` for each reported run with at least :data:`LINE_MIN_READINGS` success
    point readings in one source file (its richest source), readings in step order."""
    points = rows[rows["kind"] == "point"]
    lines = []
    for run_id, group in points.groupby("run_id", sort=True):
        counts = group.groupby("source_file")["step"].nunique()
        best = rank_rows(group[group["source_file"].isin(counts[counts == counts.max()].index)], ("point",))
        source = best.iloc[0]["source_file"]
        readings = group[group["source_file"] == source].drop_duplicates("step", keep="last").sort_values("step")
        if len(readings) >= LINE_MIN_READINGS:
            lines.append((run_id, source, readings))
    return lines


def reported_series(n: int, count: int) -> str:
    """The legend's name for the ``n``-th (from 0) of ``count`` reported runs of a config drawn as lines; the sources
    table names the run id beside it."""
    return "the author's run" if count == 1 else f"the author's run {n + 1}"


#: The legend's name for a config's reported readings when none of them is drawn as a line (a band and markers).
REPORTED_BAND = "the author's band and readings"


def _draw_reported(ax: Axes, rows: pd.DataFrame, config: str, x_max: float) -> None:
    """The config's reported runs as thin lines with markers; every other reported reading faint, unlabelled."""
    color = CONFIG_COLORS[config]
    drawn = []
    lines = reported_lines(rows)
    for n, (run_id, _, readings) in enumerate(lines):
        ax.plot(readings["step"], readings["value"], color=color, linewidth=1.3, marker="os^D"[n % 4], ms=5,
                markeredgecolor="white", markeredgewidth=0.6, linestyle=("-", "--", ":", "-.")[n % 4], zorder=4,
                label=f"{CONFIG_LABELS[config]}, reported: {reported_series(n, len(lines))}")
        drawn.append(readings.index)
    rest = rows.drop(index=[i for index in drawn for i in index])
    pts = rest[rest["kind"] == "point"]
    ax.plot(pts["step"], pts["value"], color=color, **FAINT)
    for _, r in rest[rest["kind"] == "range"].iterrows():
        lo, hi = r["value_low"], r["value_high"]
        ax.vlines(r["step"], lo if pd.notna(lo) else hi, hi if pd.notna(hi) else lo, color=color, alpha=0.35)
    for _, r in rest[rest["kind"] == "rolling_mean"].iterrows():
        end = r["span_end"] if pd.notna(r["span_end"]) else r["step"]
        ax.hlines(r["value"], r["step"], end, colors=color, linewidth=2, alpha=0.35)
    summaries = rest[rest["kind"] == "phase_summary"]
    if len(summaries):
        top = rank_rows(summaries, ("phase_summary",)).iloc[0]
        end = top["span_end"] if pd.notna(top["span_end"]) else x_max
        lo = top["value_low"] if pd.notna(top["value_low"]) else top["value"]
        hi = top["value_high"] if pd.notna(top["value_high"]) else top["value"]
        label = None if drawn else f"{CONFIG_LABELS[config]}, reported: {REPORTED_BAND}"
        ax.fill_between([top["step"], end], [lo, lo], [hi, hi], color=color, alpha=0.2, linewidth=0, label=label)


def _project_source(run_id: str, data_dir: Path) -> tuple[str, str]:
    for run in load_project_runs(data_dir):
        if run.manifest["run_id"] == run_id:
            prov = run.manifest["provenance"]
            return prov["kind"], Path(str(prov.get("original_file") or prov.get("command"))).name
    return "project", run_id


def _still_training(run_ids: Sequence[str], data_dir: Path) -> str:
    """``' (still training)'`` when any of the runs was collected before it finished, else ``''``: for a legend."""
    unfinished = any(run.manifest["provenance"].get("in_progress") for run in load_project_runs(data_dir)
                     if run.manifest["run_id"] in set(run_ids))
    return " (still training)" if unfinished else ""


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


def _draw_project(ax: Axes, config: str, data_dir: Path, metric: str = "success_rate") -> None:
    """The config's own runs (measured or imported) of ``metric``: one line per seed, or the mean with a seed band."""
    curve = project_curve(config, None, metric, data_dir)
    if curve.empty:
        return
    color = CONFIG_COLORS[config]
    seeds = sorted(int(s) for s in curve["seed"].unique())
    kind, _ = _project_source(curve["run_id"].iloc[0], data_dir)
    if _banded(curve, data_dir):
        band = seed_band(curve)
        ax.fill_between(band["step"], band["low"], band["high"], color=color, alpha=0.18, linewidth=0)
        ax.plot(band["step"], band["mean"], color=color, linewidth=1.8, zorder=3, marker=".", ms=3,
                label=f"{CONFIG_LABELS[config]}, {kind} here: {_band_series(seeds)}")
        return
    # thousands of readings: markers small enough to read as the line itself; seeds of one config told apart by dashes
    for dashes, (run_id, run) in zip(_SEED_DASHES, curve.groupby("run_id", sort=True)):
        ax.plot(run["step"], run["value"], color=color, linestyle=dashes, linewidth=1.2, alpha=0.9, zorder=3,
                marker=".", ms=1.5, label=f"{CONFIG_LABELS[config]}, {kind} here: seed {int(run['seed'].iloc[0])}"
                f"{_still_training([run_id], data_dir)}")


_SEED_DASHES = ("-", "--", ":", "-.")


def _banded(curve: pd.DataFrame, data_dir: Path) -> bool:
    """Whether a config's runs are drawn as their mean with a min-max band: two or more seeds, none still training (a
    mean stops where its shortest seed stops, so a seed still training is drawn as its own line, hiding no reading)."""
    return curve["seed"].nunique() >= 2 and not _still_training(curve["run_id"].unique(), data_dir)


def _band_series(seeds: Sequence[int]) -> str:
    """The name of the line drawn for several seeds of one config (legend and sources table alike)."""
    return f"mean of {len(seeds)} seeds (band: min-max)"


def _finish(ax: Axes, ylabel: str) -> None:
    ax.xaxis.set_major_formatter(_MILLIONS)
    ax.set_ylabel(ylabel)
    ax.grid(alpha=0.3)


def plot_success(configs: Sequence[str] = ("state", "step0", "step1", "step2", "step4"), data_dir: Path = DATA_DIR,
                 include_guidance: bool = False, figsize: tuple[float, float] = (FIG_WIDTH, 4.4)) -> Figure:
    """Success rate (fraction) against environment steps for ``configs``: each run a line through its readings.

    Colour is the config; legend entries read "<config's label>, <provenance>: <series>", one per run drawn as a
    line, with the series named as in :func:`success_sources`, which says where each comes from. The x axis ends
    just past the last step drawn. ``include_guidance`` adds the tutorial's milestone table.
    """
    unknown = [c for c in configs if c not in CONFIG_NAMES]
    if unknown:
        raise ValueError(f"unknown config(s) {unknown}; use names from {list(CONFIG_NAMES)}")
    points = load_points(data_dir)
    fig = Figure(figsize=figsize, layout="constrained", dpi=110)
    ax = fig.add_subplot()
    x_max = _last_step(points, configs, include_guidance, data_dir)
    for config in configs:
        _draw_reported(ax, _reported_success(points, config, include_guidance), config, x_max)
        _draw_project(ax, config, data_dir)
    ax.set_ylim(-0.02, 1.02)
    ax.set_xlim(0, 1.03 * x_max)
    ax.set_xlabel("environment steps")
    _finish(ax, "success rate (fraction of episodes)")
    handles, labels = _legend_entries(ax)
    # below the axes, so no curve is hidden behind it; one entry a line, so a phone can read it
    ax.legend(handles, labels, loc="upper center", bbox_to_anchor=(0.5, -0.16), ncol=1, fontsize=FONT_MIN,
              frameon=False)
    return readable(fig)


def plot_losses_beside(configs: Sequence[str] = ("state", "eyes_first"), data_dir: Path = DATA_DIR,
                       figsize: tuple[float, float] = (FIG_WIDTH, 7.6)) -> Figure:
    """This project's own runs of ``configs`` in three stacked panels, success, critic loss and actor loss, drawn
    as :func:`plot_success` draws them (a line per seed, or the mean of several with a min-max band); configs
    without a project run are left out. One legend, under the panels; ``LookupError`` when no config has a run."""
    fig = Figure(figsize=figsize, layout="constrained", dpi=110)
    axes = fig.subplots(3, 1, sharex=True)
    for ax, metric, ylabel in zip(axes, ("success_rate", "critic_loss", "actor_loss"),
                                  ("success (fraction)", "critic loss", "actor loss")):
        for config in configs:
            _draw_project(ax, config, data_dir, metric)
        _finish(ax, ylabel)
    if not axes[0].lines:
        raise LookupError(f"no measured or imported run of {list(configs)} in {data_dir}")
    axes[0].set_ylim(-0.02, 1.02)
    axes[-1].set_xlabel("environment steps")
    # below the panels, one entry a line, so no curve is hidden and a phone can read it
    fig.legend(*axes[0].get_legend_handles_labels(), loc="outside lower center", ncol=1, fontsize=FONT_MIN,
               frameon=False)
    return readable(fig)


def _last_step(points: pd.DataFrame, configs: Sequence[str], include_guidance: bool, data_dir: Path) -> float:
    """The last step any drawn success reading, range, rolling mean or project run of ``configs`` reaches."""
    ends = [0.0]
    for config in configs:
        rows = _reported_success(points, config, include_guidance)
        if len(rows):
            ends.append(float(pd.concat([rows["step"], rows["span_end"].dropna()]).max()))
        curve = project_curve(config, None, "success_rate", data_dir)
        if len(curve):
            ends.append(float(curve["step"].max()))
    return max(ends)


def _legend_entries(ax: Axes) -> tuple[list, list[str]]:
    """One legend entry per run, or, past :data:`MAX_LEGEND` runs, one per config (its first run's style) naming
    how many runs of each provenance it draws; :func:`success_sources` still lists every run."""
    handles, labels = ax.get_legend_handles_labels()
    if len(labels) <= MAX_LEGEND:
        return handles, labels
    grouped: dict[str, tuple[object, list[str]]] = {}
    configs = {label: config for config, label in CONFIG_LABELS.items()}
    for handle, label in zip(handles, labels):
        name, rest = next((n, label[len(n) + 2:]) for n in sorted(configs, key=len, reverse=True)
                          if label.startswith(n + ", "))
        grouped.setdefault(configs[name], (handle, []))[1].append(rest.split(":")[0])
    out = []
    for config, (handle, kinds) in grouped.items():
        counts = ", ".join(f"{kinds.count(k)} {k}" for k in dict.fromkeys(kinds))
        out.append((handle, f"{CONFIG_LABELS[config]}: {counts} (table below)"))
    return [h for h, _ in out], [label for _, label in out]


def success_sources(configs: Sequence[str], data_dir: Path = DATA_DIR) -> pd.DataFrame:
    """Where every series of :func:`plot_success` comes from: one row per run drawn as a line (reported runs with
    their source file, lines and commit; this project's runs with their ``data/runs`` folder) and one row per config
    for the remaining faint readings. ``series`` is the legend's name of the line (after ``line:``), ``run`` the run's
    id in ``data/``."""
    points = load_points(data_dir)
    rows = []
    for config in configs:
        reported = _reported_success(points, config)
        lined = reported_lines(reported)
        for n, (run_id, source, readings) in enumerate(lined):
            lines = ",".join(str(int(x)) for x in sorted(readings["source_line"].unique()))
            rows.append({"config": config, "series": f"line: {reported_series(n, len(lined))}", "run": run_id,
                         "provenance": "reported", "readings": len(readings),
                         "source": f"{source}:{lines}@{HEAD_COMMIT[:7]}"})
        used = {i for _, _, r in lined for i in r.index}
        rest = reported.drop(index=list(used))
        if len(rest):
            files = "; ".join(sorted(rest["source_file"].unique()))
            banded = not lined and (rest["kind"] == "phase_summary").any()  # then the legend names the band
            rows.append({"config": config, "series": REPORTED_BAND if banded else "faint readings, bars and bands",
                         "run": "; ".join(sorted(rest["run_id"].unique())), "provenance": "reported",
                         "readings": len(rest), "source": f"{files} (rows of data/reported/points.csv)"})
        curve = project_curve(config, None, "success_rate", data_dir)
        banded = _banded(curve, data_dir)  # then the line is the seeds' mean, each seed an edge of the band
        if banded:
            kind, _ = _project_source(curve["run_id"].iloc[0], data_dir)
            runs = sorted(curve["run_id"].unique())
            rows.append({"config": config, "series": f"line: {_band_series(sorted(curve['seed'].unique()))}",
                         "run": "; ".join(runs), "provenance": kind, "readings": len(curve),
                         "source": "; ".join(f"data/runs/{r}" for r in runs)})
        for run_id, group in curve.groupby("run_id", sort=True):
            kind, _ = _project_source(run_id, data_dir)
            seed = int(group["seed"].iloc[0])
            rows.append({"config": config, "series": f"band: seed {seed}" if banded else f"line: seed {seed}",
                         "run": run_id, "provenance": kind, "readings": len(group), "source": f"data/runs/{run_id}"})
    return pd.DataFrame(rows, columns=["config", "series", "run", "provenance", "readings", "source"])


class SourcesTable:
    """A collapsible "Where these numbers come from" table under a figure (HTML in a notebook or the book)."""

    def __init__(self, sources: pd.DataFrame) -> None:
        self.sources = sources

    def _repr_html_(self) -> str:
        table = self.sources.to_html(index=False, classes="pixelpush-sources", border=0, escape=True)
        return ('<details class="pixelpush-sources"><summary>Where these numbers come from</summary>'
                f'{table}</details>')


def success_notes(configs: Sequence[str], data_dir: Path = DATA_DIR) -> SourcesTable:
    """The sources table to show under ``plot_success(configs)``; how the lines are drawn is explained once, in
    ``book/data_notes.md`` (label ``success-figures``), which the figures' short captions link to."""
    return SourcesTable(success_sources(configs, data_dir))


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
        table = table.drop_duplicates("step", keep="last")
        if len(table) > len(best):
            lines = ",".join(str(int(x)) for x in sorted(table["source_line"].unique()))
            best, best_src = table.set_index("step")[cols], f"reported: {src}:{lines}@{HEAD_COMMIT[:7]}"
    return best, best_src


def _project_signature(config: str, seed: int, data_dir: Path) -> tuple[pd.DataFrame, str]:
    parts = {m: project_curve(config, seed, m, data_dir) for m in ("success_rate", "critic_loss", "actor_loss")}
    if any(p.empty for p in parts.values()):
        return pd.DataFrame(), ""
    table = pd.concat({m: p.set_index("step")["value"] for m, p in parts.items()}, axis=1).dropna()
    run_id = parts["success_rate"]["run_id"].iloc[0]
    kind, _ = _project_source(run_id, data_dir)
    return table, f"{kind}: data/runs/{run_id}"


def loss_signature_source(config: str = "step2", seed: int = 0, data_dir: Path = DATA_DIR) -> str:
    """Where :func:`plot_loss_signature`'s points come from, for the page's sources box: ``'reported:
    file:lines@commit'`` or ``'measured: data/runs/<id>'``; raises ``LookupError`` as the figure does."""
    table, source = _project_signature(config, seed, data_dir)
    if table.empty:
        table, source = _reported_signature(load_points(data_dir), config)
    if table.empty:
        raise LookupError(f"no curve with success, critic and actor loss for config '{config}' in {data_dir}")
    return source


def plot_loss_signature(config: str = "step2", seed: int = 0, data_dir: Path = DATA_DIR, window: int | None = None,
                        figsize: tuple[float, float] = (FIG_WIDTH, 7)) -> Figure:
    """Success, critic loss and actor loss in three stacked panels, shaded by :func:`regime.label_phases`.

    Uses the preferred project run of (config, seed) when one logs all three metrics (lines; ``window`` by default
    a tenth of its readings, at least 5: windows of a few dense, noisy readings make the shading flicker), else the
    author's source with the most complete steps (markers, ``window`` 2: one window per pair of consecutive
    readings). Raises ``LookupError`` when neither exists.
    """
    table, source = _project_signature(config, seed, data_dir)
    project = not table.empty
    if not project:
        table, source = _reported_signature(load_points(data_dir), config)
    if table.empty:
        raise LookupError(f"no curve with success, critic and actor loss for config '{config}' in {data_dir}")
    window = window or (max(5, len(table) // 10) if project else 2)
    steps = table.index.to_numpy()
    windows = label_phases(steps, table["success_rate"], table["critic_loss"], table["actor_loss"],
                           window=min(window, len(steps)))
    fig = Figure(figsize=figsize, layout="constrained")
    axes = fig.subplots(3, 1, sharex=True)
    style = {"linestyle": "-", "marker": None} if project else {"linestyle": "none", "marker": "o"}
    for ax, metric, ylabel in zip(axes, ("success_rate", "critic_loss", "actor_loss"),
                                  ("success (fraction)", "critic loss", "actor loss")):
        _shade(ax, windows)
        kind = source.split(":", 1)[0]
        ax.plot(steps, table[metric], color=CONFIG_COLORS[config], label=f"{CONFIG_LABELS[config]}, {kind}", **style)
        _finish(ax, ylabel)
    axes[-1].set_xlabel("environment steps")
    axes[0].legend(fontsize=FONT_MIN, loc="upper left")
    phases = sorted({w.phase for w in windows if w.phase})
    # the phases' names as a legend of the shading, one a line, under the panels
    from matplotlib.patches import Patch

    fig.legend([Patch(color=PHASE_COLORS[p], alpha=0.35) for p in phases], [PHASE_NAMES[p] for p in phases],
               loc="outside lower center", ncol=1, fontsize=FONT_MIN, frameon=False, title="shading")
    fig.suptitle(f"Loss signature, {CONFIG_LABELS[config]}, seed {seed}", fontsize=FONT_MIN + 1)
    return readable(fig)


def _shade(ax: Axes, windows: list) -> None:
    for w in windows:
        if w.phase:
            ax.axvspan(w.start_step, w.end_step, color=PHASE_COLORS[w.phase], alpha=0.18, linewidth=0)
