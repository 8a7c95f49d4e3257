"""The chapter's live experiments: one module each, computing what a step's mechanism predicts.

The steps' experiments sit here (footprint, probe, gradflow, patience, drq_noise), with what they share
(``scenes``, ``store``) and the measurements behind Reproduce It (``throughput``, ``precision``) and the watch cells
(``videos``); the Investigations' experiments sit in :mod:`pixelpush_lib.experiments.investigations`. Each module
exposes ``precompute(quick, measured_dir, command)``, which measures and writes ``data/measured/<name>/`` through
:mod:`pixelpush_lib.experiments.store`. The registry below maps the experiment names of ``python -m
pixelpush_lib.experiments NAME`` to their modules; a module is imported only when its experiment runs.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

#: experiment name (the folder under data/measured) -> module of pixelpush_lib.experiments
EXPERIMENTS = {
    "footprint": "footprint",
    "probe": "probe",
    "gradflow": "gradflow",
    "memory": "patience",
    "drq_noise": "drq_noise",
    "throughput": "throughput",
    "precision": "precision",
    "videos": "videos",
    "expert": "investigations.expert",
    "distill": "investigations.distill",
    "distill_control": "investigations.distill_control",
    "eyes": "investigations.eyes",
    "state_on_eyes": "investigations.state_on_eyes",
    "dagger": "investigations.dagger",
}

__all__ = ["EXPERIMENTS", "precompute"]


def precompute(name: str, **kwargs: Any) -> Path:
    """Run experiment ``name`` at its full protocol (or ``quick=True``) and write its measured folder."""
    if name not in EXPERIMENTS:
        raise ValueError(f"unknown experiment {name!r}; choose from {', '.join(sorted(EXPERIMENTS))}")
    module = importlib.import_module(f"pixelpush_lib.experiments.{EXPERIMENTS[name]}")
    return module.precompute(**kwargs)
