"""The pixel-driven agent a learner can load and watch: the state agent acting through label-trained eyes
(``pixelpush_lib.training.pixel_agent``), as the registry records it."""

from __future__ import annotations

from pathlib import Path

from pixelpush_lib.results.quoted_numbers import format_value
from pixelpush_lib.results.registry import REGISTRY, get_entry

#: The registered agent the investigations page shows.
PIXEL_AGENT = "state_on_eyes_s0"


def pixel_agent_facts(name: str = PIXEL_AGENT, registry: Path | str = REGISTRY) -> dict[str, str]:
    """``pixel_agent_success``, its evaluation with its kind, ``pixel_agent_controller``, the state agent inside it,
    and its own success in the same protocol, and ``pixel_agent_training``, how each part was trained, for
    ``{glue:text}``."""
    entry = get_entry(name, registry)
    if entry.trained_by != "composed":
        raise ValueError(f"{name} in {registry} is trained_by={entry.trained_by!r}, not a state agent acting through "
                         "eyes ('composed'); register one with `pixelpush checkpoints add ... --eyes --controller`")
    controller = entry.parts["controller"]
    return {
        "pixel_agent_name": name,
        "pixel_agent_success": (f"{format_value(entry.success_rate, 'fraction')} (measured) over {entry.n_episodes} "
                                "unseen episodes"),
        "pixel_agent_controller": (f"{controller['checkpoint']}, {format_value(controller['success_rate'], 'fraction')} "
                                   "on the true state in the same protocol (measured)"),
        "pixel_agent_training": entry.training(),
    }
