"""Step 1's eyes-first figures: the eyes' held-out errors, and how precisely a policy must see (the noise curve with
each encoder's eyes placed on it). Everything drawn is read from ``data/measured/eyes`` and
``data/measured/state_on_eyes`` (:mod:`pixelpush_lib.results.investigations.eyes`); nothing here measures."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from matplotlib.figure import Figure

from pixelpush_lib.chapter.figures.curves import SourcesTable
from pixelpush_lib.chapter.style import OKABE_ITO, readable
from pixelpush_lib.core.paths import MEASURED_DIR
from pixelpush_lib.results.investigations.eyes import ENCODER_NAMES, FLOOR, errors_by_encoder, noise_curve, state_on_eyes
from pixelpush_lib.results.measured import load_manifest

EYES_COLORS = {"manipulation": OKABE_ITO["vermillion"], "nature": OKABE_ITO["blue"]}
EYES_MARKERS = {"manipulation": "D", "nature": "s"}


def eyes_errors_table(measured_dir: Path = MEASURED_DIR) -> pd.DataFrame:
    """Held-out position error on whole test episodes, cm, per encoder (median over seeds; range in the sources)."""
    errors = errors_by_encoder(measured_dir)
    names = {**ENCODER_NAMES, FLOOR: "learned nothing (mean position)"}
    rows = [{"eyes": names[e], "median": f"{errors.loc[e, 'all_median']:.1f}", "90th pct": f"{errors.loc[e, 'all_p90']:.1f}",
             "median, gripper near": f"{errors.loc[e, 'near_median']:.1f}",
             "90th pct, gripper near": f"{errors.loc[e, 'near_p90']:.1f}"}
            for e in [*ENCODER_NAMES, FLOOR]]
    return pd.DataFrame(rows).set_index("eyes")


def seeing_figure(measured_dir: Path = MEASURED_DIR) -> Figure:
    """Success of the state agent (its protocol's episodes a point) against the position error it met: the noise levels joined
    by straight segments, each encoder's eyes (one marker per seed) placed by their own error."""
    curve = noise_curve(measured_dir)
    table = state_on_eyes(measured_dir)
    fig = Figure(figsize=(5.6, 4.2), layout="constrained", dpi=110)
    ax = fig.subplots()
    ax.plot(curve["median_error_cm"], 100 * curve["success_rate"], "-o", color=OKABE_ITO["black"], lw=1.5, ms=5,
            label="true state + noise (σ per axis, cm)")
    for sigma, x, y in zip(curve["noise_cm"], curve["median_error_cm"], curve["success_rate"]):
        ax.annotate(f"σ={sigma:g}", (x, 100 * y), textcoords="offset points", xytext=(4, 5), fontsize=9)
    zeroed = table[table["condition"] == "rotation zeroed"]
    ax.plot(zeroed["median_error_cm"], 100 * zeroed["success_rate"], "o", mfc="none", color=OKABE_ITO["black"],
            ms=8, label="true position, rotation zeroed")
    for encoder, name in ENCODER_NAMES.items():
        eyes = table[(table["condition"] == "eyes") & (table["encoder"] == encoder)]
        ax.plot(eyes["median_error_cm"], 100 * eyes["success_rate"], EYES_MARKERS[encoder], ls="none",
                color=EYES_COLORS[encoder], ms=7, label=f"{name} eyes ({len(eyes)} seeds)")
    ax.set_xlabel("median error of the puck position read (cm)")
    ax.set_ylabel(f"success over {int(table['episodes'].iloc[0])} episodes (%)")
    ax.set_ylim(-3, 109)
    ax.set_xlim(-0.2, 1.15 * max(curve["median_error_cm"].max(), table["median_error_cm"].max()))
    ax.grid(alpha=0.3)
    ax.legend(fontsize=9, loc="lower left")
    return readable(fig)


def eyes_sources(measured_dir: Path = MEASURED_DIR) -> SourcesTable:
    """The collapsible "Where these numbers come from" table of the eyes-first section: each measurement's folder,
    command, commit, machine and cost, and the per-seed errors behind the medians."""
    rows = []
    for experiment in ("eyes", "state_on_eyes"):
        manifest = load_manifest(experiment, measured_dir)
        p = manifest["provenance"]
        machine = f"{p['machine']['name']}, {p['machine']['cpus']} CPU cores"
        rows.append({"what": {"eyes": "the eyes: training and held-out errors",
                              "state_on_eyes": "the state agent on noise and on the eyes"}[experiment],
                     "kind": "measured", "folder": f"data/measured/{experiment}", "command": p["command"],
                     "commit": p["git_commit"][:7], "machine": machine,
                     "wall time": f"{p['wall_time_s'] / 60:.0f} min"})
    errors = errors_by_encoder(measured_dir)
    for encoder, name in ENCODER_NAMES.items():
        r = errors.loc[encoder]
        rows.append({"what": f"{name}: median error over seeds, range", "kind": "measured",
                     "folder": "data/measured/eyes/errors.csv",
                     "command": f"{r['all_median']:.2f} cm ({r['all_median_min']:.2f} to {r['all_median_max']:.2f}), "
                                f"{int(r['seeds'])} seeds", "commit": "", "machine": "", "wall time": ""})
    return SourcesTable(pd.DataFrame(rows))
