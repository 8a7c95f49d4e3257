"""Saving and loading a :class:`~pixelpush_lib.replay.frame_her.FrameHerReplayBuffer`'s data.

The file is a compressed ``.npz`` written atomically: a ``config`` record of the data layout (a file saved by
another configuration is refused, naming the field and the fix), the filled part of every array, and the frames
one array per env so that loading never holds a second copy of them all.
"""

from __future__ import annotations

import json
import os
import pickle
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import torch

from pixelpush_lib.core.files import atomic_write
from pixelpush_lib.replay.frame_ring import to_host

FORMAT_VERSION = 1


class BufferFileError(ValueError):
    """A saved buffer file that cannot be loaded into this buffer (other config, truncated, corrupt)."""


class FramePersistence:
    """``save_state``/``load_state`` for the frame buffer (a mixin: it reads and writes the buffer's arrays)."""

    def _config(self) -> dict[str, Any]:
        """What a file must match to be loaded into this buffer (its data layout)."""
        return {
            "format_version": FORMAT_VERSION,
            "frame_stack": self.frame_stack,
            "frame_shape": list(self.frame_shape),
            "n_envs": self.n_envs,
            "buffer_size_per_env": self.buffer_size,
            "frame_capacity": self.frame_capacity,
            "pixel_key": self.pixel_key,
            "vector_keys": {k: [list(v.shape[2:]), v.dtype.str] for k, v in self.observations.items()},
            "action_dim": self.action_dim,
            "handle_timeout_termination": self.handle_timeout_termination,
            "copy_info_dict": self.copy_info_dict,
        }

    def _state_arrays(self) -> dict[str, np.ndarray]:
        """Every array that holds data; only the filled part of each (zeros compress, but cost time)."""
        n = self.buffer_size if self.full else self.pos
        m = min(int(self._frames_written.max()), self.frame_capacity)
        arrays: dict[str, np.ndarray] = {
            "pos": np.array(self.pos),
            "full": np.array(self.full),
            "current_ep_start": self._current_ep_start,
            "frames_written": self._frames_written,
            "cur_ep_frame_start": self._cur_ep_frame_start,
            "episode_fresh": self._episode_fresh,
            "frame_owner": self.frame_owner[:, :m],
        }
        for name in ("actions", "rewards", "dones", "timeouts", "ep_start", "ep_length", "obs_frame", "ep_frame_start"):
            arrays[name] = getattr(self, name)[:n]
        for key in self.observations:
            arrays[f"obs.{key}"] = self.observations[key][:n]
            arrays[f"next_obs.{key}"] = self.next_observations[key][:n]
        # One array per env, so loading never holds a second copy of all frames at once.
        for env_idx in range(self.n_envs):
            arrays[f"frames.{env_idx}"] = to_host(self.frames[env_idx, :m])
        if self.copy_info_dict:
            arrays["infos_pickle"] = np.frombuffer(pickle.dumps(self.infos[:n]), dtype=np.uint8)
        return arrays

    def save_state(self, path: str | os.PathLike[str]) -> None:
        """Write the buffer's data to ``path`` (compressed ``.npz``), atomically (temp file + rename).

        The env and ``pixel_augment`` are not saved: the buffer that loads the file has its own.
        """
        config = np.array(json.dumps(self._config(), sort_keys=True))
        with atomic_write(path) as handle:
            np.savez_compressed(handle, config=config, **self._state_arrays())

    def load_state(self, path: str | os.PathLike[str], truncate_last_trajectory: bool = True) -> None:
        """Replace this buffer's data by a file written by ``save_state``.

        :param truncate_last_trajectory: as in SB3's ``load_replay_buffer``: ``True`` when training
            resumes from a fresh ``env.reset()`` (a new model), so the episodes cut off by the save
            are closed; ``False`` only to continue the very same episodes.
        :raises BufferFileError: the file is truncated/corrupt or was saved by a buffer of another
            configuration (the message names the file, the field and the fix). The buffer is then
            unchanged, or empty if a frame array proves unreadable: never half-loaded.
        """
        path = Path(path)
        try:
            npz = np.load(path, allow_pickle=False)
        except FileNotFoundError:
            raise
        except (zipfile.BadZipFile, EOFError, OSError, ValueError) as err:
            raise BufferFileError(
                f"{path}: not a readable replay-buffer file ({err}); it is truncated or corrupt. "
                "Use an earlier checkpoint or start with an empty buffer."
            ) from err
        if not isinstance(npz, np.lib.npyio.NpzFile):
            raise BufferFileError(f"{path}: not an .npz archive; the file was not written by save_state()")
        with npz:
            self._check_file_config(path, npz)
            self._restore(path, npz)
        if truncate_last_trajectory:
            self.truncate_last_trajectory()

    def _check_file_config(self, path: Path, npz: Any) -> None:
        if "config" not in npz.files:
            raise BufferFileError(f"{path}: field 'config' is missing; the file was not written by save_state()")
        saved = json.loads(str(_read_field(path, npz, "config", (), np.dtype("U1"))))
        fix = {
            "format_version": "re-save it with this version of pixelpush_lib, or start with an empty buffer",
            "frame_stack": "build the env and buffer with the file's frame_stack",
            "frame_shape": "build the env with the file's image size",
            "n_envs": "train with the file's number of envs",
            "buffer_size_per_env": "use the file's buffer_size (total = per env x n_envs)",
            "frame_capacity": "use the file's buffer_size and min_episode_length",
        }
        for field, expected in self._config().items():
            if saved.get(field) != expected:
                hint = fix.get(field, "build the buffer with the configuration that saved the file")
                raise BufferFileError(
                    f"{path}: field {field!r} is {saved.get(field)!r} in the file but {expected!r} in this "
                    f"buffer; the file was saved by another configuration. Fix: {hint}."
                )

    def _restore(self, path: Path, npz: Any) -> None:
        """Read and check every field, small ones first; frames one env at a time (bounded memory)."""
        pos = int(_read_field(path, npz, "pos", (), np.dtype(np.int64)))
        full = bool(_read_field(path, npz, "full", (), np.dtype(bool)))
        frames_written = _read_field(path, npz, "frames_written", (self.n_envs,), self._frames_written.dtype)
        n = self.buffer_size if full else pos
        m = min(int(frames_written.max()), self.frame_capacity)
        per_transition = {
            "actions": self.actions, "rewards": self.rewards, "dones": self.dones, "timeouts": self.timeouts,
            "ep_start": self.ep_start, "ep_length": self.ep_length,
            "obs_frame": self.obs_frame, "ep_frame_start": self.ep_frame_start,
            **{f"obs.{k}": v for k, v in self.observations.items()},
            **{f"next_obs.{k}": v for k, v in self.next_observations.items()},
        }
        per_env = {
            "current_ep_start": self._current_ep_start, "cur_ep_frame_start": self._cur_ep_frame_start,
            "episode_fresh": self._episode_fresh,
        }
        loaded = {
            name: _read_field(path, npz, name, (n, *arr.shape[1:]), arr.dtype) for name, arr in per_transition.items()
        }
        loaded.update({name: _read_field(path, npz, name, arr.shape, arr.dtype) for name, arr in per_env.items()})
        frame_owner = _read_field(path, npz, "frame_owner", (self.n_envs, m), self.frame_owner.dtype)
        infos = None
        if self.copy_info_dict:
            blob = _read_field(path, npz, "infos_pickle", None, np.dtype(np.uint8))
            infos = pickle.loads(blob.tobytes())  # our own checkpoint format: trusted

        self._clear()
        for name, arr in per_transition.items():
            arr[:n] = loaded[name]
        for name, arr in per_env.items():
            arr[...] = loaded[name]
        self._frames_written[:] = frames_written
        self.frame_owner[:, :m] = frame_owner
        if infos is not None:
            self.infos[:n] = infos
        try:  # frames are read last, one env at a time, straight into the ring
            for env_idx in range(self.n_envs):
                shape = (m, *self.frame_shape)
                frames = _read_field(path, npz, f"frames.{env_idx}", shape, np.dtype(np.uint8))
                self.frames[env_idx, :m] = frames if isinstance(self.frames, np.ndarray) else torch.as_tensor(frames)
        except BufferFileError:
            self._clear()
            raise
        self.pos, self.full = pos, full



def _read_field(path: Path, npz: Any, name: str, shape: tuple[int, ...] | None, dtype: np.dtype) -> np.ndarray:
    """One array of an open ``.npz``, checked; a missing, truncated or mis-shaped one is a ``BufferFileError``."""
    if name not in npz.files:
        raise BufferFileError(f"{path}: field {name!r} is missing; the file is incomplete. Use another checkpoint.")
    try:
        value = npz[name]
    except (zipfile.BadZipFile, EOFError, OSError, ValueError) as err:
        raise BufferFileError(
            f"{path}: field {name!r} cannot be read ({err}); the file is truncated or corrupt. "
            "Use an earlier checkpoint or start with an empty buffer."
        ) from err
    same_kind = value.dtype.kind == dtype.kind if dtype.kind == "U" else value.dtype == dtype
    if (shape is not None and value.shape != tuple(shape)) or not same_kind:
        raise BufferFileError(
            f"{path}: field {name!r} has shape {value.shape} dtype {value.dtype}, expected {tuple(shape or ())} "
            f"{dtype}; the file is inconsistent. Use another checkpoint."
        )
    return value
