"""What a replay buffer holds in memory: SB3's ``HerReplayBuffer`` and ours, built side by side for the chapter's
pixel observation (4-stack of 3x84x84 uint8 frames, 10-D proprio, two 3-D goals, 4-D actions).

Arrays are allocated whole at construction, so ``nbytes / capacity`` is what a full buffer costs per transition.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import numpy as np
import pandas as pd
from stable_baselines3 import HerReplayBuffer
from stable_baselines3.common.vec_env import DummyVecEnv

from pixelpush_lib.env.wrappers import make_env
from pixelpush_lib.replay.frame_her import FrameHerReplayBuffer

FRAME_STACK, IMAGE_SIZE, N_ENVS = 4, 84, 4
SB3_NAME, OURS_NAME = "SB3 HerReplayBuffer", "FrameHerReplayBuffer"


def array_nbytes(obj: Any) -> int:
    """Bytes of the numpy arrays among ``obj``'s attributes (and inside dict attributes).

    An object array counts its 8-byte pointers only: SB3's ``infos`` array also holds one empty
    ``dict`` (64 B) per transition that this does not count, in both buffers alike.
    """
    total = 0
    for value in vars(obj).values():
        values = value.values() if isinstance(value, dict) else [value]
        total += sum(v.nbytes for v in values if isinstance(v, np.ndarray))
    return total


@contextlib.contextmanager
def buffer_pair(capacity: int) -> Iterator[dict[str, Any]]:
    """SB3's buffer and ours, same env, ``n_envs`` and HER settings, ``capacity`` transitions each.

    The env is the real pixel env: HER recomputes rewards with FetchPush's own ``compute_reward`` when sampling.
    """
    venv = DummyVecEnv([lambda: make_env("pixels", frame_stack=FRAME_STACK, image_size=IMAGE_SIZE)])
    kwargs = dict(env=venv, device="cpu", n_envs=N_ENVS, n_sampled_goal=4, goal_selection_strategy="future")
    try:
        yield {
            SB3_NAME: HerReplayBuffer(capacity, venv.observation_space, venv.action_space, **kwargs),
            OURS_NAME: FrameHerReplayBuffer(capacity, venv.observation_space, venv.action_space,
                                            frame_stack=FRAME_STACK, **kwargs),
        }
    finally:
        venv.close()


def pixel_nbytes(buffer: Any) -> int:
    """Bytes the buffer spends on pixels (SB3: obs and next-obs copies; ours: the frame ring)."""
    if isinstance(buffer, FrameHerReplayBuffer):
        return buffer.frames.nbytes
    return buffer.observations["pixels"].nbytes + buffer.next_observations["pixels"].nbytes


def bytes_per_transition(buffers: dict[str, Any], capacity: int) -> pd.DataFrame:
    """One row per buffer: ``bytes`` and ``pixel_bytes`` per transition."""
    rows = [{"buffer": name, "bytes": array_nbytes(b) / capacity, "pixel_bytes": pixel_nbytes(b) / capacity}
            for name, b in buffers.items()]
    return pd.DataFrame(rows).set_index("buffer")
