"""The regime monitor on the author's Step-2 figures and inside a real SB3 run."""

from __future__ import annotations

import csv
import warnings

import numpy as np
import pytest
from tiny_sb3_run import tiny_run_logs

from pixelpush_lib.results.loaders import load_points
from pixelpush_lib.results.regime import classify_window, label_phases
from pixelpush_lib.training.callbacks import RegimeWarning


def _step2_table():
    """The only reported Step-2 table with success, critic and actor loss at the same steps (one row per line)."""
    p = load_points()
    rows = p[(p["config"] == "step2") & (p["kind"] == "point") & (p["commit"].str.startswith("e871ca2"))
             & p["metric"].isin(["success_rate", "critic_loss", "actor_loss"])]
    per_line = rows.pivot_table(index=["source_file", "source_line", "step"], columns="metric", values="value")
    full = per_line.dropna()
    (source,) = set(full.index.get_level_values(0))  # exactly one source has all three: the tutorial's TB table
    return full.reset_index().sort_values("step")


def test_reported_step2_windows_follow_the_three_phase_table():
    t = _step2_table()
    windows = label_phases(t["step"], t["success_rate"], t["critic_loss"], t["actor_loss"], window=2)
    assert len(windows) >= 6
    for w in windows:
        if w.end_step <= 2_000_000:
            assert w.phase == 1, f"window {w} before the 2.2M onset should be Phase 1"
        elif w.start_step >= 2_200_000 and w.end_step <= 3_500_000:
            assert w.phase == 2, f"window {w} in 2.2-3.5M should be Phase 2"
        elif w.start_step >= 3_500_000:
            assert w.phase == 3, f"window {w} after 3.5M should be Phase 3"


def test_rules_can_say_no():
    assert classify_window(0.05, 0.0, 0.07, -0.01, 0.0) == 1
    assert classify_window(0.5, 1.0, 0.4, 0.2, 0.5) == 2
    assert classify_window(0.96, 0.0, 0.3, -0.2, -0.5) == 3
    assert classify_window(0.5, -0.5, 0.05, -0.1, -0.1) == 0  # falling mid success: no phase fits


def test_label_phases_rejects_bad_curves():
    with pytest.raises(ValueError, match="strictly increasing"):
        label_phases([2, 1, 3], [0, 0, 0], [0, 0, 0], [0, 0, 0])
    with pytest.raises(ValueError, match="one length"):
        label_phases([1, 2], [0], [0, 0], [0, 0])


def test_callback_logs_regime_phase_in_real_training():
    log_dir, callback = tiny_run_logs()
    with open(log_dir / "progress.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    phases = [r["regime/phase"] for r in rows if r.get("regime/phase")]
    assert phases, "regime/phase never reached progress.csv"
    assert {int(float(p)) for p in phases} <= {0, 1, 2, 3}
    assert len(callback.history) >= 2
    assert all(b[0] > a[0] for a, b in zip(callback.history, callback.history[1:]))


def test_stop_rule_warns_only_for_a_rising_phase1_run():
    _, callback = tiny_run_logs()  # a callback bound to a real model and logger
    steps = np.arange(1, 7) * 100_000
    rising = [(int(s), 0.03 + 0.01 * i, 0.08 - 0.005 * i, 0.0) for i, s in enumerate(steps)]
    flat = [(int(s), 0.05, 0.08 - 0.005 * i, 0.0) for i, s in enumerate(steps)]
    callback.stop_rule, callback.window = (500_000, 0.2), 5
    for history, expect in ((flat, False), (rising, True)):
        callback.history, callback.warned = list(history), False
        recent = np.array(history[-5:])
        callback.phase = label_phases(*recent.T, window=5)[-1].phase
        assert callback.phase == 1
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            callback._check_stop_rule()
        assert any(issubclass(w.category, RegimeWarning) for w in caught) is expect
