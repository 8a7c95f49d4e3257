"""How well the scripted expert pushes: its success rate on FetchPush-v4 episodes no training run uses.

The expert (:class:`pixelpush_lib.env.expert.PushExpert`) is the teacher of the pixel students; a student can only
be judged against a teacher whose own success is measured. ``python -m pixelpush_lib.experiments expert`` writes
``data/measured/expert/episodes.csv`` (one row per episode) and the success rate in the manifest's summary.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import pandas as pd

from pixelpush_lib.core.paths import MEASURED_DIR
from pixelpush_lib.env.expert import PushExpert
from pixelpush_lib.env.wrappers import ENV_ID
from pixelpush_lib.experiments.store import write_measured
from pixelpush_lib.training.pretrained import EVAL_SEED  # seeds no training run uses


def run_episodes(env: Any, n_episodes: int, first_seed: int, expert: PushExpert,
                 driver: Callable[[dict[str, np.ndarray]], np.ndarray] | None = None,
                 store: Any = None) -> list[dict[str, Any]]:
    """Drive ``n_episodes`` of ``env`` (seeded ``first_seed + k``) with ``driver`` (default: the expert). With a
    ``store`` (:mod:`pixelpush_lib.replay.labelled`), every observation is added with the expert's label.

    One dict per episode: ``seed``, ``success`` (``info["is_success"]`` at the 50th step) and ``final_distance_m``
    (puck to goal at the end, metres).
    """
    episodes = []
    for episode in range(n_episodes):
        obs, _ = env.reset(seed=first_seed + episode)
        if store is not None:
            store.start_episode()
        done = False
        while not done:
            label = expert(obs)
            if store is not None:
                store.add(obs, label)
            obs, _, terminated, truncated, info = env.step(label if driver is None else driver(obs))
            done = terminated or truncated
        distance = float(np.linalg.norm(obs["achieved_goal"] - obs["desired_goal"]))
        episodes.append({"seed": first_seed + episode, "success": bool(info["is_success"]),
                         "final_distance_m": distance})
    return episodes


def run_expert(n_episodes: int, seed: int = EVAL_SEED, expert: PushExpert = PushExpert()) -> pd.DataFrame:
    """The expert on FetchPush's own state observation: one row per episode (see :func:`run_episodes`)."""
    import gymnasium_robotics

    gym.register_envs(gymnasium_robotics)
    env = gym.make(ENV_ID)
    try:
        return pd.DataFrame(run_episodes(env, n_episodes, seed, expert))
    finally:
        env.close()


def precompute(quick: bool = False, measured_dir: Path = MEASURED_DIR,
               command: str = "python -m pixelpush_lib.experiments expert") -> Path:
    """Measure the expert over 200 episodes (``quick``: 10) into ``measured_dir/expert/``."""
    start = time.perf_counter()
    n_episodes = 10 if quick else 200
    episodes = run_expert(n_episodes)
    summary = {"success_rate": float(episodes["success"].mean()), "n_episodes": n_episodes,
               "median_final_distance_m": float(episodes["final_distance_m"].median())}
    return write_measured("expert", {"episodes.csv": lambda p: episodes.to_csv(p, index=False, float_format="%.5g")},
                          {"n_episodes": n_episodes, "seed": EVAL_SEED, "expert": PushExpert().__dict__,
                           "quick": quick}, command, time.perf_counter() - start, summary, measured_dir)
