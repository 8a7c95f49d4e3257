"""What every measured or imported result carries: file hashes, the git commit, atomic writes."""

from __future__ import annotations

import hashlib
import json
import os
import platform
import subprocess
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parent.parent


def sha256_file(path: Path | str) -> str:
    """Hex SHA-256 of a file, read in 1 MiB blocks (replay buffers and checkpoints can be large)."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def git_commit() -> str:
    """This checkout's commit, with ``+dirty`` when tracked code differs from it; ``unknown`` outside git.

    Changes under ``data/`` do not count: regenerating one measured result rewrites tracked data files,
    and the commit is there to identify the code that produced the next one.
    """
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=REPO_ROOT, capture_output=True, text=True, timeout=10)
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no", "--", ".", ":(exclude)data"],
                               cwd=REPO_ROOT, capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    if commit.returncode != 0:
        return "unknown"
    return commit.stdout.strip() + ("+dirty" if dirty.stdout.strip() else "")


def write_json_atomic(path: Path | str, payload: dict[str, Any]) -> None:
    """Write JSON next to ``path`` and rename it into place: readers never see half a file."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(payload, indent=2, default=str) + "\n")
    os.replace(tmp, path)


def environment_record(device: str) -> dict[str, Any]:
    """Package versions, git commit and machine: what a measured result must carry."""
    # Imported here: hashing and atomic writes must not pay for torch and MuJoCo.
    import gymnasium
    import gymnasium_robotics
    import mujoco
    import numpy as np
    import stable_baselines3
    import torch as th

    import pixelpush_lib

    gpu = th.cuda.get_device_name(0) if th.cuda.is_available() else None
    return {
        "versions": {
            "python": platform.python_version(),
            "pixelpush_lib": pixelpush_lib.__version__,
            "torch": th.__version__,
            "stable_baselines3": stable_baselines3.__version__,
            "gymnasium": gymnasium.__version__,
            "gymnasium_robotics": getattr(gymnasium_robotics, "__version__", "unknown"),
            "mujoco": mujoco.__version__,
            "numpy": np.__version__,
        },
        "git_commit": git_commit(),
        "host": {"name": platform.node(), "platform": platform.platform(), "cpus": os.cpu_count(), "gpu": gpu},
        "device": device,
    }
