"""Env-steps/s of a pixel config's whole training loop: this project's pipeline against stock SB3, same config.

Measured by ``python -m pixelpush_lib.bench train`` (printed, with a ratio) and by the ``throughput`` experiment
(on a GPU, written to ``data/measured``).

Stock SB3 is what a reader would write first: ``SAC("MultiInputPolicy", DummyVecEnv(pixel envs),
replay_buffer_class=HerReplayBuffer)`` with SB3's default extractors (a NatureCNN each for actor and critic) and its
buffer, which stores every stacked observation twice. Ours is ``build_model`` for the config (its encoder, routing,
frame-once buffer and ``vec_env``). Both get the config's hyperparameters with the same overrides (a small buffer
and batch keep a CPU run short), fill ``learning_starts`` steps, then time ``steps`` more; repeats alternate.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from typing import Any

import torch as th
from stable_baselines3 import SAC, HerReplayBuffer
from stable_baselines3.common.env_util import make_vec_env
from stable_baselines3.common.vec_env import DummyVecEnv

from pixelpush_lib.core.configs import RunConfig, get_config
from pixelpush_lib.env.wrappers import make_env
from pixelpush_lib.training.build import build_model, resolve_vec_env


def _stock(config: RunConfig, seed: int, device: str) -> SAC:
    def env_fn() -> Any:
        return make_env(config.obs_mode, frame_stack=config.frame_stack, image_size=config.image_size,
                        camera=config.camera)

    env = make_vec_env(env_fn, n_envs=config.n_envs, seed=seed, vec_env_cls=DummyVecEnv)
    return SAC("MultiInputPolicy", env, learning_rate=config.learning_rate, buffer_size=config.buffer_size,
               learning_starts=config.learning_starts, batch_size=config.batch_size, tau=config.tau,
               gamma=config.gamma, train_freq=config.train_freq, gradient_steps=config.gradient_steps,
               ent_coef=config.ent_coef, replay_buffer_class=HerReplayBuffer,
               replay_buffer_kwargs={"n_sampled_goal": config.her_n_sampled_goal,
                                     "goal_selection_strategy": config.her_strategy},
               policy_kwargs={"net_arch": list(config.net_arch)}, seed=seed, device=device, verbose=0)


PHASES = ("envs", "updates")  # the vectorised env's step (render included) and SAC's gradient updates


class PhaseTimer:
    """Wall seconds spent inside callables wrapped with :meth:`wrap`, summed per phase."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = dict.fromkeys(PHASES, 0.0)

    def wrap(self, phase: str, function: Callable[..., Any]) -> Callable[..., Any]:
        def timed(*args: Any, **kwargs: Any) -> Any:
            start = time.perf_counter()
            try:
                return function(*args, **kwargs)
            finally:
                self.seconds[phase] += time.perf_counter() - start

        return timed


def _steps_per_second(model: SAC, steps: int) -> tuple[float, dict[str, float]]:
    """Env-steps/s over ``steps`` timed steps, and the share of that time spent in each of :data:`PHASES`."""
    model.learn(model.learning_starts + model.n_envs)  # fill the buffer first: both then time training steps
    timer = PhaseTimer()
    model.env.step = timer.wrap("envs", model.env.step)
    model.train = timer.wrap("updates", model.train)  # on CUDA its loss.item() calls wait for the GPU
    start = time.perf_counter()
    model.learn(steps, reset_num_timesteps=False)
    elapsed = time.perf_counter() - start
    model.env.close()
    return steps / elapsed, {phase: seconds / elapsed for phase, seconds in timer.seconds.items()}


def describe_shares(shares: dict[str, float]) -> str:
    """``"envs 27%, updates 55%, the rest 18% of the time"``; the rest is acting, storing and SB3's own loop."""
    rest = 1 - sum(shares.values())
    return ", ".join(f"{phase} {share:.0%}" for phase, share in shares.items()) + f", the rest {rest:.0%} of the time"


def _median_shares(shares: list[dict[str, float]]) -> dict[str, float]:
    return {phase: statistics.median(share[phase] for share in shares) for phase in PHASES}


def measure_train_loop(config_name: str = "step2", steps: int = 400, repeats: int = 3, device: str = "cpu",
                       batch_size: int = 32, buffer_size: int = 20_000, conv_precision: str = "fp32",
                       learning_starts: int | None = None) -> dict[str, Any]:
    """Median env-steps/s of ours and of stock SB3 (each repeat printed), with what was run and where the time went
    (``*_time_shares``: the median share of the timed wall time spent in each of :data:`PHASES`).

    ``conv_precision`` is our pipeline's (``RunConfig.conv_precision``); stock SB3 always runs in float32.
    ``learning_starts`` (default: the config's) are the steps collected before the timed ones.
    """
    sizes = {"batch_size": batch_size, "buffer_size": buffer_size, "conv_precision": conv_precision}
    if learning_starts is not None:
        sizes["learning_starts"] = learning_starts
    config = get_config(config_name, sizes)
    ours, stock, ours_shares, stock_shares = [], [], [], []
    for r in range(repeats):
        for speeds, shares, model in ((stock, stock_shares, _stock(config, r, device)),
                                      (ours, ours_shares, build_model(config, seed=r, device=device))):
            speed, share = _steps_per_second(model, steps)
            speeds.append(speed)
            shares.append(share)
        print(f"repeat {r}: stock SB3 {stock[-1]:.1f} env-steps/s, pixelpush {ours[-1]:.1f} env-steps/s", flush=True)
    gpu = th.cuda.get_device_name(th.device(device)) if th.device(device).type == "cuda" else None
    return {"config": config_name, "device": device, "gpu": gpu, "torch_threads": th.get_num_threads(),
            "batch_size": batch_size, "buffer_size": buffer_size, "steps": steps, "repeats": repeats,
            "learning_starts": config.learning_starts, "stock_steps_per_s": statistics.median(stock),
            "ours_steps_per_s": statistics.median(ours), "pipeline": f"{config.encoder}, {config.routing}, "
            f"{config.replay_buffer}, {resolve_vec_env(config)}, {config.conv_precision} convs",
            "stock_time_shares": _median_shares(stock_shares), "ours_time_shares": _median_shares(ours_shares)}
