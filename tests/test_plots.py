"""The figures render from data/, keep reported points unjoined, and label provenance."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from datadir_helpers import copy_data, write_measured_run
from matplotlib.figure import Figure

from pixelpush_lib.core.paths import DATA_DIR
from pixelpush_lib.chapter.figures.curves import (
    loss_signature_source,
    plot_loss_signature,
    plot_losses_beside,
    plot_success,
    seed_band,
    success_sources,
)
from pixelpush_lib.chapter.style import CONFIG_COLORS, CONFIG_LABELS, FIG_WIDTH, FONT_MIN, OKABE_ITO, SMALLEST_TEXT_KEY
from pixelpush_lib.results.importer import write_run


def _lines(fig):
    return [ln for ax in fig.axes for ln in ax.get_lines()]


STEP_FIGURES = [["state", "step0"], ["step0", "step1"], ["state", "step1", "step2"], ["step2", "step4"],
                ["state", "step0", "step1", "step2", "step4"]]


@pytest.mark.parametrize("configs", STEP_FIGURES, ids=lambda c: "+".join(c))
def test_success_figures_read_at_a_glance(configs):
    fig = plot_success(configs)
    assert isinstance(fig, Figure) and len(fig.axes) == 1
    ax = fig.axes[0]
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert 1 <= len(labels) <= 6, labels
    assert "environment steps" in ax.get_xlabel() and "fraction" in ax.get_ylabel()  # axes name their units
    runs = [ln for ln in ax.get_lines() if ln.get_label() in labels]
    for line in runs:  # a run is a line through its readings, with a marker at each reading
        assert line.get_linestyle() != "None" and line.get_marker() not in (None, "None", "")
        assert len(line.get_xdata()) >= 2 and list(line.get_xdata()) == sorted(line.get_xdata())
    faint = [ln for ln in ax.get_lines() if ln.get_label().startswith("_")]
    assert all(ln.get_linestyle() == "None" for ln in faint), "other readings are never joined"
    assert set(CONFIG_COLORS.values()) <= set(OKABE_ITO.values())
    # legends name configs and runs as a reader would, never a run id or a file
    ids = set(success_sources(configs)["run"].str.split("; ").explode())
    assert not any(run in label for label in labels for run in ids), labels
    names = tuple(CONFIG_LABELS[c] + end for c in configs for end in (",", ":"))  # ":" in a crowded legend
    assert all(label.startswith(names) for label in labels), labels
    # the x axis ends just past the last step drawn
    last = max(max(ln.get_xdata(), default=0) for ln in ax.get_lines())
    assert ax.get_xlim()[1] <= 1.2 * max(last, max(c.get_datalim(ax.transData).x1 for c in ax.collections)
                                         if ax.collections else last)


def test_every_series_has_a_listed_source():
    sources = success_sources(["state", "step1", "step2"])
    fig = plot_success(["state", "step1", "step2"])
    drawn = {t.get_text().split(": ", 1)[1] for t in fig.axes[0].get_legend().get_texts()}
    listed = {s.removeprefix("line: ") for s in sources["series"]}
    assert drawn <= listed
    lines = sources[sources["series"].str.startswith("line: ")]
    reported, project = lines[lines["provenance"] == "reported"], lines[lines["provenance"] != "reported"]
    assert reported["source"].str.contains(r":\d+.*@e871ca2").all()  # file:lines@commit of the author's log
    folders = [src for cell in project["source"] for src in cell.split("; ")]  # a seeds' mean names every seed
    assert all((DATA_DIR.parent / src / "manifest.json").is_file() for src in folders)  # data/runs/<id>


def test_success_plot_draws_seed_band_for_two_project_seeds(tmp_path):
    data = copy_data(tmp_path)
    for seed in (0, 1):
        steps = np.arange(1000, 50_001, 1000)
        curve = pd.DataFrame({"step": steps, "metric": "success_rate", "value": (seed + 1) * steps / 200_000})
        write_run({"schema_version": 1, "run_id": f"m{seed}", "arc_step": "2", "config": "step2", "seed": seed,
                   "inputs": "unknown", "provenance": {"kind": "measured", "command": "c", "config": "step2",
                                                       "commit": "abc1234", "machine": "t"}}, curve, data)
    fig = plot_success(["step2"], data_dir=data)
    labels = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert any("measured here: mean of 2 seeds (band: min-max)" in s for s in labels)
    assert len(fig.axes[0].collections) >= 1  # the min-max band
    assert set(success_sources(["step2"], data)["source"]) >= {"data/runs/m0", "data/runs/m1"}


def test_seeds_still_training_are_drawn_each_to_its_last_reading_not_as_a_mean(tmp_path):
    """A mean keeps only the steps every seed reached; while one is still training, each seed is its own line, so
    the longer seed's readings (here its climb) stay on the figure."""
    data = copy_data(tmp_path)
    long, short = np.arange(20_000, 1_200_001, 20_000), np.arange(20_000, 600_001, 20_000)
    write_measured_run(data, "state_step2_settings", 0, long, np.where(long > 1_000_000, 0.6, 0.05),
                       planned_steps=2_000_000)
    write_measured_run(data, "state_step2_settings", 1, short, np.full(len(short), 0.05), planned_steps=2_000_000)
    ax = plot_success(["state_step2_settings"], data_dir=data).axes[0]
    assert not ax.collections  # no band
    assert [t.get_text() for t in ax.get_legend().get_texts()] == [
        "Settings control, measured here: seed 0 (still training)",
        "Settings control, measured here: seed 1 (still training)"]
    seeds = [line for line in ax.get_lines() if line.get_label().startswith("Settings control")]
    assert [line.get_xdata()[-1] for line in seeds] == [1_200_000, 600_000]
    assert seeds[0].get_linestyle() != seeds[1].get_linestyle()
    assert list(success_sources(["state_step2_settings"], data)["series"]) == ["line: seed 0", "line: seed 1"]


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
        assert line.get_linestyle() == "None" and line.get_label() == "Step 2, reported"
    assert loss_signature_source("step2").startswith("reported: tutorials/ch09_pixel_push.md:")
    shading = [t.get_text() for legend in fig.legends for t in legend.get_texts()]
    assert any("Phase 1" in t for t in shading) and any("Phase 3" in t for t in shading)


def test_loss_signature_without_data_raises(tmp_path):
    with pytest.raises(LookupError):
        plot_loss_signature("step0", data_dir=copy_data(tmp_path))


def test_losses_beside_draw_each_config_s_own_runs_in_every_panel(tmp_path):
    data = copy_data(tmp_path)
    steps = np.arange(10_000, 1_000_001, 10_000)
    for seed in (0, 1):  # two state seeds: a mean and a band
        write_measured_run(data, "state", seed, steps, np.full(len(steps), 0.1 * (seed + 1)),
                           critic_loss=np.full(len(steps), 0.2), actor_loss=np.full(len(steps), 1.5))
    write_measured_run(data, "eyes_first", 0, steps, np.full(len(steps), 0.05), planned_steps=2_000_000,
                       critic_loss=steps / 1e6, actor_loss=1 - steps / 1e6)
    fig = plot_losses_beside(["state", "eyes_first", "step0"], data)
    success, critic, actor = fig.axes
    for ax in (success, critic, actor):
        assert [line.get_color() for line in ax.get_lines()] == [CONFIG_COLORS["state"], CONFIG_COLORS["eyes_first"]]
        assert len(ax.collections) == 1  # the state seeds' band
    eyes = critic.get_lines()[1]
    assert np.array_equal(eyes.get_xdata(), steps) and np.allclose(eyes.get_ydata(), steps / 1e6)  # every reading
    (legend,) = fig.legends
    assert [t.get_text() for t in legend.get_texts()] == [
        "State agent, measured here: mean of 2 seeds (band: min-max)",
        "Eyes first (frozen eyes), measured here: seed 0 (still training)"]  # step0 has no run of ours: left out
    with pytest.raises(LookupError, match="step0"):
        plot_losses_beside(["step0"], data)


def test_a_crowded_figure_keeps_one_legend_entry_per_config():
    fig = plot_success(["state", "step0", "step1", "step2", "step4"])
    labels = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert [label.split(":")[0] for label in labels] == [CONFIG_LABELS[c] for c in ("state", "step0", "step1", "step2",
                                                                                   "step4")]
    assert "1 measured here" in labels[0] and "reported" in labels[0]
    runs = success_sources(["state", "step0", "step1", "step2", "step4"])
    assert len(runs) > len(labels)  # every run and band is still listed in the table


def test_a_chapter_figure_s_png_records_its_smallest_text_in_its_own_pixels():
    """What the browser test scales by the width the page shows the image at (SMALLEST_TEXT_KEY): the smallest text
    as drawn, at the dpi the PNG is saved at, also for text added after ``readable``."""
    from pixelpush_lib.chapter.style import readable

    fig = Figure(figsize=(FIG_WIDTH, 3), dpi=110, layout="constrained")
    ax = fig.subplots()
    ax.plot([0, 1e6, 2e6], [0, 0.5, 1], label="a run")
    ax.legend(fontsize=FONT_MIN - 3)  # raised by readable, as the ticks are
    ax.set_title("a title", fontsize=2 * FONT_MIN)
    readable(fig)
    for dpi in (fig.dpi, 2 * fig.dpi):  # a notebook's "retina" PNG doubles it
        assert _png_text(fig, dpi)[SMALLEST_TEXT_KEY] == f"{FONT_MIN * dpi / 72:.2f}"
    fig.text(0.5, 0.5, "a note set small afterwards", fontsize=FONT_MIN - 4)
    assert _png_text(fig, fig.dpi)[SMALLEST_TEXT_KEY] == f"{(FONT_MIN - 4) * fig.dpi / 72:.2f}"


def _png_text(fig, dpi: float) -> dict[str, str]:
    import io

    from PIL import Image

    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi, bbox_inches="tight")  # as IPython's inline backend saves it
    with Image.open(buffer) as png:
        return dict(png.text)


def test_the_footprint_maps_share_one_colour_scale():
    """Fig. 1: the puck's share of a cell's field on one scale for all four maps, 0 to the largest share, with one
    bar, so the layer where the puck is 3% of the field looks emptier than the one where it is 44%."""
    from pixelpush_lib.chapter.figures.measurements import footprint_figure
    from pixelpush_lib.experiments.footprint import FootprintResult, layer_geometry, puck_pixels_in_rf
    from pixelpush_lib.experiments.scenes import StackedObservation

    mask = np.zeros((84, 84), bool)
    mask[40:46, 40:46] = True  # a 6x6 px puck
    pixels = np.random.default_rng(0).integers(0, 256, (12, 84, 84), dtype=np.uint8)
    fig = footprint_figure(FootprintResult(pd.DataFrame(), pd.DataFrame(), [StackedObservation(pixels, mask, 0, 0)]))
    maps = [image for ax in fig.axes for image in ax.get_images() if image.get_array().ndim == 2]
    assert len(maps) == 4
    largest = max(puck_pixels_in_rf(mask, g).max() / g.rf ** 2
                  for g in [*layer_geometry("NatureCNN"), layer_geometry("ManipulationCNN")[-1]])
    assert {image.get_clim() for image in maps} == {(0.0, largest)}
    bars = {image.colorbar for image in maps} - {None}  # one bar, for the scale they share
    assert len(bars) == 1 and "share" in bars.pop().ax.get_xlabel()


def test_the_footprint_table_s_ranges_read_with_en_dashes_a_line_may_break_after():
    from pixelpush_lib.chapter.tables import footprint_display

    table = pd.DataFrame({"max puck share": ["100% [100%-100%]", "4% [2%-4%]"], "map": ["42x42", "7x7"]},
                         index=pd.Index(["ManipulationCNN", "NatureCNN"], name="encoder"))
    html = footprint_display(table)._repr_html_()
    assert "100% [100%\u2013100%]" in html and "4% [2%\u20134%]" in html and "42x42" in html and "%-" not in html


def test_every_chapter_figure_reads_on_a_phone():
    """At most FIG_WIDTH inches wide and no text under FONT_MIN points (about 9 px on a 390 px phone)."""
    from matplotlib.text import Text

    for fig in (plot_success(["state", "step0"]), plot_loss_signature("step2"), plot_losses_beside()):
        assert fig.get_figwidth() <= FIG_WIDTH
        fig.canvas.draw()  # legends and ticks exist once drawn
        small = [(t.get_text(), t.get_fontsize()) for t in fig.findobj(Text) if t.get_text() and
                 t.get_fontsize() < FONT_MIN]
        assert small == []


def test_a_legend_wider_than_its_figure_is_wrapped_until_the_saved_image_is_no_wider():
    """A notebook saves with a tight box: a legend sticking out would widen the PNG and shrink its text on a phone."""
    import io

    from PIL import Image

    from pixelpush_lib.chapter.style import readable

    def saved_width(label: str, centre: float = 0.5, layout: str | None = "constrained") -> tuple[int, list[str]]:
        fig = Figure(figsize=(FIG_WIDTH, 3), dpi=110, layout=layout)
        ax = fig.subplots()
        ax.plot([0, 1], [0, 1], label=label)
        ax.plot([0, 1], [1, 0], label="short")
        ax.legend(loc="upper center", bbox_to_anchor=(centre, -0.16), fontsize=FONT_MIN)
        readable(fig)
        buffer = io.BytesIO()
        fig.savefig(buffer, format="png", bbox_inches="tight")
        with Image.open(buffer) as png:
            return png.width, [t.get_text() for t in ax.get_legend().get_texts()]

    plain_width, plain = saved_width("a label that fits")
    long = "Settings control, measured here: mean of 2 seeds (band: min-max), and then some more words"
    width, wrapped = saved_width(long)
    assert plain == ["a label that fits", "short"]  # a legend that fits is left as it is
    assert "\n" in wrapped[0] and " ".join(wrapped[0].split()) == long and wrapped[1] == "short"
    assert width <= plain_width + 2  # pad_inches aside, the figure's own width
    # narrower than the figure but centred off it, where no layout engine moves it in: wrapped too
    medium = "Settings control, measured here: mean of 2 seeds"
    width, wrapped = saved_width(medium, centre=0.85, layout=None)
    assert "\n" in wrapped[0] and width <= plain_width + 2
