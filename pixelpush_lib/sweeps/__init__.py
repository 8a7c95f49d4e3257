"""Reproduce It at scale: papermill sweeps over (step, seed), collecting their runs into ``data/``, and
registering trained checkpoints.

Modules: :mod:`.spec` (a sweep's definition and folder), :mod:`.jobs` (running one job), :mod:`.launchers`
(local, one per GPU, SLURM), :mod:`.reproduce` (``pixelpush reproduce``), :mod:`.collect` (``pixelpush collect``),
:mod:`.checkpoints` (``pixelpush checkpoints``).
"""

from pixelpush_lib.sweeps.spec import SweepError

__all__ = ["SweepError"]
