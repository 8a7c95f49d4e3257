"""``python -m pixelpush_lib.bench vec``: a pixel config's envs stepped in one process each against all in one."""

from __future__ import annotations

import statistics
import time

import numpy as np

from pixelpush_lib.core.configs import get_config
from pixelpush_lib.training.build import make_training_env


def _ms_per_vec_step(config_name: str, vec_env: str, steps: int) -> float:
    env = make_training_env(get_config(config_name, {"vec_env": vec_env}), seed=0)
    try:
        env.reset()
        env.action_space.seed(0)
        times = []
        for _ in range(steps):
            actions = np.stack([env.action_space.sample() for _ in range(env.num_envs)])
            start = time.perf_counter()
            env.step(actions)
            times.append(time.perf_counter() - start)
        return 1000 * statistics.median(times)
    finally:
        env.close()


def bench_vec_env(config_name: str = "step2", steps: int = 100, repeats: int = 3) -> float:
    """Median wall time of one vectorised step (every env steps and renders once); returns one process's time over
    a process per env's (above 1: the processes are faster)."""
    n_envs = get_config(config_name).n_envs
    one, each = [], []
    for _ in range(repeats):  # alternate, so drift in machine load hits both alike
        one.append(_ms_per_vec_step(config_name, "dummy", steps))
        each.append(_ms_per_vec_step(config_name, "subproc", steps))
    print(f"{config_name}: {n_envs} pixel envs, {repeats} x {steps} vectorised steps")
    print(f"one process (DummyVecEnv): median {statistics.median(one):.1f} ms per step")
    print(f"a process per env (SubprocVecEnv): median {statistics.median(each):.1f} ms per step")
    return statistics.median(one) / statistics.median(each)
