"""The chapter's one look: a colour-blind-safe palette (Okabe & Ito 2008) and a colour per config and phase."""

from __future__ import annotations

from functools import cache

#: Okabe & Ito (2008), the chapter's only palette.
OKABE_ITO = {"black": "#000000", "orange": "#E69F00", "sky_blue": "#56B4E9", "green": "#009E73",
             "yellow": "#F0E442", "blue": "#0072B2", "vermillion": "#D55E00", "purple": "#CC79A7"}
CONFIG_COLORS = {"state": OKABE_ITO["black"], "step0": OKABE_ITO["orange"], "step1": OKABE_ITO["sky_blue"],
                 "step2": OKABE_ITO["blue"], "step4": OKABE_ITO["vermillion"]}
# A *_pixels_only twin shares its step's colour; its legend label tells them apart.
CONFIG_COLORS.update({f"{name}_pixels_only": color for name, color in list(CONFIG_COLORS.items()) if name != "state"})
# The eyes-first agents: SAC + HER through frozen eyes trained beforehand (issue 26).
CONFIG_COLORS.update({"eyes_first": OKABE_ITO["purple"], "eyes_first_nature": OKABE_ITO["green"]})
# The settings control: the state agent under Step 2's settings (issue 37).
CONFIG_COLORS["state_step2_settings"] = OKABE_ITO["orange"]  # Step 0 (orange too) never shares its figure; yellow fades on white
# The runs it points to share a figure with the state agent, the control and the eyes-first agents, never with Steps 1/4.
CONFIG_COLORS.update({"state_noisy_puck": OKABE_ITO["sky_blue"], "eyes_first_state_settings": OKABE_ITO["vermillion"]})
PHASE_COLORS = {1: OKABE_ITO["purple"], 2: OKABE_ITO["yellow"], 3: OKABE_ITO["green"]}

#: A reader's name for each config, in legends (the sources tables keep the config names).
CONFIG_LABELS = {"state": "State agent", "step0": "Step 0", "step1": "Step 1", "step2": "Step 2", "step4": "Step 4"}
CONFIG_LABELS.update({f"{name}_pixels_only": f"{label}, pixels only" for name, label in list(CONFIG_LABELS.items())
                      if name != "state"})
CONFIG_LABELS.update({"eyes_first": "Eyes first (frozen eyes)", "eyes_first_nature": "Eyes first (NatureCNN's eyes)"})
CONFIG_LABELS["state_step2_settings"] = "Settings control"  # the state agent with Step 2's settings
CONFIG_LABELS.update({"state_noisy_puck": "Noisy-puck state agent", "eyes_first_state_settings": "Eyes first, state's settings"})

#: Figures are drawn at most FIG_WIDTH inches wide, with no text under FONT_MIN points. A phone (390 CSS px) draws a
#: cell's figure about 342 px wide, so FONT_MIN points read as FONT_MIN / 72 * 342 / FIG_WIDTH = 9.3 px there, as
#: long as the saved image is no wider than the figure (a legend or title sticking out of it widens the saved image
#: and shrinks everything in it on a phone); a desktop draws the figure at its own size.
FIG_WIDTH = 5.6
FONT_MIN = 11

#: The PNG text key under which a chapter figure records the size of its smallest text in the image's own pixels
#: (points at the dpi the image was saved at, so a "retina" PNG records twice the number). The browser test scales
#: it by the width the image is shown at over its natural width: the size a reader sees, in CSS px.
SMALLEST_TEXT_KEY = "pixelpush:smallest-text-px"


def smallest_text_pt(fig) -> float | None:
    """The font size (points) of the smallest visible, non-empty text of ``fig`` as last drawn; None without text."""
    from matplotlib.text import Text

    sizes = [t.get_fontsize() for t in fig.findobj(Text) if t.get_visible() and t.get_text().strip()]
    return min(sizes, default=None)


@cache
def _readable_canvas_class():
    """Agg's canvas, whose PNGs carry :data:`SMALLEST_TEXT_KEY` (built once, on first use: importing this module
    imports no matplotlib)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    class ReadableCanvas(FigureCanvasAgg):
        # print_figure passes every canvas the options of other formats (orientation, dpi, ...); matplotlib drops
        # them for its own print methods only, so this one takes and ignores them as Agg's does.
        def print_png(self, filename_or_obj, *, metadata=None, pil_kwargs=None, **_other_formats_options):
            self.figure.get_tightbbox(self.get_renderer())  # lays the texts out (tick labels get theirs), unrendered
            points = smallest_text_pt(self.figure)
            pixels = "none" if points is None else f"{points * self.figure.dpi / 72:.2f}"  # dpi: the saving dpi
            return super().print_png(filename_or_obj, metadata={**(metadata or {}), SMALLEST_TEXT_KEY: pixels},
                                     pil_kwargs=pil_kwargs)

    return ReadableCanvas


def readable(fig):
    """Raise every text of ``fig`` (titles, labels, ticks, legends, annotations) to at least :data:`FONT_MIN` points,
    give it a canvas whose PNGs record their smallest text (:data:`SMALLEST_TEXT_KEY`), and return ``fig``: the last
    step of every chapter figure, so no figure can slip under the phone's minimum unseen."""
    from matplotlib.text import Text

    for text in fig.findobj(Text):
        if text.get_fontsize() < FONT_MIN:
            text.set_fontsize(FONT_MIN)
    _readable_canvas_class()(fig)
    _fit_legends(fig)
    return fig


def _fit_legends(fig) -> None:
    """Wrap the entries of every legend of ``fig`` that sticks out of the figure (too wide, or centred on axes set off
    by their labels) onto more lines until it fits: a notebook saves a figure with a tight box, so a legend sticking
    out widens the image and shrinks all its text on a phone. Laid out as it will be drawn, so it costs one draw."""
    import textwrap

    legends = [*fig.legends, *(ax.get_legend() for ax in fig.axes if ax.get_legend() is not None)]
    if not legends:
        return
    fig.draw_without_rendering()
    for legend in legends:
        texts = legend.get_texts()
        originals = [" ".join(t.get_text().split()) for t in texts]
        chars = max(map(len, originals), default=0)
        while chars > 20 and _sticks_out(legend, fig):
            chars = int(chars * 0.9)
            for text, original in zip(texts, originals):
                text.set_text(textwrap.fill(original, chars, break_long_words=False, break_on_hyphens=False))
            fig.draw_without_rendering()


def _sticks_out(artist, fig) -> bool:
    box = artist.get_window_extent()
    return box.x0 < -0.5 or box.x1 > fig.bbox.width + 0.5
