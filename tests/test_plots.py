"""The figures render from data/, keep reported points unjoined, and label provenance."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from datadir_helpers import copy_data
from matplotlib.figure import Figure

from pixelpush_lib.chapter.figures.curves import plot_loss_signature, plot_success, seed_band
from pixelpush_lib.chapter.style import CONFIG_COLORS, OKABE_ITO
from pixelpush_lib.results.importer import write_run


def _lines(fig):
    return [ln for ax in fig.axes for ln in ax.get_lines()]


def test_success_plot_never_joins_reported_points():
    fig = plot_success()
    assert isinstance(fig, Figure)
    reported = [ln for ln in _lines(fig) if " reported: " in ln.get_label()]
    assert reported, "no reported series drawn"
    for ln in reported:
        assert ln.get_linestyle() == "None", f"{ln.get_label()} is drawn as a joined line"
    labels = fig.legends[0].get_texts()
    assert any("reported: tasks/critic_encoder_status.md" in t.get_text() for t in labels)
    assert set(CONFIG_COLORS.values()) <= set(OKABE_ITO.values())


def test_success_plot_draws_seed_band_for_two_project_seeds(tmp_path):
    data = copy_data(tmp_path)
    for seed in (0, 1):
        steps = np.arange(1000, 50_001, 1000)
        curve = pd.DataFrame({"step": steps, "metric": "success_rate", "value": (seed + 1) * steps / 200_000})
        write_run({"schema_version": 1, "run_id": f"m{seed}", "arc_step": "2", "config": "step2", "seed": seed,
                   "inputs": "unknown", "provenance": {"kind": "measured", "command": "c", "config": "step2",
                                                       "commit": "abc1234", "machine": "t"}}, curve, data)
    fig = plot_success(["step2"], data_dir=data)
    labels = [t.get_text() for t in fig.legends[0].get_texts()]
    assert any("measured: mean of seeds [0, 1] (n=2)" in s for s in labels)
    assert any("min-max over seeds" in s for s in labels)


def test_seed_band_does_not_interpolate():
    curve = pd.DataFrame({"seed": [0, 0, 1], "step": [10, 100, 100], "value": [0.1, 0.2, 0.4]})
    band = seed_band(curve, bins=2)
    # the first bin has only seed 0: dropped, not filled in
    assert len(band) == 1 and band["low"].item() == 0.2 and band["high"].item() == 0.4


def test_loss_signature_has_three_panels_with_phase_shading():
    fig = plot_loss_signature("step2")
    assert len(fig.axes) == 3
    for ax in fig.axes:
        assert len(ax.patches) >= 3, "phase shading missing"
        (line,) = ax.get_lines()
        assert line.get_linestyle() == "None" and "reported: tutorials/ch09_pixel_push.md" in line.get_label()
    assert "Phase 1" in fig._suptitle.get_text() and "Phase 3" in fig._suptitle.get_text()


def test_loss_signature_without_data_raises(tmp_path):
    with pytest.raises(LookupError):
        plot_loss_signature("step0", data_dir=copy_data(tmp_path))
