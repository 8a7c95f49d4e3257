"""The chapter's one look: a colour-blind-safe palette (Okabe & Ito 2008) and a colour per config and phase."""

from __future__ import annotations

#: Okabe & Ito (2008), the chapter's only palette.
OKABE_ITO = {"black": "#000000", "orange": "#E69F00", "sky_blue": "#56B4E9", "green": "#009E73",
             "yellow": "#F0E442", "blue": "#0072B2", "vermillion": "#D55E00", "purple": "#CC79A7"}
CONFIG_COLORS = {"state": OKABE_ITO["black"], "step0": OKABE_ITO["orange"], "step1": OKABE_ITO["sky_blue"],
                 "step2": OKABE_ITO["blue"], "step4": OKABE_ITO["vermillion"]}
# A *_pixels_only twin shares its step's colour; its legend label tells them apart.
CONFIG_COLORS.update({f"{name}_pixels_only": color for name, color in list(CONFIG_COLORS.items()) if name != "state"})
PHASE_COLORS = {1: OKABE_ITO["purple"], 2: OKABE_ITO["yellow"], 3: OKABE_ITO["green"]}
