"""From a config to a ready SB3 model: the vectorised env, the policy and its encoder, the replay buffer."""

from __future__ import annotations

import os
from typing import Any

import torch as th
from stable_baselines3 import SAC, HerReplayBuffer
from stable_baselines3.common.env_util import make_vec_env
from stable_baselines3.common.vec_env import DummyVecEnv, SubprocVecEnv, VecEnv

from pixelpush_lib.core.configs import RunConfig, get_config
from pixelpush_lib.env.rendering import load_triton_before_gl
from pixelpush_lib.env.wrappers import make_env
from pixelpush_lib.nets.augment import DrQShift
from pixelpush_lib.nets.encoders import ManipulationExtractor, NatureExtractor, StateVectorExtractor
from pixelpush_lib.nets.eyes import EyesExtractor, EyesObservation, PuckEyes, load_measured_eyes
from pixelpush_lib.nets.routing import CriticEncoderPolicy
from pixelpush_lib.replay.drq_her import DrQHerReplayBuffer
from pixelpush_lib.replay.frame_her import FrameHerReplayBuffer

EPISODE_STEPS = 50  # FetchPush-v4's TimeLimit


def resolve_vec_env(config: RunConfig, cpus: int | None = None) -> str:
    """``"subproc"`` or ``"dummy"`` for the config on a machine with ``cpus`` cores (default: this one's).

    ``"auto"`` renders pixel envs in one process each as soon as there are two envs and two cores: software
    rendering then runs on both cores (``python -m pixelpush_lib.bench vec`` measures the gain). State envs step in
    microseconds, so a process each would cost more in messages than it saves.
    """
    if config.vec_env != "auto":
        return config.vec_env
    if cpus is None:
        cpus = os.cpu_count() or 1
    renders = config.obs_mode in ("pixels", "eyes")
    return "subproc" if renders and config.n_envs >= 2 and cpus >= 2 else "dummy"


def make_config_env(config: RunConfig) -> Any:
    """One env of the config: the pixel env, the state env, or the pixel env read by the config's frozen eyes."""
    if config.obs_mode != "eyes":
        return make_env(config.obs_mode, frame_stack=config.frame_stack, image_size=config.image_size,
                        camera=config.camera, puck_noise_median_cm=config.puck_noise_median_cm)
    eyes = config_eyes(config)
    # One thread per env: with a process per env, more would fight the renderers for two cores.
    th.set_num_threads(1)
    pixels = make_env("pixels", frame_stack=config.frame_stack, image_size=config.image_size, camera=config.camera)
    return EyesObservation(pixels, eyes)


def config_eyes(config: RunConfig) -> PuckEyes:
    """The committed eyes an ``obs_mode="eyes"`` config reads with (hash-checked), fitted to its frame stack."""
    eyes = load_measured_eyes(config.encoder, config.eyes_seed)
    if eyes.spec.frame_stack != config.frame_stack:
        raise ValueError(f"config {config.name!r}: frame_stack={config.frame_stack}, but the {config.encoder} eyes read "
                         f"{eyes.spec.frame_stack} frame(s); set frame_stack={eyes.spec.frame_stack}")
    return eyes


def make_training_env(config: RunConfig, seed: int = 0) -> VecEnv:
    """``config.n_envs`` copies of the config's env (Monitor-wrapped), seeded ``seed, seed+1, ...``."""
    def env_fn() -> Any:
        return make_config_env(config)

    vec_cls = SubprocVecEnv if resolve_vec_env(config) == "subproc" else DummyVecEnv
    return make_vec_env(env_fn, n_envs=config.n_envs, seed=seed, vec_env_cls=vec_cls)


def policy_and_kwargs(config: RunConfig) -> tuple[Any, dict[str, Any]]:
    """SB3 policy (class or name) and ``policy_kwargs`` for the config's encoder and routing."""
    kwargs: dict[str, Any] = {"net_arch": list(config.net_arch)}
    if config.obs_mode == "state":
        if not config.policy_sees_achieved_goal:  # SB3's default extractor would concatenate it
            kwargs["features_extractor_class"] = StateVectorExtractor
        return "MultiInputPolicy", kwargs
    if config.obs_mode == "eyes":  # a vector policy; the extractor keeps achieved_goal out unless the config allows it
        kwargs.update(features_extractor_class=EyesExtractor,
                      features_extractor_kwargs={"policy_sees_achieved_goal": config.policy_sees_achieved_goal})
        return "MultiInputPolicy", kwargs
    if config.encoder == "nature":
        extractor, extractor_kwargs = NatureExtractor, {"cnn_dim": config.cnn_dim}
    else:
        extractor = ManipulationExtractor
        extractor_kwargs = {"channels": config.cnn_channels, "spatial_softmax": config.spatial_softmax}
    extractor_kwargs.update(policy_sees_achieved_goal=config.policy_sees_achieved_goal, precision=config.conv_precision)
    kwargs.update(features_extractor_class=extractor, features_extractor_kwargs=extractor_kwargs, normalize_images=False)
    if config.routing == "critic_encoder":
        return CriticEncoderPolicy, kwargs
    kwargs["share_features_extractor"] = config.routing == "sb3_shared"
    return "MultiInputPolicy", kwargs


def replay_buffer_spec(config: RunConfig) -> tuple[type, dict[str, Any]]:
    """Replay buffer class and kwargs: HER ``future`` relabelling, DrQ shifts at sampling time if asked."""
    kwargs: dict[str, Any] = {"n_sampled_goal": config.her_n_sampled_goal, "goal_selection_strategy": config.her_strategy}
    if config.replay_buffer == "frame_her":
        augment = DrQShift(config.drq_pad) if config.drq else None
        return FrameHerReplayBuffer, {**kwargs, "frame_stack": config.frame_stack, "pixel_augment": augment}
    if config.drq:
        return DrQHerReplayBuffer, {**kwargs, "drq_pad": config.drq_pad}
    return HerReplayBuffer, kwargs


def build_model(config: RunConfig | str, env: VecEnv | None = None, seed: int = 0, device: str = "auto") -> SAC:
    """The SB3 SAC + HER model the config describes (a new env is made if ``env`` is None)."""
    config = get_config(config) if isinstance(config, str) else config
    if config.learning_starts < EPISODE_STEPS * config.n_envs:
        raise ValueError(
            f"learning_starts={config.learning_starts} must be >= {EPISODE_STEPS * config.n_envs} "
            f"({EPISODE_STEPS} steps x n_envs={config.n_envs}): HER samples only finished episodes"
        )
    load_triton_before_gl(strict=True)  # SAC's optimizers import triton: a clear error, not a segfault
    env = env if env is not None else make_training_env(config, seed)
    policy, policy_kwargs = policy_and_kwargs(config)
    buffer_class, buffer_kwargs = replay_buffer_spec(config)
    return SAC(
        policy,
        env,
        learning_rate=config.learning_rate,
        buffer_size=config.buffer_size,
        learning_starts=config.learning_starts,
        batch_size=config.batch_size,
        tau=config.tau,
        gamma=config.gamma,
        train_freq=config.train_freq,
        gradient_steps=config.gradient_steps,
        ent_coef=config.ent_coef if config.ent_coef == "auto" else float(config.ent_coef),
        replay_buffer_class=buffer_class,
        replay_buffer_kwargs=buffer_kwargs,
        policy_kwargs=policy_kwargs,
        seed=seed,
        device=device,
        verbose=0,
    )
