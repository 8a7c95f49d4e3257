"""The chapter's figures: training curves (:mod:`.curves`) and the live experiments' results (:mod:`.measurements`).

The curves load with the results layer alone; the measurements' figures import the experiments (and with them
torch), so they are imported on first use: a page that only plots curves starts seconds sooner.
"""

from pixelpush_lib.chapter.figures.curves import (
    plot_loss_signature,
    plot_losses_beside,
    plot_success,
    success_notes,
    success_sources,
)

_MEASUREMENTS = ("distill_figure", "distill_sources", "errors_figure", "footprint_figure", "gradient_flow_figure",
                 "keypoints_figure", "noise_figure", "stop_rules_figure")

__all__ = sorted(["plot_loss_signature", "plot_losses_beside", "plot_success", "success_notes", "success_sources",
                  *_MEASUREMENTS])


def __getattr__(name: str):
    if name in _MEASUREMENTS:
        from pixelpush_lib.chapter.figures import measurements

        value = getattr(measurements, name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
