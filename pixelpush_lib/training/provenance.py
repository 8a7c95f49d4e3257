"""The record every training run and measured result carries: package versions, git commit, machine, device."""

from __future__ import annotations

import os
import platform
from importlib import metadata
from typing import Any

import gymnasium
import numpy as np
import psutil
import stable_baselines3
import torch as th

from pixelpush_lib.core.files import git_commit
from pixelpush_lib.core.version import __version__


def environment_record(device: str) -> dict[str, Any]:
    """Package versions, git commit and machine (``host.gpu`` names the CUDA card, if any)."""
    gpu = th.cuda.get_device_name(0) if th.cuda.is_available() else None
    return {
        "versions": {
            "python": platform.python_version(),
            "pixelpush_lib": __version__,
            "torch": th.__version__,
            "stable_baselines3": stable_baselines3.__version__,
            "gymnasium": gymnasium.__version__,
            "gymnasium_robotics": _installed("gymnasium-robotics"),
            "mujoco": _installed("mujoco"),
            "numpy": np.__version__,
        },
        "git_commit": git_commit(),
        "host": {"name": platform.node(), "platform": platform.platform(), "cpus": os.cpu_count(), "gpu": gpu},
        "device": device,
    }


def process_tree_cpu_s() -> float:
    """CPU seconds (user + system) used so far by this process and every process it started: the live ones (a
    training run's env subprocesses) read one by one, the ended ones as the OS counts them for whoever waited on
    them. A process that ended while this was reading it is left out (psutil can no longer read it)."""
    me = psutil.Process()
    total = 0.0
    for process in (me, *me.children(recursive=True)):
        try:
            times = process.cpu_times()
        except psutil.Error:
            continue
        total += times.user + times.system + times.children_user + times.children_system
    return total


def _installed(distribution: str) -> str:
    """A distribution's version without importing it (importing gymnasium_robotics registers envs and prints)."""
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return "not installed"
