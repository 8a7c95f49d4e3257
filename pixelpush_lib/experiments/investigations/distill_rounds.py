"""A student's progress, saved after every round, so that a stopped distillation resumes where it stopped.

Teaching one ManipulationCNN student takes hours on a 2-core CPU, longer than a working session may last. After
each round :func:`save_progress` writes what the next round depends on into one folder beside the student's
``.zip``: the policy's weights, Adam's state, the labels so far, the minibatch generator's state and the counters.
The folder is written aside and swapped in whole, so a crash leaves the last complete round. A run resumed on the
same device and number of torch threads ends with the same student and numbers as one that never stopped.
"""

from __future__ import annotations

import json
import pickle
import shutil
import zipfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch as th
from stable_baselines3 import SAC

from pixelpush_lib.core.files import replace_dir, write_json_atomic
from pixelpush_lib.replay.labelled import LabelStore, VectorStore


@dataclass
class Progress:
    """Where one student's teaching stands after its last finished round."""

    next_seed: int
    """Env seed of the next labelled episode."""
    rows: list[dict[str, Any]] = field(default_factory=list)
    """One per finished round: ``curve.csv``'s columns."""
    expert_success: list[bool] = field(default_factory=list)
    """The expert's own demonstration episodes (round 0's labels), success of each."""
    frames: int = 0
    """Env steps rendered so far."""
    env_seconds: float = 0.0
    """Wall time spent stepping and rendering the env so far, in seconds."""
    wall_s: float = 0.0
    """Wall time of the teaching before this process took it up, in seconds (0 for a fresh start)."""
    cpu_s: float = 0.0
    """CPU time the earlier processes spent on it, in seconds."""
    rng: dict[str, Any] | None = None
    """The minibatch generator's ``bit_generator.state`` when the last round ended."""

    @property
    def rounds_done(self) -> int:
        return len(self.rows)


def progress_dir(save_to: Path) -> Path:
    """Where the student that will be saved as ``save_to`` keeps its rounds (``manipulation_s2.rounds/``)."""
    return save_to.with_name(f"{save_to.stem}.rounds")


def save_progress(folder: Path, progress: Progress, key: dict[str, Any], model: SAC, optimizer: th.optim.Optimizer,
                  store: LabelStore | VectorStore) -> None:
    """Replace ``folder`` with the state after ``progress``'s last round. ``key`` names the student and its
    budgets; :func:`load_progress` resumes only a student with the same key."""
    staged = folder.with_name(f".{folder.name}.staged")
    shutil.rmtree(staged, ignore_errors=True)
    staged.mkdir(parents=True)
    try:
        th.save({"policy": model.policy.state_dict(), "optimizer": optimizer.state_dict()}, staged / "weights.pt")
        np.savez(staged / "labels.npz", **store.state())
        write_json_atomic(staged / "progress.json", {"key": key, **asdict(progress)})  # last: marks it complete
        replace_dir(staged, folder)
    finally:
        shutil.rmtree(staged, ignore_errors=True)  # a failed save leaves the last complete round, not a half copy


def load_progress(folder: Path, key: dict[str, Any], model: SAC, optimizer: th.optim.Optimizer,
                  store: LabelStore | VectorStore) -> Progress | None:
    """Restore the model, optimizer and store from ``folder`` and return the progress it holds.

    None when there is no complete saved round, or when it was saved for another student or other budgets (it is then
    left as it is; the next round's save replaces it). A saved round that cannot be read raises ``ValueError`` naming
    the folder and the fix.
    """
    if not (folder / "progress.json").exists():
        folder = folder.with_name(f".{folder.name}.old")  # a crash between replace_dir's two renames leaves it here
    if not (folder / "progress.json").exists():
        return None
    try:
        saved = json.loads((folder / "progress.json").read_text())
        if saved.pop("key") != key:
            return None
        progress = Progress(**saved)
        weights = th.load(folder / "weights.pt", map_location=model.device, weights_only=True)
        model.policy.load_state_dict(weights["policy"])
        optimizer.load_state_dict(weights["optimizer"])
        with np.load(folder / "labels.npz") as labels:
            store.restore(dict(labels))
    except (OSError, ValueError, KeyError, TypeError, RuntimeError, EOFError, zipfile.BadZipFile,
            pickle.UnpicklingError) as error:
        reason = (str(error).strip().splitlines() or [""])[0][:200]  # torch's messages run to many lines
        raise ValueError(f"{folder}: this student's saved round cannot be read ({type(error).__name__}: {reason}); "
                         f"delete the folder to teach the student from its first round") from error
    return progress
