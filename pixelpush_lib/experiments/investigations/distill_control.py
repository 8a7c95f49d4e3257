"""The distillation experiment's positive control: the state agent's policy network taught by the same expert on the
same budgets (``python -m pixelpush_lib.experiments distill_control``, into ``data/measured/distill_control/``)."""

from pixelpush_lib.experiments.investigations.distill import precompute_control as precompute

__all__ = ["precompute"]
