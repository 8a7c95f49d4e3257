"""Env-steps/s of the state baseline's training: this project's pipeline against stock SB3, same config.

Both train SAC + HER with the ``state`` config's hyperparameters (8 envs, batch 256, one update per vectorised
step, 1M buffer, ``future`` goals, k = 4): stock SB3 is ``SAC("MultiInputPolicy", make_vec_env("FetchPush-v4"),
replay_buffer_class=HerReplayBuffer)`` with torch's default thread count; ours is ``build_model(get_config(
"state"))`` run the way ``pixelpush train`` runs it (:func:`pixelpush_lib.training.runs.torch_threads_for`).
Each repeat first fills ``learning_starts`` steps, then times ``steps`` more; repeats alternate, so drift in
machine load hits both alike.
"""

from __future__ import annotations

import statistics
import time

import gymnasium as gym
import torch as th
from stable_baselines3 import SAC, HerReplayBuffer
from stable_baselines3.common.env_util import make_vec_env

from pixelpush_lib.core.configs import get_config
from pixelpush_lib.env.wrappers import ENV_ID
from pixelpush_lib.training.build import build_model
from pixelpush_lib.training.runs import torch_threads_for


def _stock(seed: int) -> SAC:
    import gymnasium_robotics

    gym.register_envs(gymnasium_robotics)
    c = get_config("state")
    env = make_vec_env(ENV_ID, n_envs=c.n_envs, seed=seed)
    return SAC("MultiInputPolicy", env, learning_rate=c.learning_rate, buffer_size=c.buffer_size,
               learning_starts=c.learning_starts, batch_size=c.batch_size, tau=c.tau, gamma=c.gamma,
               train_freq=c.train_freq, gradient_steps=c.gradient_steps, ent_coef=c.ent_coef,
               replay_buffer_class=HerReplayBuffer,
               replay_buffer_kwargs={"n_sampled_goal": c.her_n_sampled_goal, "goal_selection_strategy": c.her_strategy},
               policy_kwargs={"net_arch": list(c.net_arch)}, seed=seed, device="cpu", verbose=0)


def _steps_per_second(make, threads: int, steps: int, seed: int) -> float:
    th.set_num_threads(threads)
    model = make(seed)
    model.learn(model.learning_starts + 8 * get_config("state").n_envs)
    start = time.perf_counter()
    model.learn(steps, reset_num_timesteps=False)
    elapsed = time.perf_counter() - start
    model.env.close()
    return steps / elapsed


def bench_train_state(steps: int = 4000, repeats: int = 3) -> float:
    default_threads = th.get_num_threads()
    ours_threads = torch_threads_for(get_config("state"), "cpu")
    ours, stock = [], []
    for r in range(repeats):
        stock.append(_steps_per_second(_stock, default_threads, steps, seed=r))
        ours.append(_steps_per_second(lambda s: build_model(get_config("state"), seed=s, device="cpu"),
                                      ours_threads, steps, seed=r))
        print(f"repeat {r}: stock SB3 {stock[-1]:.0f} env-steps/s, pixelpush {ours[-1]:.0f} env-steps/s", flush=True)
    th.set_num_threads(default_threads)
    ours_med, stock_med = statistics.median(ours), statistics.median(stock)
    print(f"stock SB3 SAC + HerReplayBuffer ({default_threads} torch threads): median {stock_med:.0f} env-steps/s "
          f"over {repeats} x {steps} steps")
    print(f"pixelpush state pipeline ({ours_threads} torch thread(s)): median {ours_med:.0f} env-steps/s")
    return ours_med / stock_med
