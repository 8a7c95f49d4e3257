"""The chapter's qualitative claims as checks over ``data/``: each returns the rows that contradict it.

A claim is checked against every row that could contradict it, whatever its provenance: the author's reported
figures, this project's measured runs and imported logs alike, and the measurement files of ``data/measured``.
Each violation names the claim and the row (run, step, value, source), so a failing test says which figure broke
which sentence. ``tests/test_claims.py`` runs every claim on the committed data, and once more per claim on a copy
of ``data/`` with the smallest edit that contradicts it.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pandas as pd

from pixelpush_lib.core.configs import STEP2_SAC_HER_SETTINGS
from pixelpush_lib.core.paths import DATA_DIR
from pixelpush_lib.results import measurement_claims as measured
from pixelpush_lib.results.evidence import (
    CONVERGED,
    EARLIER_TUTORIAL,
    EARLIER_TUTORIAL_LINES,
    LOW_BAND,
    PIXEL_STEPS,
    PROPRIO_ONLY_RUN,
    SOLVED,
    Claim,
    Evidence,
    describe_row,
    success_rows,
    top_values,
)
from pixelpush_lib.results.investigations import eyes
from pixelpush_lib.results.investigations.loss_signature import loss_signature, losses_without_climb
from pixelpush_lib.results.investigations.prediction import LATE, prediction_test
from pixelpush_lib.results.loaders import first_reading_at, load_project_runs, reading_at
from pixelpush_lib.results.own_runs import BUDGET_STEPS
from pixelpush_lib.results.quoted_numbers import Number


def _above(rows: pd.DataFrame, bound: float, claim: str) -> list[str]:
    bad = rows[top_values(rows) > bound]
    return [f"CLAIM BROKEN {claim!r} (bound {bound:.0%}): {describe_row(r)}" for _, r in bad.iterrows()]


def _stays_within_band(config: str, band: str, claim: str) -> Callable[[Evidence], list[str]]:
    """No success reading of ``config`` above the widest band the author's files give for it: the pages quote
    that band beside the canonical one, and a measured or imported run that rises above it contradicts them."""
    def check(data: Evidence) -> list[str]:
        limit = data.numbers[f"{band}_widest"]
        rows = success_rows(data, config)
        return _above(rows[rows["kind"] != "milestone_guidance"], limit.high, claim)
    return check


def _step2_flat_until_2m(data: Evidence) -> list[str]:
    rows = success_rows(data, "step2")
    rows = rows[(rows["step"] < 2_000_000) & rows["kind"].isin(["point", "range", "rolling_mean"])]
    return _above(rows, LOW_BAND, "Step 2 is flat for its first 2M steps")


def _step2_converges(data: Evidence) -> list[str]:
    rows = success_rows(data, "step2")
    rows = rows[(rows["step"] >= 4_000_000) & (rows["kind"] == "point")]
    bad = rows[rows["value"] < CONVERGED]
    return [f"CLAIM BROKEN 'Step 2 converges above 90% from 4M on': {describe_row(r)}" for _, r in bad.iterrows()]


def _latest(number: Number) -> float:
    return number.high if number.high is not None else number.value


def _pixel_onset_after_state(data: Evidence) -> list[str]:
    numbers = data.numbers
    out = []
    for state in {numbers["state_onset_step"], numbers["state_onset_step"].reported or numbers["state_onset_step"]}:
        pixels = numbers["step2_onset_step"]
        if pixels.value <= _latest(state):
            out.append(f"CLAIM BROKEN 'the pixel agent's hockey stick comes later than the state agent's': step2 "
                       f"onset {pixels.prose()} ({pixels.source}) vs state {state.prose()} ({state.source})")
    return out


def _state_runs(data: Evidence) -> list[tuple[str, pd.DataFrame]]:
    """Each state run that logged a curve, reported or measured: (label, readings in step order)."""
    rows = success_rows(data, "state")
    rows = rows[rows["kind"] == "point"]
    out = []
    for (run_id, provenance), group in rows.groupby(["run_id", "provenance"]):
        group = group.drop_duplicates("step", keep="last").sort_values("step")
        out.append((f"{provenance} {run_id}", group))
    return out


def _state_solves_by_2m(data: Evidence) -> list[str]:
    out = []
    for label, curve in _state_runs(data):
        value = reading_at(curve, BUDGET_STEPS)
        if value is not None and value < SOLVED:
            out.append(f"CLAIM BROKEN 'SAC + HER solves FetchPush from state by 2M steps' (bound {SOLVED:.0%}): "
                       f"{label} reads {value:.0%} at 2M")
    return out


def _state_flat_at_1m(data: Evidence) -> list[str]:
    out = []
    for label, curve in _state_runs(data):
        value = reading_at(curve, 1_000_000)
        if value is not None and value > LOW_BAND:
            out.append(f"CLAIM BROKEN 'every state run still reads at most {LOW_BAND:.0%} at 1M steps': "
                       f"{label} reads {value:.0%} at 1M")
    return out


def _state_climbs_before_2m(data: Evidence) -> list[str]:
    out = []
    for label, curve in _state_runs(data):
        if curve["step"].max() < BUDGET_STEPS or (curve["step"] < BUDGET_STEPS).sum() < 3:
            continue  # a run reported only at its end says nothing about when it climbed
        onset = first_reading_at(curve, 0.5)
        if onset is None or onset >= BUDGET_STEPS:
            out.append(f"CLAIM BROKEN 'the state agent climbs before 2M steps': {label} first reached 50% at "
                       f"{'no step' if onset is None else f'{onset:,}'}")
    return out


def _proprio_only_never_learns(data: Evidence) -> list[str]:
    rows = data.points[(data.points["run_id"] == PROPRIO_ONLY_RUN) & (data.points["metric"] == "success_rate")
                       & (data.points["kind"] == "point")].sort_values("step")
    out = [f"CLAIM BROKEN 'the proprio-only run never learned': {describe_row(row)} is above {LOW_BAND:.0%}"
           for _, row in rows[rows["value"] > LOW_BAND].iterrows()]
    if len(rows) and rows["value"].iloc[-1] != 0:
        out.append(f"CLAIM BROKEN 'the proprio-only run never learned': it ends at {describe_row(rows.iloc[-1])}, not zero")
    return out


def _step2_above_phase1_at_2m(data: Evidence) -> list[str]:
    at_2m, phase1 = data.numbers["step2_success_2m"], data.numbers["phase1_success"]
    if at_2m.value <= phase1.high:
        return [f"CLAIM BROKEN 'at 2M Step 2's run is already above the Phase 1 range': {at_2m.prose()} "
                f"({at_2m.source}) vs Phase 1 {phase1.prose()} ({phase1.source})"]
    return []


def _step4_stopped_before_step2_onset(data: Evidence) -> list[str]:
    stopped, onset = data.numbers["step4_final_step"], data.numbers["step2_onset_step"]
    if stopped.value >= (onset.low if onset.low is not None else onset.value):
        return [f"CLAIM BROKEN 'the DrQ run was stopped before Step 2's onset': stopped at {stopped.prose()} "
                f"({stopped.source}), onset {onset.prose()} ({onset.source})"]
    return []


def _only_first_seed_reported(data: Evidence) -> list[str]:
    rows = data.points[(data.points["provenance"] == "reported") & data.points["config"].isin(PIXEL_STEPS)]
    other = rows[rows["seed"].notna() & (rows["seed"] != 0)]
    return [f"CLAIM BROKEN 'only the first seed of each pixel step was ever reported': {describe_row(row)} is seed "
            f"{row['seed']:g}" for _, row in other.iterrows()]


def _pixels_only_untrained(data: Evidence) -> list[str]:
    rows = data.points[data.points["config"].str.endswith("_pixels_only", na=False)]
    return [f"CLAIM BROKEN 'no *_pixels_only config has been trained at scale': {describe_row(row)}"
            for _, row in rows.drop_duplicates("run_id").iterrows()]


def _step4_critic_declines(data: Evidence) -> list[str]:
    rows = data.points[(data.points["config"] == "step4") & (data.points["metric"] == "critic_loss")
                       & (data.points["kind"] == "point")]
    out = []
    for run_id, run in rows.groupby("run_id"):
        run = run.sort_values("step")
        if run["step"].nunique() >= 2 and run["value"].iloc[-1] >= run["value"].iloc[0]:
            out.append(f"CLAIM BROKEN 'the failed DrQ run's critic loss declined': {describe_row(run.iloc[0])} "
                       f"rose to {describe_row(run.iloc[-1])}")
    return out


def _earlier_tutorial_higher(data: Evidence) -> list[str]:
    """Data notes: the earlier chapter's tutorial reports a higher state success, over several seeds, than the
    single run the chapter quotes."""
    quoted = data.numbers["state_success_2m"].reported or data.numbers["state_success_2m"]
    rows = success_rows(data, "state")
    rows = rows[(rows["source_file"] == EARLIER_TUTORIAL) & rows["source_line"].isin(EARLIER_TUTORIAL_LINES)]
    return [f"CLAIM BROKEN 'the earlier tutorial reports a higher success than the quoted {quoted.prose()}': "
            f"{describe_row(row)}" for _, row in rows.iterrows() if row["value"] <= quoted.value]


def _three_phases(data: Evidence) -> list[str]:
    n = data.numbers
    checks = [
        (n["phase1_success"].high <= LOW_BAND < n["phase3_success"].low, "Phase 1 is flat and Phase 3 high",
         ("phase1_success", "phase3_success")),
        (n["phase2_critic"].low > n["phase1_critic"].value, "the critic loss rises in Phase 2",
         ("phase1_critic", "phase2_critic")),
        (n["phase3_critic"].high <= n["phase2_critic"].high, "the critic loss falls again in Phase 3",
         ("phase2_critic", "phase3_critic")),
        (n["phase2_actor"].low > n["phase1_actor"].value > n["phase3_actor"].high,
         "the actor loss sits near zero, rises, then turns negative", ("phase1_actor", "phase2_actor", "phase3_actor")),
    ]
    return [f"CLAIM BROKEN {claim!r}: " + "; ".join(f"{k} {n[k].prose()} ({n[k].source})" for k in keys)
            for holds, claim, keys in checks if not holds]


def _state_loss_rises(before: str, after: str, claim: str, metric: str = "critic_loss"
                      ) -> Callable[[Evidence], list[str]]:
    """Every measured state run that logged its losses has a larger mean ``metric`` in window ``after`` than in
    ``before`` (windows of :mod:`~pixelpush_lib.results.investigations.loss_signature`); a run without loss
    readings says nothing."""
    def check(data: Evidence) -> list[str]:
        table = loss_signature("state", data.data_dir)
        out = []
        for row in table.itertuples():
            low, high = getattr(row, f"{metric}_{before}"), getattr(row, f"{metric}_{after}")
            if pd.notna(low) and pd.notna(high) and not high > low:
                out.append(f"CLAIM BROKEN {claim!r}: measured {row.run_id} {metric.replace('_', ' ')} {high:.3g} in "
                           f"the {after} window, not above {low:.3g} in the {before} window (data/runs/{row.run_id})")
        return out
    return check


def _eyes_first_blind_to_puck_position(data: Evidence) -> list[str]:
    """Every eyes-first run in ``data/runs`` records what its policy saw, and the puck's true position is not in it."""
    out = []
    for run in load_project_runs(data.data_dir):
        manifest = run.manifest
        inputs = str(manifest.get("inputs", "unknown"))
        if manifest["config"].startswith("eyes_first") and ("achieved_goal" in inputs.split("+") or inputs == "unknown"):
            out.append(f"CLAIM BROKEN 'the eyes-first policy never sees achieved_goal': {manifest['provenance']['kind']} "
                       f"{manifest['run_id']} records inputs {inputs!r} (data/runs/{manifest['run_id']})")
    return out


def _eyes_first_losses_move_without_climb(data: Evidence) -> list[str]:
    """Every eyes-first run that never climbed has a larger mean critic loss and a smaller mean actor loss in its
    last window than in its first
    (:func:`~pixelpush_lib.results.investigations.loss_signature.losses_without_climb`)."""
    table = losses_without_climb("eyes_first", data.data_dir)  # windows without a loss reading are left out there
    claim = "CLAIM BROKEN 'without a climb the eyes-first critic loss rose and its actor loss fell'"
    if table.empty:
        return [f"{claim}: no measured eyes-first run in {data.data_dir / 'runs'} ran flat long enough to compare "
                "its windows"]
    out = []
    for row in table.itertuples():
        for metric, rose in (("critic_loss", True), ("actor_loss", False)):
            start, end = getattr(row, f"{metric}_start"), getattr(row, f"{metric}_end")
            if (end > start) != rose:
                out.append(f"{claim}: measured {row.run_id} {metric.replace('_', ' ')} {end:.3g} in the end window, "
                           f"{'not above' if rose else 'not below'} {start:.3g} in the start window "
                           f"(data/runs/{row.run_id})")
    return out


def _eyes_first_never_climbs(data: Evidence) -> list[str]:
    """Step 3's prediction failed, and plainly: there is an eyes-first run, each one finished its budget past the
    line, and none ever read the onset level (:mod:`~pixelpush_lib.results.investigations.prediction`)."""
    test = prediction_test("eyes_first", data.data_dir, data.numbers)
    claim = "CLAIM BROKEN 'the eyes-first runs passed the line and never climbed'"
    if test.runs.empty:
        return [f"{claim}: no measured eyes-first run in {data.data_dir / 'runs'}"]

    def state(row) -> str:
        onset = "no onset" if pd.isna(row.onset_step) else f"onset {row.onset_step:,.0f}"
        training = ", still training" if row.in_progress else ""
        return f"{row.outcome}, {onset}, last step {row.steps:,}{training}"

    return [f"{claim}: measured {row.run_id} is {state(row)}, against the line at {test.deadline:,.0f} "
            f"(data/runs/{row.run_id})" for row in test.runs.itertuples()
            if row.outcome != LATE or pd.notna(row.onset_step) or row.in_progress]


def _settings_control_has_step2s_settings(data: Evidence) -> list[str]:
    """Every run of the settings control (``state_step2_settings``) kept Step 2's SAC + HER settings: none of them
    was overridden, or its onset would measure other settings than the page says."""
    out = []
    for run in load_project_runs(data.data_dir):
        manifest = run.manifest
        overrides = manifest["provenance"].get("overrides") or {}
        changed = sorted(set(overrides) & set(STEP2_SAC_HER_SETTINGS))
        if manifest["config"] == "state_step2_settings" and changed:
            out.append(f"CLAIM BROKEN 'the settings control ran with Step 2's settings': {manifest['provenance']['kind']} "
                       f"{manifest['run_id']} overrides {', '.join(f'{k}={overrides[k]}' for k in changed)} "
                       f"(data/runs/{manifest['run_id']})")
    return out


CLAIMS = [
    Claim("step0_flat", "Step 0 (NatureCNN) stays in its reported band", _stays_within_band(
        "step0", "step0_band", "Step 0 stays in its band")),
    Claim("step1_flat", "Step 1 stays in its reported band for its 2M steps", _stays_within_band(
        "step1", "step1_band", "Step 1 stays in its band")),
    Claim("step4_flat", "Step 4 (DrQ + SpatialSoftmax) stays in its reported band", _stays_within_band(
        "step4", "step4_band", "Step 4 stays in its band")),
    Claim("step2_flat_until_2m", "Step 2 is flat for its first 2M steps", _step2_flat_until_2m),
    Claim("step2_converges", "Step 2 converges above 90%", _step2_converges),
    Claim("pixel_onset_after_state", "the pixel hockey stick comes later than the state one",
          _pixel_onset_after_state),
    Claim("state_solves_by_2m", "SAC + HER solves FetchPush from state by 2M steps", _state_solves_by_2m),
    Claim("state_flat_at_1m", "every state run still reads at most 15% at 1M steps", _state_flat_at_1m),
    Claim("state_climbs_before_2m", "the state agent's climb comes before 2M steps", _state_climbs_before_2m),
    Claim("three_phases", "Step 2's three phases: success, critic loss and actor loss", _three_phases),
    Claim("probe_finds_the_puck", "both encoders find the puck", measured.probe_finds_the_puck),
    Claim("imitation_control_pushes", "the state policy taught on the pixel students' budget pushes",
          measured.imitation_control_pushes),
    Claim("drq_log_range_is_the_tail", "DrQ's noise is of the signal's order; the log's range is its tail",
          measured.drq_log_range_is_the_tail),
    Claim("gradient_routing", "who trains the shared encoder: the actor loss in SB3, the critic's in DrQ-v2's routing",
          measured.gradient_routing),
    Claim("footprint_dilution", "NatureCNN dilutes the puck by its third layer; ManipulationCNN keeps it",
          measured.footprint_dilution),
    Claim("drq_large_noise_not_reproduced", "the log's larger noise figure is not reproduced",
          measured.drq_large_noise_not_reproduced),
    Claim("drq_swamps_close_states", "DrQ's noise is largest relative to the signal, and can swamp it, where gripper "
          "and puck are close", measured.drq_swamps_close_states),
    Claim("proprio_only_never_learns", "the proprio-only run never learned: in the failure band, ending at zero",
          _proprio_only_never_learns),
    Claim("step2_above_phase1_at_2m", "at 2M Step 2's run is already above the Phase 1 range",
          _step2_above_phase1_at_2m),
    Claim("step4_stopped_before_step2_onset", "the DrQ run was stopped before the step where Step 2's run turned up",
          _step4_stopped_before_step2_onset),
    Claim("only_first_seed_reported", "only the first seed of each pixel step was ever reported",
          _only_first_seed_reported),
    Claim("pixels_only_untrained", "no *_pixels_only config has been trained at scale yet", _pixels_only_untrained),
    Claim("memory_fits_now", "a 1M buffer could not fit with SB3's buffer and fits with the frame-once one",
          measured.memory_fits_now),
    Claim("stop_rules", "quoted and state-calibrated stop rules end Step 2 in Phase 1; the regime-aware one barely "
          "continues", measured.stop_rules),
    Claim("earlier_tutorial_higher", "the earlier tutorial's multi-seed state success is higher than the quoted run",
          _earlier_tutorial_higher),
    Claim("step4_critic_declines", "the failed DrQ run also had a declining critic loss", _step4_critic_declines),
    Claim("eyes_see_the_puck", "trained with simulator labels, both encoders' eyes locate the puck on held-out "
          "episodes far below learning nothing", eyes.eyes_see_the_puck),
    Claim("eyes_below_noise_curve", "the eyes cost the agent more than Gaussian noise of the same median error",
          eyes.eyes_below_noise_curve),
    Claim("eyes_worse_near_gripper", "the eyes err most with the gripper near the puck", eyes.eyes_worse_near_gripper),
    Claim("state_critic_grows_while_flat", "on our state seeds the critic loss grows while success is still flat",
          _state_loss_rises("start", "flat", "the state agent's critic loss grows while success is flat")),
    Claim("state_critic_rises_with_climb", "on our state seeds the critic loss rises further with the climb",
          _state_loss_rises("flat", "climb", "the state agent's critic loss rises with the climb")),
    Claim("state_actor_grows_while_flat", "on our state seeds the actor loss grows while success is still flat",
          _state_loss_rises("start", "flat", "the state agent's actor loss grows while success is flat", "actor_loss")),
    Claim("eyes_first_blind_to_puck_position", "the eyes-first policy sees what the eyes report, proprio and "
          "desired_goal, never achieved_goal", _eyes_first_blind_to_puck_position),
    Claim("eyes_first_losses_move_without_climb", "on the eyes-first runs that never climbed the critic loss rose "
          "and the actor loss fell", _eyes_first_losses_move_without_climb),
    Claim("eyes_first_never_climbs", "Step 3's prediction fails: the eyes-first runs passed the line and never "
          "climbed", _eyes_first_never_climbs),
    Claim("settings_control_has_step2s_settings", "the settings control is the state agent with Step 2's SAC + HER "
          "settings, none overridden", _settings_control_has_step2s_settings),
    Claim("precision_matters", "a policy must see the puck to within a few centimetres: noise of a few cm costs the "
          "state agent at least half its success", eyes.precision_matters),
]


def broken_claims(data_dir: Path = DATA_DIR) -> dict[str, list[str]]:
    """Claim name -> its violations, for every claim that the data in ``data_dir`` contradict."""
    evidence = Evidence.load(Path(data_dir))
    found = {claim.name: claim.check(evidence) for claim in CLAIMS}
    return {name: violations for name, violations in found.items() if violations}


__all__ = ["CLAIMS", "Claim", "Evidence", "broken_claims"]
