"""Benchmarks: each measures this project's code and its baseline in the same run.

``python -m pixelpush_lib.bench NAME`` prints one line per measurement (medians over repeats;
these machines are noisy) and a last line ``ratio=<x>`` (ours / baseline for speeds).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable

import pixelpush_lib  # noqa: F401  (sets MUJOCO_GL before mujoco loads)


def _steps_per_second(env, n_steps: int, render: bool) -> float:
    env.reset(seed=0)
    env.action_space.seed(0)
    start = time.perf_counter()
    for _ in range(n_steps):
        _, _, terminated, truncated, _ = env.step(env.action_space.sample())
        if render:
            env.render()
        if terminated or truncated:
            env.reset()
    return n_steps / (time.perf_counter() - start)


def bench_env(steps: int = 300, repeats: int = 5) -> float:
    """Steps/s of ``make_env("pixels")`` (4-stack, 84x84) vs Gymnasium's own 84x84 rgb_array render."""
    import gymnasium as gym

    from pixelpush_lib.wrappers import ENV_ID, make_env

    ours_env = make_env("pixels", seed=0)
    base_env = gym.make(ENV_ID, render_mode="rgb_array", width=84, height=84)
    ours, base = [], []
    for _ in range(repeats):  # interleaved, so drift in machine load hits both alike
        ours.append(_steps_per_second(ours_env, steps, render=False))
        base.append(_steps_per_second(base_env, steps, render=True))
    ours_env.close()
    base_env.close()
    ours_med, base_med = statistics.median(ours), statistics.median(base)
    print(f"make_env('pixels') 4x84x84 stack: median {ours_med:.1f} steps/s over {repeats}x{steps} steps")
    print(f"gym.make(render_mode='rgb_array', 84x84) + render(): median {base_med:.1f} steps/s")
    return ours_med / base_med


BENCHMARKS: dict[str, Callable[[], float]] = {"env": bench_env}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m pixelpush_lib.bench", description=__doc__)
    parser.add_argument("name", choices=sorted(BENCHMARKS))
    args = parser.parse_args(argv)
    ratio = BENCHMARKS[args.name]()
    print(f"ratio={ratio:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
