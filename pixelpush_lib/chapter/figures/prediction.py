"""Step 3's prediction drawn: the eyes-first runs beside our state agent and the author's Step 2, with the line."""

from __future__ import annotations

from pathlib import Path

from matplotlib.figure import Figure

from pixelpush_lib.chapter.figures.curves import plot_success
from pixelpush_lib.chapter.style import FONT_MIN
from pixelpush_lib.core.paths import DATA_DIR
from pixelpush_lib.results.investigations.prediction import prediction_test
from pixelpush_lib.results.quoted_numbers import ONSET_LEVEL, format_value


def plot_prediction(config: str = "eyes_first", data_dir: Path = DATA_DIR) -> Figure:
    """:func:`~pixelpush_lib.chapter.figures.curves.plot_success` of the state agent, Step 2 and ``config``, with the
    prediction's line (a dashed vertical at :attr:`PredictionTest.deadline`) and the onset level (a dotted
    horizontal at :data:`ONSET_LEVEL`: a run's onset is its first reading on or above it)."""
    test = prediction_test(config, data_dir)
    fig = plot_success(["state", "step2", config], data_dir)
    ax = fig.axes[0]
    ax.axhline(ONSET_LEVEL, color="0.45", linestyle=":", linewidth=1.0, zorder=1)
    ax.axvline(test.deadline, color="0.2", linestyle="--", linewidth=1.2, zorder=2)
    # below the curves' climb, on a white ground, so neither hides the other
    ax.annotate(f"the line, {format_value(test.deadline, 'steps')}", (test.deadline, 0.38), xytext=(4, 0),
                textcoords="offset points", fontsize=FONT_MIN, va="center", ha="left", color="0.2",
                bbox={"facecolor": "white", "edgecolor": "none", "pad": 1.5})
    return fig
