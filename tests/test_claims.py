"""The chapter's qualitative claims (pixelpush_lib.results.claims), checked against data/.

Every claim holds on the committed data; and for every claim, the smallest edit of a copy of data/ that contradicts
it (a measured run, a changed reading, a changed measurement file) makes exactly that claim fail, with a message
naming the claim and the offending row.
"""

from __future__ import annotations

import csv
import os
import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from datadir_helpers import write_measured_run
from pixelpush_lib.core.paths import DATA_DIR
from pixelpush_lib.results.claims import CLAIMS, broken_claims
from pixelpush_lib.results.importer import write_run
from pixelpush_lib.results.investigations.students import load_students


def test_every_claim_holds_on_the_committed_data():
    assert broken_claims() == {}


# --- the smallest contradicting edit per claim -------------------------------------------------------------------


def _link_models(src: str, dst: str) -> None:
    if src.endswith((".zip", ".pt")):
        os.symlink(src, dst)
    else:
        shutil.copy2(src, dst)


def _copy(tmp_path: Path) -> Path:
    target = tmp_path / "data"
    # Model files are large and never edited here: linked, so that every manifest still finds the files it lists.
    shutil.copytree(DATA_DIR, target, ignore=shutil.ignore_patterns("checkpoints"), copy_function=_link_models)
    return target


def _measured(data: Path, run_id: str, config: str, steps, values) -> None:
    curve = pd.DataFrame({"step": steps, "metric": "success_rate", "value": values})
    write_run({"schema_version": 1, "run_id": run_id, "arc_step": config.removeprefix("step"), "config": config,
               "seed": 7, "inputs": "unknown",
               "provenance": {"kind": "measured", "command": "test", "config": config, "commit": "abc1234",
                              "machine": "test"}}, curve, data)


def _measured_with_losses(data: Path, critic) -> None:
    """Measured run state_s7: it climbs at 1.24M and converges there, logging ``critic`` (and an actor loss that
    rises all along, as the actor claim says)."""
    write_measured_run(data, "state", 7, STEPS, np.where(STEPS > 1_200_000, 0.95, 0.05), critic_loss=critic,
                       actor_loss=STEPS / 1e6)


def _eyes_first_flat(data: Path, critic: np.ndarray, success: np.ndarray | None = None) -> None:
    """Measured run eyes_first_s7, through the eyes as the config says: ``success`` (by default flat at 5%) for 2M
    steps, logging ``critic`` and an actor loss that falls from 0.4 to 0.1."""
    success = np.full(len(STEPS), 0.05) if success is None else success
    curve = pd.concat([pd.DataFrame({"step": STEPS, "metric": metric, "value": values}) for metric, values in (
        ("success_rate", success), ("critic_loss", critic),
        ("actor_loss", np.where(STEPS < 1_000_000, 0.4, 0.1)))])
    write_run({"schema_version": 1, "run_id": "eyes_first_s7", "arc_step": "3", "config": "eyes_first", "seed": 7,
               "inputs": "pixels+proprio+desired_goal",
               "provenance": {"kind": "measured", "command": "test", "config": "eyes_first", "commit": "abc1234",
                              "machine": "test"}}, curve, data)


def _edit_points(data: Path, match: Callable[[dict], bool], **changes: str) -> None:
    path = data / "reported" / "points.csv"
    with open(path, newline="") as handle:
        rows = list(csv.DictReader(handle))
    hits = [row for row in rows if match(row)]
    assert hits, "the edit matched no row"
    for row in hits:
        row.update(changes)
    with open(path, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


def _success_point(config: str, step_at_least: int = 0, step_below: int = 10**9) -> Callable[[dict], bool]:
    return lambda r: (r["config"] == config and r["metric"] == "success_rate" and r["kind"] == "point"
                      and step_at_least <= int(r["step"]) < step_below)


STEPS = np.arange(40_000, 2_000_001, 40_000)
STUDENTS_ROUND = load_students().common_round()
EDITS: dict[str, tuple[Callable[[Path], None], str]] = {
    "step0_flat": (lambda d: _measured(d, "m_step0", "step0", STEPS, np.where(STEPS > 1_500_000, 0.9, 0.05)),
                   "measured m_step0 at step 1,520,000: 0.9"),
    "step1_flat": (lambda d: _edit_points(d, _success_point("step1", 1_000_000), value="0.5"), "reported"),
    "step4_flat": (lambda d: _measured(d, "m_step4", "step4", STEPS, np.full(len(STEPS), 0.3)),
                   "measured m_step4 at step 40,000: 0.3"),
    "step2_flat_until_2m": (lambda d: _edit_points(d, _success_point("step2", 500_000, 1_500_000), value="0.4"),
                            "reported"),
    "step2_converges": (lambda d: _edit_points(d, _success_point("step2", 4_100_000), value="0.7"), "reported"),
    # moving the state onset, not the pixel one: a pixel onset before 1.5M would also precede Step 4's stop
    "pixel_onset_after_state": (lambda d: _edit_points(
        d, lambda r: r["config"] == "state" and r["metric"] == "hockey_stick_onset", step="2300000", span_end=""),
        "vs state 2.3M"),
    # flat window [940K, 1.14M), start [0, 200K), climb [1.14M, 1.24M]: see loss_signature.WINDOWS
    "state_critic_grows_while_flat": (lambda d: _measured_with_losses(
        d, np.where(STEPS < 600_000, 0.3, np.where(STEPS < 1_140_000, 0.1, 0.5))),
        "measured state_s7 critic loss 0.1 in the flat window, not above 0.3 in the start window"),
    "state_critic_rises_with_climb": (lambda d: _measured_with_losses(
        d, np.where(STEPS < 600_000, 0.1, np.where(STEPS < 1_140_000, 0.4, 0.2))),
        "measured state_s7 critic loss 0.2 in the climb window, not above 0.4 in the flat window"),
    "eyes_first_blind_to_puck_position": (lambda d: write_run(
        {"schema_version": 1, "run_id": "eyes_first_s7", "arc_step": "3", "config": "eyes_first", "seed": 7,
         "inputs": "pixels+proprio+desired_goal+achieved_goal",
         "provenance": {"kind": "measured", "command": "test", "config": "eyes_first", "commit": "abc1234",
                        "machine": "test"}},
        pd.DataFrame({"step": STEPS, "metric": "success_rate", "value": 0.05}), d),
        "measured eyes_first_s7 records inputs 'pixels+proprio+desired_goal+achieved_goal'"),
    "settings_control_has_step2s_settings": (lambda d: write_run(
        {"schema_version": 1, "run_id": "state_step2_settings_s7", "arc_step": "3", "config": "state_step2_settings",
         "seed": 7, "inputs": "state",
         "provenance": {"kind": "measured", "command": "test", "config": "state_step2_settings", "commit": "abc1234",
                        "machine": "test", "overrides": {"learning_rate": 0.0003}}},
        pd.DataFrame({"step": STEPS, "metric": "success_rate", "value": 0.05}), d),
        "measured state_step2_settings_s7 overrides learning_rate=0.0003 ("),
    # start window [0, 200K), end window the last 200K steps: see loss_signature.losses_without_climb
    "eyes_first_losses_move_without_climb": (
        lambda d: _eyes_first_flat(d, critic=np.where(STEPS < 1_000_000, 0.5, 0.2)),
        "measured eyes_first_s7 critic loss 0.2 in the end window, not above 0.5 in the start window"),
    # the line sits at 1.73M with the committed state seeds: a climb after it is late, and still a climb
    "eyes_first_never_climbs": (lambda d: _eyes_first_flat(d, critic=np.full(len(STEPS), 0.3),
                                                           success=np.where(STEPS >= 1_880_000, 0.6, 0.05)),
                                "measured eyes_first_s7 is late, onset 1,880,000"),
    "state_actor_grows_while_flat": (lambda d: write_measured_run(
        d, "state", 7, STEPS, np.where(STEPS > 1_200_000, 0.95, 0.05), critic_loss=STEPS / 1e6,
        actor_loss=np.where(STEPS < 600_000, 1.5, 1.0)),
        "measured state_s7 actor loss 1 in the flat window, not above 1.5 in the start window"),
    "state_solves_by_2m": (lambda d: _measured(d, "state_s7", "state", STEPS, np.where(STEPS > 1_200_000, 0.6, 0.02)),
                           "measured state_s7 reads 60% at 2M"),
    "state_flat_at_1m": (lambda d: _measured(d, "state_s7", "state", STEPS, np.where(STEPS > 800_000, 0.95, 0.02)),
                         "measured state_s7 reads 95% at 1M"),
    "proprio_only_never_learns": (lambda d: _edit_points(
        d, lambda r: r["run_id"] == "proprio_only_nopix_run1_seed0" and r["metric"] == "success_rate"
        and r["step"] == "432000", value="0.3"), "432,000"),
    "step2_above_phase1_at_2m": (lambda d: _edit_points(
        d, lambda r: r["config"] == "step2" and r["metric"] == "success_rate" and r["source_line"] == "385",
        value="0.05"), "critic_encoder_status.md:385"),
    "step4_stopped_before_step2_onset": (lambda d: _edit_points(
        d, lambda r: r["config"] == "step4" and r["source_line"] == "109", step="2300000"), "stopped at 2.3M"),
    "pixels_only_untrained": (lambda d: write_run(
        {"schema_version": 1, "run_id": "m_pixels_only", "arc_step": "1", "config": "step1_pixels_only", "seed": 7,
         "inputs": "unknown", "provenance": {"kind": "measured", "command": "test", "config": "step1_pixels_only",
                                             "commit": "abc1234", "machine": "test"}},
        pd.DataFrame({"step": STEPS, "metric": "success_rate", "value": 0.05}), d), "m_pixels_only"),
    "memory_fits_now": (lambda d: _edit_csv(d / "measured" / "memory" / "memory_gb.csv",
                                            lambda t: t.assign(**{"1M": t["1M"].where(t["buffer"] != "FrameHerReplayBuffer",
                                                                                    70.0)})), "ours 70 GB"),
    "stop_rules": (lambda d: _edit_csv(d / "measured" / "memory" / "stop_rules.csv",
                                       lambda t: t.assign(**{"phase there": t["phase there"].where(
                                           t["rule"] != "planned 2M budget", "Phase 2 (critic spike)")})),
                   "planned 2M budget decides STOP at 2M in Phase 2"),
    "earlier_tutorial_higher": (lambda d: _edit_points(
        d, lambda r: r["source_file"] == "tutorials/ch04_her_sparse_reach_push.md" and r["source_line"] == "941"
        and r["metric"] == "success_rate", value="0.85"), "ch04_her_sparse_reach_push.md:941"),  # still "solves"
    "step4_critic_declines": (lambda d: _edit_points(
        d, lambda r: r["config"] == "step4" and r["metric"] == "critic_loss" and r["step"] == "1540000", value="0.5"),
        "rose to"),
    "only_first_seed_reported": (lambda d: _edit_points(
        d, lambda r: r["config"] == "step1" and r["metric"] == "success_rate" and r["kind"] == "point", seed="1"),
        "is seed 1"),
    "state_climbs_before_2m": (lambda d: _measured(d, "state_s7", "state", STEPS,
                                                   np.where(STEPS >= 2_000_000, 0.9, 0.02)),
                               "measured state_s7 first reached 50% at 2,000,000"),
    "three_phases": (lambda d: _edit_points(
        d, lambda r: r["config"] == "step2" and r["metric"] == "critic_loss" and r["kind"] == "phase_summary"
        and r["step"] == "2200000", value_low="0.001", value_high="0.002"), "phase2_critic"),
    "probe_finds_the_puck": (lambda d: _edit_probe(d), "nature seed 1 median 9"),
    # at the round the chapter compares: the last one every committed pixel student finished
    "imitation_control_pushes": (lambda d: _edit_csv(d / "measured" / "distill_control" / "curve.csv",
                                                     lambda t: t.assign(success_rate=t["success_rate"].where(
                                                         (t["seed"] != 1) | (t["round"] != STUDENTS_ROUND), 0.1))),
                                 f"seed 1 reads 10% at round {STUDENTS_ROUND}"),
    "drq_log_range_is_the_tail": (lambda d: _edit_drq(d, "nsr_puck_estimate", lambda v: 3 * v), "median noise"),
    "drq_large_noise_not_reproduced": (lambda d: _edit_drq(d, "puck_estimate", lambda v: v.where(v.index != 0, 0.5)),
                                       "state 0 moved the puck estimate by 0.5"),
    "drq_swamps_close_states": (lambda d: _edit_drq(d, "signal", lambda v: v * 0 + 0.5), "median signal 0.50"),
    "gradient_routing": (lambda d: _edit_csv(d / "measured" / "gradflow" / "table.csv",
                                             lambda t: t.assign(**{"critic loss": 0.0003})), "SB3 shared extractor"),
    "eyes_see_the_puck": (lambda d: _edit_csv(d / "measured" / "eyes" / "errors.csv", lambda t: t.assign(
        median_cm=t["median_cm"].where((t["encoder"] != "nature") | (t["seed"] != 1) | (t["split"] != "test"), 20.0))),
        "nature seed 1 median 20 cm"),
    "eyes_below_noise_curve": (lambda d: _edit_csv(d / "measured" / "state_on_eyes" / "success.csv", lambda t: t.assign(
        success_rate=t["success_rate"].where((t["encoder"] != "nature") | (t["eyes_seed"] != 0), 0.99))),
        "nature seed 0 succeeds in 99%"),
    "eyes_worse_near_gripper": (lambda d: _edit_csv(d / "measured" / "eyes" / "errors.csv", lambda t: t.assign(
        median_cm=t["median_cm"].where((t["encoder"] != "manipulation") | (t["frames"] != "near gripper"), 0.1))),
        "manipulation median 0.10 cm near the gripper"),
    "precision_matters": (lambda d: _edit_csv(d / "measured" / "state_on_eyes" / "success.csv", lambda t: t.assign(
        success_rate=t["success_rate"].where(t["noise_cm"] != t["noise_cm"].max(), 0.9))), "still succeeds in 90%"),
    "footprint_dilution": (lambda d: _edit_csv(d / "measured" / "footprint" / "per_state.csv",
                                               lambda t: t.assign(max_puck_share=t["max_puck_share"].where(
                                                   t["encoder"] != "ManipulationCNN", 0.001))), "median best-cell"),
}


def _edit_csv(path: Path, change) -> None:
    change(pd.read_csv(path)).to_csv(path, index=False)


def _edit_drq(data: Path, column: str, change) -> None:
    path = data / "measured" / "drq_noise" / "samples_trained.csv"
    samples = pd.read_csv(path)
    samples[column] = change(samples[column])
    samples.to_csv(path, index=False)


def _edit_probe(data: Path) -> None:
    path = data / "measured" / "probe" / "errors.csv"
    errors = pd.read_csv(path)
    errors.loc[(errors["encoder"] == "nature") & (errors["seed"] == 1), "median_px"] = 9.0
    errors.to_csv(path, index=False)


def test_every_claim_has_a_contradicting_edit():
    assert set(EDITS) == {claim.name for claim in CLAIMS}


def test_an_eyes_first_run_still_training_past_the_line_does_not_settle_the_verdict(tmp_path):
    data = _copy(tmp_path)
    steps = STEPS[STEPS <= 1_800_000]  # past the line at 1.73M, flat, 200K steps still to go
    write_measured_run(data, "eyes_first", 7, steps, np.full(len(steps), 0.05), planned_steps=2_000_000)
    (message,) = broken_claims(data)["eyes_first_never_climbs"]
    assert "eyes_first_s7 is late, no onset, last step 1,800,000, still training" in message


@pytest.mark.parametrize("name", list(EDITS))
def test_the_smallest_contradicting_edit_breaks_exactly_that_claim(tmp_path, name):
    data = _copy(tmp_path)
    edit, row = EDITS[name]
    edit(data)
    broken = broken_claims(data)
    assert list(broken) == [name], broken
    message = "\n".join(broken[name])
    assert message.startswith("CLAIM BROKEN") and row in message, message
