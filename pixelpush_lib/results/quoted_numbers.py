"""The named numbers the chapter's prose uses, computed from ``data/`` at call time, each with its provenance.

Canonical rule, where the author's files disagree (``book/data_notes.md`` lists the contradictions):

1. **Project data first.** A measured or imported run of the same config and seed (``data/runs/``) replaces the
   author's figure for numbers read off a curve (success at a step, onset): ``loaders.project_curve`` picks the run
   (measured over imported, then the newest). The author's figure stays listed as an alternative.
2. **Dated experiment logs over later prose.** Among reported figures the source file decides, in the order of
   :data:`SOURCE_RANK`: the run logs written while the runs ran (``tasks/critic_encoder_status.md`` first), then
   the tutorial (written afterwards from TensorBoard), then planning documents, then the older Manning draft.
3. **HEAD over older commits** of the same file (older commits hold overwritten figures).
4. Then the number's preferred **kind** (e.g. a 200K rolling mean over three points with no exact steps).
5. Then the **later line** of the same file (logs are appended in date order; corrections come further down),
   and, for a sequence on one line, its last value.

Every :class:`Number` says which row won (``source``) and lists the others (``alternatives``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from pixelpush_lib.core.paths import DATA_DIR
from pixelpush_lib.results.caching import cached_per_folder
from pixelpush_lib.results.loaders import (POINTS_FILES, first_reading_at, load_facts, load_points, project_curve,
                                          reading_at)
from pixelpush_lib.results.regime import label_phases
from pixelpush_lib.results.schema import HEAD_COMMIT

SOURCE_RANK = (
    "tasks/critic_encoder_status.md",
    "tasks/lessons.md",
    "tasks/pixel_push_encoder_research.md",
    "tasks/hockey_stick_research.md",
    "tasks/snapshots/2026-02-24_critic_encoder_probes.md",
    "tasks/pixel_push_changes.md",
    "tutorials/ch09_pixel_push.md",
    "tutorials/ch04_her_sparse_reach_push.md",
    "tasks/ch09_chapter_arc.md",
    "tasks/toc_revision_plan.md",
    "tasks/further_researc_and_plana.md",
    "tasks/pixel_push_fix_plan.md",
    "tasks/draft_ch9_further_reading.md",
    "Manning/chapters/ch09_pixel_push.md",
)
RULE = "project data > dated logs > tutorial > planning docs > Manning; HEAD > older commit; kind; later line"


@dataclass(frozen=True)
class Number:
    """One chapter number. ``value`` may be None when only bounds were reported (``low``/``high``)."""

    name: str
    value: float | None
    unit: str
    provenance: str
    source: str
    description: str
    low: float | None = None
    high: float | None = None
    alternatives: tuple[str, ...] = field(default_factory=tuple)
    #: seeds behind a project figure (a mean when n >= 2); None for the author's figures (seed count unknown)
    n: int | None = None
    #: the author's figure this project figure replaced (rule 1), so a page can set the two side by side
    reported: Number | None = None

    def prose(self, digits: int | None = None) -> str:
        """Text for the chapter: fractions as percent ('96%', '5-8%', '95%+'), steps as '2.2M', else value+unit."""
        return format_value(self.value, self.unit, self.low, self.high, digits)


def _fmt_one(x: float, unit: str, digits: int | None) -> str:
    if unit == "fraction":
        pct = 100 * x
        # logged success rates are float32: 0.02 arrives as 1.99999996%, which should still read "2"
        return f"{pct:.{digits}f}" if digits is not None else (f"{pct:.0f}" if abs(pct - round(pct)) < 1e-4
                                                              else f"{pct:.1f}")
    if unit in ("steps", "transitions"):
        if x >= 1e6:
            return f"{x / 1e6:.{digits if digits is not None else 2}f}".rstrip("0").rstrip(".") + "M"
        if x >= 1e3:
            return f"{x / 1e3:.0f}K"
        return f"{x:.0f}"
    if digits is not None:
        return f"{x:,.{digits}f}"
    if unit == "GB":  # memory to a tenth of a GB on every page: the measured 169.6 GB reads beside SB3's 169.62 GB
        return f"{x:,.1f}".rstrip("0").rstrip(".")
    return f"{x:,.0f}" if float(x).is_integer() and abs(x) >= 1000 else f"{x:g}"


def format_value(value: float | None, unit: str, low: float | None = None, high: float | None = None,
                 digits: int | None = None) -> str:
    """Format a value or a reported range for prose; see :meth:`Number.prose`."""
    suffix = {"fraction": "%", "steps": "", "transitions": "", "number": ""}.get(unit, f" {unit}")  # number: no unit
    if low is not None and high is not None:  # a reported range reads as the range, even around a value
        dash = " to " if min(low, high) < 0 else "-"
        return f"{_fmt_one(low, unit, digits)}{dash}{_fmt_one(high, unit, digits)}{suffix}"
    if value is not None:
        return _fmt_one(value, unit, digits) + suffix
    if low is not None:
        return f"{_fmt_one(low, unit, digits)}{suffix.strip() or ''}+" if unit == "fraction" else \
            f"{_fmt_one(low, unit, digits)}+{suffix}"
    if high is not None:
        return f"< {_fmt_one(high, unit, digits)}{suffix}"
    return "n/a"


# --------------------------------------------------------------------------- ranking reported rows


def _source_rank(source_file: str) -> int:
    return SOURCE_RANK.index(source_file) if source_file in SOURCE_RANK else len(SOURCE_RANK)


def _last_line(lines: Any) -> int:
    return max(int(part.split("-")[-1]) for part in str(lines).split(","))


def rank_rows(rows: pd.DataFrame, kinds: tuple[str, ...] = ()) -> pd.DataFrame:
    """Sort candidate rows best first by the canonical rule (module docstring, steps 2-5)."""
    line_col = "source_line" if "source_line" in rows.columns else "source_lines"
    key = pd.DataFrame({
        "src": rows["source_file"].map(_source_rank),
        "old": (rows["commit"] != HEAD_COMMIT).astype(int),
        "kind": rows["kind"].map(lambda k: kinds.index(k) if k in kinds else len(kinds)) if "kind" in rows else 0,
        "line": -rows[line_col].map(_last_line),
        "row": -pd.Series(range(len(rows)), index=rows.index),
    }, index=rows.index)
    return rows.loc[key.sort_values(["src", "old", "kind", "line", "row"], kind="stable").index]


def _cite(row: pd.Series) -> str:
    line = row.get("source_line", row.get("source_lines"))
    return f"{row['source_file']}:{line}@{str(row['commit'])[:7]}"


def _opt(x: Any) -> float | None:
    return None if x is None or pd.isna(x) else float(x)


def _describe_row(row: pd.Series, unit: str) -> str:
    return f"{format_value(_opt(row['value']), unit, _opt(row['value_low']), _opt(row['value_high']))} ({_cite(row)})"


def _from_reported(name: str, description: str, rows: pd.DataFrame, unit: str, kinds: tuple[str, ...],
                   value_from_step: bool = False) -> Number:
    if rows.empty:
        raise LookupError(f"chapter number '{name}': no row in data/ matches; check data/reported/points.csv")
    ranked = rank_rows(rows, kinds)
    best = ranked.iloc[0]
    alts = tuple(_describe_row(r, unit) if not value_from_step else f"{int(r['step']):,} ({_cite(r)})"
                 for _, r in ranked.iloc[1:].iterrows())
    if value_from_step:  # events: the reported onset step, with its span when the author gave one
        span_end = _opt(best["span_end"])
        return Number(name, float(best["step"]), "steps", "reported", _cite(best), description,
                      low=float(best["step"]) if span_end else None, high=span_end, alternatives=alts)
    return Number(name, _opt(best["value"]), unit, "reported", _cite(best), description,
                  _opt(best["value_low"]), _opt(best["value_high"]), alts)


# --------------------------------------------------------------------------- project data (rule 1)


def _project_value(config: str, seed: int, metric: str, step: int, data_dir: Path) -> tuple[float, str, str] | None:
    """(value, provenance, source) of the preferred project run: its last reading at or before ``step``."""
    curve = project_curve(config, seed, metric, data_dir)
    value = reading_at(curve, step)
    if value is None:
        return None
    run_id = curve["run_id"].iloc[0]
    logged = int(curve[curve["step"] <= step]["step"].iloc[-1])
    return value, _project_kind(run_id, data_dir), f"data/runs/{run_id} @ step {logged}"


def _project_mean(config: str, metric: str, step: int, data_dir: Path) -> tuple[float, str, str, int] | None:
    """Mean over every project seed of ``config`` logged near ``step`` (as ``_project_value``), if two or more."""
    seeds = sorted(int(s) for s in project_curve(config, None, metric, data_dir)["seed"].unique())
    found = [(s, v) for s in seeds if (v := _project_value(config, s, metric, step, data_dir)) is not None]
    if len(found) < 2:
        return None
    values = [v[0] for _, v in found]
    kinds = sorted({v[1] for _, v in found})
    source = (f"mean of n={len(found)} seeds {[s for s, _ in found]} (min {min(values):.3g}, max {max(values):.3g}): "
              + "; ".join(v[2] for _, v in found))
    return float(sum(values) / len(values)), "+".join(kinds), source, len(found)


def _project_kind(run_id: str, data_dir: Path) -> str:
    import json
    manifest = json.loads((Path(data_dir) / "runs" / run_id / "manifest.json").read_text(encoding="utf-8"))
    return manifest["provenance"]["kind"]


def _project_onset(config: str, rule: str, data_dir: Path,
                   window: int = 5) -> tuple[float, str, str] | tuple[float, str, str, int] | None:
    """Onset of the project runs of ``config``, by ``rule`` (``"phase2"``: the preferred run of seed 0).

    ``"phase2"``: the start of its first Phase-2 window (the regime rules of Step 3, which need success and both
    losses); they describe pixel runs, whose critic loss climbs with success. The state agent's losses follow no
    such phases, so its rule is ``"success_level"``: the first reading at or above :data:`ONSET_LEVEL`.
    """
    if rule == "success_level":
        # Every seed, as the success numbers: the mean of the seeds' onsets when two or more have one, so a page
        # that states the seeds' spread and a page that states the onset give one value.
        curves = project_curve(config, None, "success_rate", data_dir)
        found = []
        for seed, curve in curves.groupby("seed", sort=True):
            step = first_reading_at(curve, ONSET_LEVEL)
            if step is not None:
                found.append((int(seed), float(step), curve["run_id"].iloc[0]))
        if not found:
            return None
        steps = [step for _, step, _ in found]
        kind = "+".join(sorted({_project_kind(run_id, data_dir) for _, _, run_id in found}))
        rule_text = f"first success reading at or above {ONSET_LEVEL:.0%}"
        if len(found) == 1:
            return steps[0], kind, f"data/runs/{found[0][2]} ({rule_text})"
        source = (f"mean of n={len(found)} seeds {[s for s, _, _ in found]} (min {min(steps):,.0f}, "
                  f"max {max(steps):,.0f}), each its {rule_text}: " + "; ".join(f"data/runs/{r}" for *_, r in found))
        return float(sum(steps) / len(steps)), kind, source, len(found)
    curves = {m: project_curve(config, 0, m, data_dir) for m in ("success_rate", "critic_loss", "actor_loss")}
    if any(c.empty for c in curves.values()):
        return None
    merged = curves["success_rate"].merge(curves["critic_loss"], on=["run_id", "seed", "step"], suffixes=("", "_c"))
    merged = merged.merge(curves["actor_loss"], on=["run_id", "seed", "step"], suffixes=("", "_a"))
    if len(merged) < window:
        return None
    windows = label_phases(merged["step"], merged["value"], merged["value_c"], merged["value_a"], window=window)
    first = next((w for w in windows if w.phase == 2), None)
    if first is None:
        return None
    run_id = merged["run_id"].iloc[0]
    return float(first.start_step), _project_kind(run_id, data_dir), f"data/runs/{run_id} (first Phase-2 window)"


def _with_project(number: Number, found: tuple[float, str, str] | tuple[float, str, str, int] | None) -> Number:
    if found is None:
        return number
    value, prov, source, *n = found
    reported = f"{number.prose()} ({number.source})"
    return Number(number.name, value, number.unit, prov, source, number.description,
                  alternatives=(reported, *number.alternatives), n=n[0] if n else 1, reported=number)


# --------------------------------------------------------------------------- the numbers

# name: (description, config, metric, step or None, kinds in preference order, extra row filter)
_CURVE_NUMBERS: dict[str, tuple[str, str, str, int | None, tuple[str, ...]]] = {
    "state_success_1m": ("State baseline success at 1M steps", "state", "success_rate", 1_000_000, ("point",)),
    "state_success_2m": ("State baseline success at 2M steps", "state", "success_rate", 2_000_000, ("point",)),
    "step2_success_2m": ("Step 2 success at 2M steps (end of the original run)", "step2", "success_rate",
                         2_000_000, ("rolling_mean", "point")),
    # The figure's single readings at 2M, beside step2_success_2m's rolling mean (the text shows both).
    "step2_reading_2m": ("Step 2's single readings at 2M steps", "step2", "success_rate", 2_000_000, ("point",)),
    "step2_success_4m": ("Step 2 success at 4M steps", "step2", "success_rate", 4_000_000, ("point",)),
    "step1_success_2m": ("Step 1 success at 2M steps", "step1", "success_rate", 2_000_000, ("point", "range")),
    "step4_success_final": ("Step 4 (Cell D) success at its last reading, 1.54M", "step4", "success_rate",
                            1_540_000, ("point",)),
}
_BANDS = {
    "step0_band": ("Step 0 (NatureCNN) success band", "step0"),
    "step1_band": ("Step 1 success band over its 2M steps", "step1"),
    "step4_band": ("Step 4 success band over its 1.54M steps", "step4"),
}
# name: (description, config, how a project run's onset is found; see _project_onset)
_ONSETS = {
    "state_onset_step": ("State baseline hockey-stick onset", "state", "success_level"),
    "step2_onset_step": ("Step 2 hockey-stick onset", "step2", "phase2"),
}
ONSET_LEVEL = 0.5  # a project run's success onset: its first logged reading at or above this
# Three-phase table (Cell A, seed 0): phase -> (start step, span end or None for open)
_PHASES = {1: (0, 2_200_000), 2: (2_200_000, 3_500_000), 3: (3_500_000, None)}
_FACTS = ("pixel_obs_bytes", "pixel_transition_bytes", "buffer_1m_pixels_gb", "sb3_memory_warning_gb",
          "sb3_memory_available_gb", "max_safe_buffer_transitions", "buffer_500k_gb", "state_transition_bytes",
          "state_buffer_1m_mb", "drq_shift_px", "drq_noise_coord", "drq_noise_coord_doubled", "drq_signal_coord",
          "drq_noise_to_signal", "q_always_failing", "step2_wall_time_to_4m_h")


def _matches_step(points: pd.DataFrame, step: int) -> pd.Series:
    """Rows read at ``step``: points/ranges at it, or a rolling mean whose window ends there."""
    at = points["step"] == step
    window_end = (points["kind"] == "rolling_mean") & (points["span_end"] == step)
    return at | window_end


def _curve_number(name: str, reported: pd.DataFrame, data_dir: Path) -> Number:
    description, config, metric, step, kinds = _CURVE_NUMBERS[name]
    rows = reported[(reported["config"] == config) & (reported["metric"] == metric) & reported["kind"].isin(kinds)
                    & _matches_step(reported, step)]
    number = _from_reported(name, description, rows, "fraction", kinds)
    seed = _canonical_seed(rows, kinds)
    # Two or more project seeds: their mean (with n) replaces the single-seed figure (rule 1).
    found = _project_mean(config, metric, step, data_dir) or _project_value(config, seed, metric, step, data_dir)
    return _with_project(number, found)


def _canonical_seed(rows: pd.DataFrame, kinds: tuple[str, ...]) -> int:
    """Seed of the winning reported row (the chapter's runs are seed 0 when the author did not say)."""
    seed = rank_rows(rows, kinds).iloc[0]["seed"]
    return 0 if seed is None or pd.isna(seed) else int(seed)


def _widest_band(name: str, description: str, rows: pd.DataFrame) -> Number:
    """The band with the highest top among ``rows`` (the author's files do not all summarise a run alike)."""
    top = rows.loc[rows["value_high"].astype(float).idxmax()]
    return Number(name, None, "fraction", "reported", _cite(top), description,
                  float(top["value_low"]), float(top["value_high"]))


def _numbers_from_points(points: pd.DataFrame, data_dir: Path) -> dict[str, Number]:
    reported = points[points["provenance"] == "reported"]
    out = {name: _curve_number(name, reported, data_dir) for name in _CURVE_NUMBERS}
    for name, (description, config) in _BANDS.items():
        rows = reported[(reported["config"] == config) & (reported["metric"] == "success_rate")
                        & (reported["kind"] == "phase_summary") & reported["value_low"].notna()
                        & reported["value_high"].notna()]
        out[name] = _from_reported(name, description, rows, "fraction", ("phase_summary",))
        out[f"{name}_widest"] = _widest_band(f"{name}_widest", f"{description}: the widest any source gives", rows)
    for name, (description, config, rule) in _ONSETS.items():
        rows = reported[(reported["config"] == config) & (reported["metric"] == "hockey_stick_onset")]
        number = _from_reported(name, description, rows, "steps", ("event",), value_from_step=True)
        out[name] = _with_project(number, _project_onset(config, rule, data_dir))
    out.update(_phase_numbers(reported))
    return out


def _phase_numbers(reported: pd.DataFrame) -> dict[str, Number]:
    out = {}
    units = {"success_rate": "fraction", "critic_loss": "loss", "actor_loss": "loss"}
    for phase, (start, end) in _PHASES.items():
        span = reported["span_end"] == end if end is not None else reported["span_open"]
        for metric, unit in units.items():
            rows = reported[(reported["config"] == "step2") & (reported["metric"] == metric)
                            & (reported["kind"] == "phase_summary") & (reported["step"] == start) & span]
            short = metric.replace("_rate", "").replace("_loss", "")
            out[f"phase{phase}_{short}"] = _from_reported(
                f"phase{phase}_{short}", f"Three-phase table, Phase {phase}: {metric}", rows, unit, ("phase_summary",))
        start_row = out[f"phase{phase}_success"]
        out[f"phase{phase}_start_step"] = Number(f"phase{phase}_start_step", float(start), "steps", "reported",
                                                 start_row.source, f"Phase {phase} starts (three-phase table)")
    return out


def _fact_numbers(facts: pd.DataFrame) -> dict[str, Number]:
    out = {}
    for name in _FACTS:
        rows = facts[facts["fact"] == name]
        unit = rows["unit"].iloc[0] if len(rows) else ""
        out[name] = _from_reported(name, str(rows["note"].iloc[0]) if len(rows) else name, rows, unit, ())
    return out


def provenance_summary(numbers: dict[str, Number], names: list[str]) -> str:
    """How the numbers ``names`` were obtained, for a page that shows them together: ``'all reported'``, or
    ``'a mix: imported, reported'`` once project runs replace some of them."""
    kinds = sorted({numbers[name].provenance for name in names})
    return f"all {kinds[0]}" if len(kinds) == 1 else "a mix: " + ", ".join(kinds)


def chapter_numbers(data_dir: Path = DATA_DIR, points: pd.DataFrame | None = None) -> dict[str, Number]:
    """Every named chapter number, computed from ``data_dir`` (validated on load): from ``points``
    (``load_points(data_dir)``) where the caller has them, else once per process and content of ``data_dir``.

    Names are stable snake_case: the keys of ``_CURVE_NUMBERS`` and ``_BANDS``, ``state_onset_step``,
    ``step2_onset_step``, ``step2_success_final``, ``step2_final_step``, ``step4_final_step``, ``phase{1,2,3}_{success,
    critic,actor,start_step}``, and the facts of ``reported/facts.csv`` (``pixel_transition_bytes``, ...). Raises
    ``schema.DataError`` for invalid data and ``LookupError`` when a number has no source row.
    """
    if points is None:
        return _numbers_of_folder(data_dir)
    out = {**_numbers_from_points(points, data_dir), **_final_numbers(points), **_fact_numbers(load_facts(data_dir))}
    return dict(sorted(out.items()))


@cached_per_folder(*POINTS_FILES, on_disk=True)
def _numbers_of_folder(data_dir: Path = DATA_DIR) -> dict[str, Number]:
    return chapter_numbers(data_dir, load_points(data_dir))


def _final_numbers(points: pd.DataFrame) -> dict[str, Number]:
    """Last reported success reading of Step 2 and Step 4 and its step (point rows only)."""
    out = {}
    for config, label in (("step2", "Step 2"), ("step4", "Step 4")):
        rows = points[(points["provenance"] == "reported") & (points["config"] == config)
                      & (points["metric"] == "success_rate") & (points["kind"] == "point")]
        last = rows[rows["step"] == rows["step"].max()]
        number = _from_reported(f"{config}_success_final", f"{label} success at its last reported step", last,
                                "fraction", ("point",))
        if config == "step2":
            out["step2_success_final"] = number
        out[f"{config}_final_step"] = Number(f"{config}_final_step", float(last["step"].iloc[0]), "steps", "reported",
                                             number.source, f"{label}: last reported training step")
    return out
