"""The chapter's figures: training curves (:mod:`.curves`) and the live experiments' results (:mod:`.measurements`)."""

from pixelpush_lib.chapter.figures.curves import (
    plot_loss_signature,
    plot_losses_beside,
    plot_success,
    success_notes,
    success_sources,
)
from pixelpush_lib.chapter.figures.measurements import (
    distill_figure,
    distill_sources,
    errors_figure,
    footprint_figure,
    gradient_flow_figure,
    keypoints_figure,
    noise_figure,
    stop_rules_figure,
)

__all__ = [
    "distill_figure",
    "distill_sources",
    "errors_figure",
    "footprint_figure",
    "gradient_flow_figure",
    "keypoints_figure",
    "noise_figure",
    "plot_loss_signature",
    "plot_losses_beside",
    "plot_success",
    "stop_rules_figure",
    "success_notes",
    "success_sources",
]
