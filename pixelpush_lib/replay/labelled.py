"""Expert-labelled observations for imitation (the distillation experiment): pixels kept one frame per step, with
the frame stacks rebuilt when a batch is drawn, or plain state vectors."""

from __future__ import annotations

from typing import Any

import numpy as np

ACTION_DIM = 4  # FetchPush: gripper dx, dy, dz, finger


class _Store:
    """What both stores share: their filled part as named arrays, to save a run's labels and restore them."""

    size: int
    actions: np.ndarray
    vectors: dict[str, np.ndarray]

    def _arrays(self) -> dict[str, np.ndarray]:
        return {"actions": self.actions, **{f"vector.{key}": array for key, array in self.vectors.items()}}

    def state(self) -> dict[str, np.ndarray]:
        """The labels so far: each array's first ``size`` rows, by name (what :meth:`restore` takes back)."""
        return {name: array[:self.size] for name, array in self._arrays().items()}

    def restore(self, saved: dict[str, np.ndarray]) -> None:
        """Refill an empty store of at least the same capacity from :meth:`state`'s arrays.

        Raises ``ValueError`` naming the array when the names, row counts or shapes do not fit this store.
        """
        arrays = self._arrays()
        if set(saved) != set(arrays):
            raise ValueError(f"saved labels hold {sorted(saved)}, this store holds {sorted(arrays)}")
        size = len(saved["actions"])
        for name, array in arrays.items():
            if len(saved[name]) != size or saved[name].shape[1:] != array.shape[1:] or size > len(array):
                raise ValueError(f"saved labels {name!r}: shape {saved[name].shape} does not fit {size} rows of "
                                 f"{array.shape[1:]} (capacity {len(array)})")
        for name, array in arrays.items():
            array[:size] = saved[name]
        self.size = size


class VectorStore(_Store):
    """Expert-labelled state observations (the control's store): the same interface as :class:`LabelStore`."""

    def __init__(self, capacity: int, space: Any) -> None:
        self.vectors = {key: np.empty((capacity, *space[key].shape), np.float32) for key in space.spaces}
        self.actions = np.empty((capacity, ACTION_DIM), np.float32)
        self.size = 0

    def start_episode(self) -> None:
        pass

    def add(self, obs: dict[str, np.ndarray], action: np.ndarray) -> None:
        for key, array in self.vectors.items():
            array[self.size] = obs[key]
        self.actions[self.size] = action
        self.size += 1

    def observations(self, indices: np.ndarray, frame_stack: int) -> dict[str, np.ndarray]:
        return {key: array[indices] for key, array in self.vectors.items()}


class LabelStore(_Store):
    """Expert-labelled observations, each frame kept once; frame stacks are rebuilt when a batch is drawn.

    Holds, per labelled step: the newest frame (3, H, W) uint8, ``proprio`` (10,), both goals (3,) in metres, the
    expert's action (4,) in [-1, 1], and the index of its episode's first step (stacks never reach across episodes;
    at an episode's start they repeat its first frame, as the env does).
    """

    def __init__(self, capacity: int, image_size: int) -> None:
        self.frames = np.empty((capacity, 3, image_size, image_size), np.uint8)
        self.vectors = {"proprio": np.empty((capacity, 10), np.float32),
                        "achieved_goal": np.empty((capacity, 3), np.float32),
                        "desired_goal": np.empty((capacity, 3), np.float32)}
        self.actions = np.empty((capacity, ACTION_DIM), np.float32)
        self.episode_start = np.empty(capacity, np.int64)
        self.size = 0
        self._start = 0

    def start_episode(self) -> None:
        self._start = self.size

    def add(self, obs: dict[str, np.ndarray], action: np.ndarray) -> None:
        if self.size == len(self.actions):
            raise RuntimeError(f"LabelStore is full ({self.size} labels)")
        i = self.size
        self.frames[i] = obs["pixels"][-3:]
        for key, array in self.vectors.items():
            array[i] = obs[key]
        self.actions[i], self.episode_start[i] = action, self._start
        self.size += 1

    def _arrays(self) -> dict[str, np.ndarray]:
        return {**super()._arrays(), "frames": self.frames, "episode_start": self.episode_start}

    def restore(self, saved: dict[str, np.ndarray]) -> None:
        super().restore(saved)
        self._start = self.size  # the next label begins a new episode, as every round's episodes do

    def observations(self, indices: np.ndarray, frame_stack: int) -> dict[str, np.ndarray]:
        """The observations at ``indices`` as the env gave them: ``pixels`` (B, 3 * frame_stack, H, W) uint8."""
        steps = indices[:, None] + np.arange(1 - frame_stack, 1)  # oldest first, like the env's stack
        steps = np.maximum(steps, self.episode_start[indices][:, None])
        pixels = self.frames[steps].reshape(len(indices), 3 * frame_stack, *self.frames.shape[2:])
        return {"pixels": pixels, **{key: array[indices] for key, array in self.vectors.items()}}
