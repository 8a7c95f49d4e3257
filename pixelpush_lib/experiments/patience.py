"""Step 3: the patience tax in numbers: replay-buffer memory, and what stop rules would have decided.

(a) **Memory**, measured: both replay buffers are allocated for the chapter's observation (4-stacked 3x84x84 uint8
frames, 10-D proprio, two 3-D goals, ``n_envs=4``) by ``replay.memory.buffer_pair``, and the ``nbytes`` of
every array they hold is divided by their capacity (:func:`bytes_per_transition`). :func:`memory_table` scales
that to 200K/500K/1M transitions (GB = 1e9 B, SB3's own unit) beside the author's figures from ``data/``.

(b) **Stop rules**, replayed on the author's reported Step 2 curve (Cell A, seed 0, ``data/reported/points.csv``)
with the regime monitor's phase labels (``regime.label_phases``). The reference transcription left stop rules out
of the CSV, so each rule here says whether it is *quoted* (a decision the author's files record, with the file) or
*hypothetical* (a rule we wrote to show the mechanism). See :data:`STOP_RULES`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from pixelpush_lib.core.configs import get_config
from pixelpush_lib.core.paths import DATA_DIR, MEASURED_DIR
from pixelpush_lib.experiments.store import write_measured
from pixelpush_lib.results.loaders import load_points
from pixelpush_lib.results.quoted_numbers import HEAD_COMMIT, Number, chapter_numbers, rank_rows
from pixelpush_lib.results.regime import PHASE_NAMES, STEPS_PER_UNIT, label_phases

BUFFER_SIZES = (200_000, 500_000, 1_000_000)
GB = 1e9  # SB3's memory warning divides by 1e9


# --- (a) memory ------------------------------------------------------------------------------------


def bytes_per_transition(capacity: int = 2000) -> pd.DataFrame:
    """Measured bytes per transition of SB3's ``HerReplayBuffer`` and ``FrameHerReplayBuffer``, each built with
    ``capacity`` transitions (:func:`pixelpush_lib.replay.memory.buffer_pair`). Columns: ``bytes``,
    ``pixel_bytes``."""
    # Imported here: the buffers need torch and SB3, which the stop rules and the facts (all a page reads) do not.
    from pixelpush_lib.replay.memory import buffer_pair, bytes_per_transition as measure_bytes

    with buffer_pair(capacity) as buffers:
        return measure_bytes(buffers, capacity)


def memory_table(per_transition: pd.DataFrame, sizes: tuple[int, ...] = BUFFER_SIZES) -> pd.DataFrame:
    """GB for each buffer size (linear in the measured bytes per transition), one row per buffer."""
    table = pd.DataFrame({f"{n // 1000}K" if n < 1_000_000 else f"{n // 1_000_000}M":
                          per_transition["bytes"] * n / GB for n in sizes})
    table.insert(0, "B per transition", per_transition["bytes"].round(0))
    return table


def author_memory_figures(data_dir: Path = DATA_DIR) -> pd.DataFrame:
    """The author's memory figures from ``data/reported/facts.csv`` (canonical value and source)."""
    numbers = chapter_numbers(data_dir)
    names = ("pixel_transition_bytes", "sb3_memory_warning_gb", "sb3_memory_available_gb", "buffer_1m_pixels_gb",
             "buffer_500k_gb", "max_safe_buffer_transitions")
    return pd.DataFrame([{"figure": n, "value": numbers[n].prose(), "source": numbers[n].source,
                          "alternatives": "; ".join(numbers[n].alternatives)} for n in names]).set_index("figure")


# --- (b) stop rules ----------------------------------------------------------------------------------


def step2_success_curve(data_dir: Path = DATA_DIR) -> pd.DataFrame:
    """The reported Step 2 success readings (``point`` rows at HEAD), one per step: where sources give several
    readings at one step, the canonical rule's best row (``numbers.rank_rows``). Columns: step, success, source."""
    points = load_points(data_dir)
    rows = points[(points["provenance"] == "reported") & (points["config"] == "step2")
                  & (points["metric"] == "success_rate") & (points["kind"] == "point")
                  & (points["commit"] == HEAD_COMMIT)]
    best = [rank_rows(group).iloc[0] for _, group in rows.groupby("step")]
    return pd.DataFrame({"step": [int(r["step"]) for r in best], "success": [float(r["value"]) for r in best],
                         "source": [f"{r['source_file']}:{r['source_line']}" for r in best]})


def step2_loss_table(data_dir: Path = DATA_DIR) -> pd.DataFrame:
    """Steps where one source line reports success, critic and actor loss together (the tutorial's TensorBoard
    table), with the regime label of the interval that ENDS at each step (``label_phases``, window 2)."""
    points = load_points(data_dir)
    rows = points[(points["provenance"] == "reported") & (points["config"] == "step2") & (points["kind"] == "point")
                  & points["metric"].isin(["success_rate", "critic_loss", "actor_loss"])]
    wide = rows.pivot_table(index=["source_file", "source_line", "step"], columns="metric", values="value").dropna()
    wide = wide.reset_index().sort_values("step").drop_duplicates("step", keep="last").reset_index(drop=True)
    windows = label_phases(wide["step"], wide["success_rate"], wide["critic_loss"], wide["actor_loss"], window=2)
    wide["phase"] = [np.nan] + [w.phase for w in windows]
    wide["source"] = wide["source_file"] + ":" + wide["source_line"].astype(str)
    return wide[["step", "success_rate", "critic_loss", "actor_loss", "phase", "source"]]


@dataclass(frozen=True)
class StopRule:
    """'At ``step``, stop if ``condition``'. ``kind`` is ``quoted`` (the author's files record it; ``basis`` cites
    them) or ``hypothetical`` (ours, ``basis`` says why). ``max_success`` None means 'stop regardless'."""

    name: str
    kind: str
    step: int
    max_success: float | None
    needs_phase1: bool
    basis: str


STOP_RULES = (
    StopRule("author's kill at 1.54M ('no trend')", "quoted", 1_540_000, None, True,
             "Cell D (the run the logs call 'Run A') was terminated at 1.54M of 2M steps: runs.csv "
             "cellD_drq_ss_criticenc_seed0 'terminated at 1.54M / 2M'; the arc justifies it by 'no trend at 1.54M' "
             "and retells it as 'We killed Run A at 1.54M steps, thinking it failed' (ch09_chapter_arc.md). "
             "Replayed as: stop if the regime monitor labels the curve Phase 1 (flat) at 1.54M."),
    StopRule("planned 2M budget", "quoted", 2_000_000, None, False,
             "The Step 2 run was launched with --total-steps 2000000 and ended at 2M before being extended "
             "(runs.csv cellA_nodrq_ss_criticenc_seed0 / cellA_ext_seed0; arc: 'Flat at 6% for 2M steps ... Extend "
             "to 8M')."),
    StopRule("state-calibrated: success < 10% at 1.5M", "hypothetical", 1_500_000, 0.10, False,
             "Ours: a rule tuned on the state baseline, whose hockey stick began before this step (state_onset_step), "
             "would expect lift-off by 1.5M."),
    StopRule("regime-aware: < 10% at 1.5M, unless Phase 1 with success rising", "hypothetical", 1_500_000, 0.10,
             False, "Ours: the same rule filtered by this library's RegimeMonitorCallback, which warns instead of "
             "stopping when the run is in Phase 1 and its success trend (least squares, all readings so far) is up."),
)


def stop_decision(rule: StopRule, success_seen: float, phase: int, success_slope: float) -> bool:
    """Whether ``rule`` stops a run whose last success reading at its decision step is ``success_seen``, in regime
    ``phase`` (``regime.label_phases``) with ``success_slope`` (per 1M steps, least squares over the readings so far).
    The one place a rule decides: the reported curve's replay and Step 3's exercise on our own runs both ask it."""
    stop = rule.max_success is None or success_seen < rule.max_success
    if rule.needs_phase1:
        stop = phase == 1
    if rule.name.startswith("regime-aware") and stop and phase == 1 and success_slope > 0:
        stop = False
    return stop


def _phase_at(step: int, losses: pd.DataFrame) -> int:
    """Phase of the reported interval containing ``step`` (0 if no interval covers it)."""
    after = losses[losses["step"] >= step]
    return int(after["phase"].iloc[0]) if len(after) and not np.isnan(after["phase"].iloc[0]) else 0


def _slope_per_m(curve: pd.DataFrame) -> float:
    return float(np.polyfit(curve["step"] / STEPS_PER_UNIT, curve["success"], 1)[0]) if len(curve) > 1 else 0.0


def _what_happened_next(curve: pd.DataFrame, step: int) -> str:
    later = curve[curve["step"] > step]
    parts = []
    for level in (0.3, 0.7, 0.9):
        hit = later[later["success"] >= level]
        if len(hit):
            parts.append(f">= {level:.0%} at {hit['step'].iloc[0] / 1e6:.2f}M")
    final = curve.iloc[-1]
    return "; ".join(parts + [f"last reading {final['success']:.0%} at {final['step'] / 1e6:.2f}M"])


def replay_stop_rules(data_dir: Path = DATA_DIR, rules: tuple[StopRule, ...] = STOP_RULES) -> pd.DataFrame:
    """Each rule's decision on the reported Step 2 curve and what the same curve did afterwards."""
    curve, losses = step2_success_curve(data_dir), step2_loss_table(data_dir)
    onset = chapter_numbers(data_dir)["step2_onset_step"]
    rows = []
    for rule in rules:
        seen = curve[curve["step"] <= rule.step]
        last = seen.iloc[-1]
        phase, slope = _phase_at(rule.step, losses), _slope_per_m(seen)
        stop = stop_decision(rule, last["success"], phase, slope)
        rows.append({"rule": rule.name, "kind": rule.kind, "decision step": f"{rule.step / 1e6:g}M",
                     "success seen": f"{last['success']:.0%} at {last['step'] / 1e6:.2f}M",
                     "phase there": PHASE_NAMES[phase], "success trend so far (per 1M)": round(slope, 3),
                     "decision": "STOP" if stop else "continue",
                     "what the reported curve did next": f"onset {onset.prose()}; " + _what_happened_next(curve, rule.step),
                     "basis": rule.basis,
                     "source": f"success seen: {last['source']}; onset: {onset.source}"})
    return pd.DataFrame(rows).set_index("rule")


def precompute(quick: bool = False, measured_dir: Path = MEASURED_DIR,
               command: str = "python -m pixelpush_lib.experiments memory") -> Path:
    """Freeze the memory measurement (and the stop-rule replay) into ``measured_dir/memory/``."""
    start = time.perf_counter()
    per = bytes_per_transition(400 if quick else 2000)
    table, rules = memory_table(per), replay_stop_rules()
    writers = {"bytes_per_transition.csv": lambda p: per.to_csv(p, float_format="%.1f"),
               "memory_gb.csv": lambda p: table.to_csv(p, float_format="%.2f"),
               "stop_rules.csv": lambda p: rules.to_csv(p)}
    ratio = float(per.loc["FrameHerReplayBuffer", "bytes"] / per.loc["SB3 HerReplayBuffer", "bytes"])
    return write_measured("memory", writers, {"capacity": 400 if quick else 2000, "quick": quick}, command,
                          time.perf_counter() - start, {"memory_ratio": ratio}, measured_dir)


# --- What Step 3's page glues ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PatienceFacts:
    """Step 3's facts: ``glued`` (name -> prose text for ``{glue:text}``), the replayed stop rules and the memory
    table (both shown as tables)."""

    glued: dict[str, str]
    stop_rules: pd.DataFrame
    memory: pd.DataFrame


def budget_ratio(numbers: dict[str, Number]) -> str:
    """Onset of the pixel hockey stick over the state one, both the author's (one seed each), as a ratio or a range.

    The author's figures even where this project's runs replaced them: the ratio compares the author's two runs.
    """
    state, pixel = (numbers[name].reported or numbers[name] for name in ("state_onset_step", "step2_onset_step"))
    low = pixel.value / (state.high if state.high is not None else state.value)
    high = pixel.value / (state.low if state.low is not None else state.value)
    return f"{low:.1f}" if abs(high - low) < 0.05 else f"{low:.1f} to {high:.1f}"


def _share_text(hits: int, total: int) -> str:
    """``'Both rules'``, ``'All 3 rules'``, ``'The one rule'``, ``'None of the 2 rules'`` or ``'1 of the 3 rules'``."""
    if total == 1:
        return "The one rule" if hits == 1 else "Not the one rule"
    if hits == 0:
        return f"None of the {total} rules"
    if hits == total:
        return "Both rules" if total == 2 else f"All {total} rules"
    return f"{hits} of the {total} rules"


def patience_facts(numbers: dict[str, Number] | None = None, data_dir: Path = DATA_DIR,
                   capacity: int = 2000) -> PatienceFacts:
    """Everything Step 3 states as a number: the phase table's cells, HER's relabelled share, the failed DrQ run's
    actor loss, the budget ratio, the stop rules' verdicts and the measured buffer memory (a few seconds)."""
    numbers = chapter_numbers(data_dir) if numbers is None else numbers
    glued = {f"phase{p}_{m}_v": numbers[f"phase{p}_{m}"].prose().removesuffix(" loss")
             for p in (1, 2, 3) for m in ("critic", "actor")}
    glued["q_always_failing_v"] = numbers["q_always_failing"].prose().removesuffix(" return")
    # With k future goals per real one, k / (k + 1) of the sampled transitions are relabelled.
    her_k = get_config("step2").her_n_sampled_goal
    glued.update(her_k=str(her_k), her_relabelled=f"{100 * her_k / (her_k + 1):.0f}%")
    # A rising actor loss is not unique to the hockey stick: the failed DrQ run's (reported) rose too.
    points = load_points(data_dir)
    step4_actor = points[(points["config"] == "step4") & (points["metric"] == "actor_loss")]
    glued["step4_actor_high"] = f"{step4_actor[['value', 'value_high']].max().max():.1f}"
    glued["budget_ratio"] = budget_ratio(numbers)
    stop_rules = replay_stop_rules(data_dir)
    quoted = stop_rules[stop_rules["kind"] == "quoted"]
    stops = int((quoted["decision"] == "STOP").sum())
    glued.update(quoted_stops=str(stops), quoted_rules=str(len(quoted)), quoted_verdict=_share_text(stops, len(quoted)))
    memory = memory_table(bytes_per_transition(capacity))
    sb3, ours = memory.loc["SB3 HerReplayBuffer"], memory.loc["FrameHerReplayBuffer"]
    glued.update(sb3_1m_gb=f"{sb3['1M']:.1f} GB", frame_1m_gb=f"{ours['1M']:.1f} GB",
                 frame_500k_gb=f"{ours['500K']:.1f} GB",
                 buffer_ratio=f"{100 * ours['B per transition'] / sb3['B per transition']:.0f}%")
    return PatienceFacts(glued, stop_rules, memory)
