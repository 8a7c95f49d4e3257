"""The chapter's one look: a colour-blind-safe palette (Okabe & Ito 2008) and a colour per config and phase."""

from __future__ import annotations

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
CONFIG_COLORS["state_step2_settings"] = OKABE_ITO["yellow"]
PHASE_COLORS = {1: OKABE_ITO["purple"], 2: OKABE_ITO["yellow"], 3: OKABE_ITO["green"]}

#: A reader's name for each config, in legends (the sources tables keep the config names).
CONFIG_LABELS = {"state": "State agent", "step0": "Step 0", "step1": "Step 1", "step2": "Step 2", "step4": "Step 4"}
CONFIG_LABELS.update({f"{name}_pixels_only": f"{label}, pixels only" for name, label in list(CONFIG_LABELS.items())
                      if name != "state"})
CONFIG_LABELS.update({"eyes_first": "Eyes first (frozen eyes)", "eyes_first_nature": "Eyes first (NatureCNN's eyes)"})
CONFIG_LABELS["state_step2_settings"] = "State agent, Step 2's settings"

#: Figures are drawn at most FIG_WIDTH inches wide, with no text under FONT_MIN points. A phone (390 CSS px) draws a
#: cell's figure about 342 px wide, so FONT_MIN points read as FONT_MIN / 72 * 342 / FIG_WIDTH = 9.3 px there (the
#: browser test's screenshots show it); a desktop draws the figure at its own size.
FIG_WIDTH = 5.6
FONT_MIN = 11


def readable(fig):
    """Raise every text of ``fig`` (titles, labels, ticks, legends, annotations) to at least :data:`FONT_MIN` points
    and return ``fig``: the last step of every chapter figure, so no figure can slip under the phone's minimum."""
    from matplotlib.text import Text

    for text in fig.findobj(Text):
        if text.get_fontsize() < FONT_MIN:
            text.set_fontsize(FONT_MIN)
    return fig
