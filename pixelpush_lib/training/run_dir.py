"""The run directory: the one place that knows how a training run is laid out on disk.

::

    run.json                  the manifest: config, overrides, seed, versions, git commit, host, segments
    progress.csv              SB3's logger (rollout/success_rate, train/critic_loss, train/actor_loss, ...)
    tb/                       the same scalars for TensorBoard
    checkpoints/latest.json   -> checkpoints/step_<N>_u<U>/{model.zip, replay buffer, checkpoint.json}

A checkpoint is written into a staging folder and renamed; only then does ``latest.json`` point at it, so a
run killed at any moment resumes from a complete checkpoint. Training, the notebooks and the sweeps all read
runs through :class:`RunDir`.
"""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path
from typing import Any

from pixelpush_lib.core.files import atomic_write, utc_now, write_json_atomic

FRAME_BUFFER_FILE = "replay_buffer.npz"  # FrameHerReplayBuffer.save_state: each frame once, compressed
SB3_BUFFER_FILE = "replay_buffer.pkl"  # SB3's save_replay_buffer
STEP_COLUMN = "time/total_timesteps"


class RunError(ValueError):
    """A run cannot start or resume as asked; nothing in the run directory was changed."""


class RunDir:
    """A ``pixelpush train`` run directory (it need not exist yet)."""

    MANIFEST = "run.json"
    PROGRESS = "progress.csv"

    def __init__(self, path: Path | str | RunDir) -> None:
        self.path = path.path if isinstance(path, RunDir) else Path(path)

    def __repr__(self) -> str:
        return f"RunDir({str(self.path)!r})"

    @property
    def manifest_path(self) -> Path:
        return self.path / self.MANIFEST

    @property
    def progress_path(self) -> Path:
        return self.path / self.PROGRESS

    @property
    def tensorboard_dir(self) -> Path:
        return self.path / "tb"

    @property
    def checkpoints_dir(self) -> Path:
        return self.path / "checkpoints"

    def has_run(self) -> bool:
        """True when a run was started here (its manifest exists)."""
        return self.manifest_path.exists()

    def read_manifest(self) -> dict[str, Any]:
        try:
            return json.loads(self.manifest_path.read_text())
        except FileNotFoundError:
            raise RunError(f"{self.manifest_path} not found: {self.path} is not a pixelpush run directory") from None
        except json.JSONDecodeError as error:
            raise RunError(f"{self.manifest_path} is not valid JSON ({error}); restore it from a backup or start "
                           "a new run") from None

    def write_manifest(self, manifest: dict[str, Any]) -> None:
        write_json_atomic(self.manifest_path, manifest)

    # --- checkpoints ----------------------------------------------------------------------------

    def latest_checkpoint(self) -> Path | None:
        """The folder ``latest.json`` points at, if it holds a complete checkpoint."""
        pointer = self.checkpoints_dir / "latest.json"
        if not pointer.exists():
            return None
        target = self.checkpoints_dir / json.loads(pointer.read_text())["dir"]
        return target if (target / "checkpoint.json").exists() else None

    @staticmethod
    def checkpoint_info(checkpoint: Path) -> dict[str, Any]:
        """``num_timesteps``, ``episodes``, ``replay_buffer_transitions``, ``saved_at`` of one checkpoint."""
        return json.loads((Path(checkpoint) / "checkpoint.json").read_text())

    def checkpoint_step(self) -> int | None:
        """Environment step of the latest complete checkpoint; None when there is none."""
        checkpoint = self.latest_checkpoint()
        return None if checkpoint is None else int(self.checkpoint_info(checkpoint)["num_timesteps"])

    def save_checkpoint(self, model: Any) -> Path:
        """Model + replay buffer into ``checkpoints/step_<N>_u<U>``; ``latest.json`` moves only when complete.

        Older checkpoints keep their model (small) and lose their replay buffer (up to tens of GB).
        """
        root = self.checkpoints_dir
        root.mkdir(parents=True, exist_ok=True)
        # Steps and updates together name a unique state (the final save may share a step with the last
        # periodic one, after one more gradient update), so a complete checkpoint is never overwritten.
        name = f"step_{model.num_timesteps:010d}_u{model._n_updates}"
        final = root / name
        if final.exists():  # the very same state was saved already
            return final
        staging = root / f".tmp-{name}"
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir()
        model.save(staging / "model.zip")
        if hasattr(model.replay_buffer, "save_state"):
            model.replay_buffer.save_state(staging / FRAME_BUFFER_FILE)
        else:
            model.save_replay_buffer(staging / SB3_BUFFER_FILE)
        write_json_atomic(staging / "checkpoint.json", {
            "num_timesteps": int(model.num_timesteps),
            "episodes": int(model._episode_num),
            "replay_buffer_transitions": int(model.replay_buffer.size() * model.n_envs),
            "saved_at": utc_now("microseconds"),
        })
        staging.rename(final)
        previous = self.latest_checkpoint()
        write_json_atomic(root / "latest.json", {"dir": name, "num_timesteps": int(model.num_timesteps)})
        if previous is not None and previous != final:
            for buffer_file in (FRAME_BUFFER_FILE, SB3_BUFFER_FILE):
                (previous / buffer_file).unlink(missing_ok=True)
        return final

    @staticmethod
    def load_replay_buffer(model: Any, checkpoint: Path) -> None:
        """Restore a checkpoint's replay buffer into ``model`` (in place for the frame buffer)."""
        if (Path(checkpoint) / FRAME_BUFFER_FILE).exists():
            model.replay_buffer.load_state(Path(checkpoint) / FRAME_BUFFER_FILE)
        else:
            model.load_replay_buffer(Path(checkpoint) / SB3_BUFFER_FILE)

    # --- the log --------------------------------------------------------------------------------

    def truncate_progress(self, last_step: int) -> int:
        """Drop log rows after ``last_step`` (they will be logged again) and broken trailing lines.

        Returns the number of rows kept. The file is replaced atomically.
        """
        path = self.progress_path
        if not path.exists():
            return 0
        with open(path, newline="") as handle:
            rows = list(csv.reader(handle))
        if not rows:
            return 0
        header, body = rows[0], rows[1:]
        step_index = header.index(STEP_COLUMN) if STEP_COLUMN in header else None
        kept = [
            row
            for row in body
            if len(row) == len(header) and (step_index is None or (row[step_index] and float(row[step_index]) <= last_step))
        ]
        with atomic_write(path, "w") as handle:
            writer = csv.writer(handle, lineterminator="\n")
            writer.writerow(header)
            writer.writerows(kept)
        return len(kept)
