"""Env-steps/s of the eyes-first training loop beside the state run's and Step 2's end-to-end pixel loop.

All three are ``build_model`` of their config, run the way ``pixelpush train`` runs them (torch threads from
:func:`pixelpush_lib.training.runs.torch_threads_for`, vectorised envs from the config), with the configs' own batch
size (256) and envs: ``state`` (8 envs, no rendering), ``eyes_first`` (4 rendered envs whose frozen eyes run in the
env, a vector policy) and ``step2_pixels_only`` (4 rendered envs, ManipulationCNN trained through the critic in
every update). Only the replay capacity is cut (20,000 transitions), which changes no step's cost. Each repeat fills
``learning_starts`` first and then times a number of steps sized to each loop's speed; the repeats alternate, so
drift in machine load hits all three alike. Medians are printed, and the ratios to both baselines.
"""

from __future__ import annotations

import statistics

import torch as th

from pixelpush_lib.core.configs import get_config
from pixelpush_lib.training.build import build_model
from pixelpush_lib.training.runs import torch_threads_for
from pixelpush_lib.training.throughput import _steps_per_second, describe_shares

LOOPS = ("state", "eyes_first", "step2_pixels_only")


def measure(config_name: str, steps: int, seed: int) -> tuple[float, str]:
    """One repeat of one loop: env-steps/s and where the time went."""
    config = get_config(config_name, {"buffer_size": 20_000})
    previous = th.get_num_threads()
    th.set_num_threads(torch_threads_for(config, "cpu"))
    try:
        speed, shares = _steps_per_second(build_model(config, seed=seed, device="cpu"), steps)
    finally:
        th.set_num_threads(previous)
    return speed, describe_shares(shares)


def bench_eyes_first(steps: dict[str, int] | None = None, repeats: int = 3) -> float:
    """Print each repeat and the medians; return eyes-first's speed over the state run's."""
    steps = steps or {"state": 4000, "eyes_first": 1000, "step2_pixels_only": 100}
    speeds: dict[str, list[float]] = {name: [] for name in LOOPS}
    for r in range(repeats):
        for name in LOOPS:
            speed, shares = measure(name, steps[name], seed=r)
            speeds[name].append(speed)
            print(f"repeat {r}: {name} {speed:.1f} env-steps/s over {steps[name]} steps ({shares})", flush=True)
    median = {name: statistics.median(values) for name, values in speeds.items()}
    for name in LOOPS:
        print(f"{name}: median {median[name]:.1f} env-steps/s over {repeats} repeats")
    print(f"eyes_first / state: {median['eyes_first'] / median['state']:.2f} (goal >= 0.5)")
    print(f"eyes_first / step2_pixels_only: {median['eyes_first'] / median['step2_pixels_only']:.1f} (goal >= 10)")
    return median["eyes_first"] / median["state"]
