"""Memory and sampling time of ``FrameHerReplayBuffer`` vs SB3's ``HerReplayBuffer``, same run.

``python -m pixelpush_lib.bench memory`` (or ``python -m pixelpush_lib.bench.memory``). Both buffers are
built for the chapter's observation (4-stack of 3x84x84 uint8 frames, 10-D float32 proprio, two 3-D
float64 goals, 4-D actions) with ``n_envs=4``, then filled with the same 50-step episodes of random
frames. Memory is the ``nbytes`` of every numpy array each buffer holds (the arrays are allocated
whole at construction, so this is what a full buffer holds), divided by the capacity; 500K and 1M
costs are that per-transition figure times the size (linear extrapolation; the frame ring's constant
term, 2 frames per env, makes it a slight overestimate for ours).
"""

from __future__ import annotations

import statistics
import time

import numpy as np

from pixelpush_lib.replay.memory import FRAME_STACK, IMAGE_SIZE, N_ENVS, OURS_NAME, SB3_NAME, buffer_pair
from pixelpush_lib.replay.memory import bytes_per_transition as measure_bytes

EPISODE_LENGTH = 50


def _fill(buffers: list, n_steps: int, rng: np.random.Generator) -> None:
    """Feed ``n_steps`` steps of ``N_ENVS`` lockstep 50-step episodes (random frames) to every buffer."""
    c = 3
    frames = rng.integers(0, 256, (N_ENVS, c, IMAGE_SIZE, IMAGE_SIZE), dtype=np.uint8)
    stack = np.tile(frames, (1, FRAME_STACK, 1, 1))  # reset: k copies of the first frame

    def vectors() -> dict[str, np.ndarray]:
        return {
            "proprio": rng.standard_normal((N_ENVS, 10)).astype(np.float32),
            "achieved_goal": rng.random((N_ENVS, 3)),
            "desired_goal": rng.random((N_ENVS, 3)),
        }

    obs = {"pixels": stack, **vectors()}
    for t in range(n_steps):
        new_frames = rng.integers(0, 256, (N_ENVS, c, IMAGE_SIZE, IMAGE_SIZE), dtype=np.uint8)
        next_obs = {"pixels": np.concatenate([obs["pixels"][:, c:], new_frames], axis=1), **vectors()}
        done = np.full(N_ENVS, (t + 1) % EPISODE_LENGTH == 0)
        infos = [{"TimeLimit.truncated": bool(d)} for d in done]
        action = rng.uniform(-1, 1, (N_ENVS, 4)).astype(np.float32)
        reward = -np.ones(N_ENVS, dtype=np.float32)
        for buf in buffers:
            buf.add(obs, next_obs, action, reward, done, infos)
        if done[0]:
            reset = rng.integers(0, 256, (N_ENVS, c, IMAGE_SIZE, IMAGE_SIZE), dtype=np.uint8)
            obs = {"pixels": np.tile(reset, (1, FRAME_STACK, 1, 1)), **vectors()}
        else:
            obs = next_obs


def _sample_ms(buffer, batch_size: int) -> float:
    start = time.perf_counter()
    buffer.sample(batch_size)
    return 1e3 * (time.perf_counter() - start)


def bench_memory(capacity: int = 2000, batch_size: int = 256, repeats: int = 30) -> float:
    """Print bytes per transition, 500K/1M costs and ``sample(256)`` time; return ours / SB3's bytes."""
    print(
        f"capacity {capacity} transitions (n_envs={N_ENVS}), {FRAME_STACK}-stack 3x{IMAGE_SIZE}x{IMAGE_SIZE} uint8 "
        "pixels + 10-D proprio + 2 goals; bytes = numpy nbytes of every array held, per transition = bytes / "
        "capacity, 500K/1M extrapolated linearly"
    )
    with buffer_pair(capacity) as buffers:
        table = measure_bytes(buffers, capacity)
        for name, row in table.iterrows():
            per = row["bytes"]
            print(f"{name}: {per:,.0f} B/transition ({row['pixel_bytes']:,.0f} of them pixels); "
                  f"500K: {per * 5e5 / 1e9:.1f} GB; 1M: {per * 1e6 / 1e9:.1f} GB")
        sb3, ours = buffers[SB3_NAME], buffers[OURS_NAME]
        _fill([sb3, ours], capacity // N_ENVS, np.random.default_rng(0))
        sb3_ms, ours_ms = [], []
        for _ in range(repeats):  # interleaved, so drift in machine load hits both alike
            sb3_ms.append(_sample_ms(sb3, batch_size))
            ours_ms.append(_sample_ms(ours, batch_size))
    sb3_med, ours_med = statistics.median(sb3_ms), statistics.median(ours_ms)
    print(
        f"sample({batch_size}) after filling: SB3 median {sb3_med:.1f} ms, FrameHerReplayBuffer median "
        f"{ours_med:.1f} ms over {repeats} repeats (time ratio {ours_med / sb3_med:.2f})"
    )
    return table.loc[OURS_NAME, "bytes"] / table.loc[SB3_NAME, "bytes"]


if __name__ == "__main__":
    print(f"ratio={bench_memory():.3f}")
