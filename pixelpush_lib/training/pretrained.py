"""Loading a trained SB3 model with an environment of its config, evaluating it, and watching it.

``load_pretrained(name)`` fetches a registered checkpoint (verified by sha256 before SB3 unpickles anything) and
loads it; ``evaluate`` counts successes over full episodes; ``rollout_gif`` writes what the policy saw.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from stable_baselines3 import SAC
from stable_baselines3.common.vec_env import DummyVecEnv, VecEnv

from pixelpush_lib.core.configs import get_config
from pixelpush_lib.core.files import atomic_write
from pixelpush_lib.env.rendering import load_triton_before_gl
from pixelpush_lib.results.registry import DEFAULT_CACHE, REGISTRY, fetch, get_entry
from pixelpush_lib.training.build import make_training_env, policy_and_kwargs
from pixelpush_lib.training.pixel_agent import load_composed


def single_env(config_name: str, overrides: dict[str, Any] | None, seed: int = 0) -> Any:
    """A one-env ``DummyVecEnv`` of the config (evaluation and watching), and the config it was built from."""
    config = get_config(config_name, {**(overrides or {}), "n_envs": 1, "vec_env": "dummy"})
    return make_training_env(config, seed), config


def load_model(path: Path | str, config: str, overrides: dict[str, Any] | None = None, device: str = "auto") -> Any:
    """Load an SB3 ``model.zip`` of ``config`` with a one-env VecEnv (HER needs an env at load time).

    Only call this on a file you trust or verified: SB3 unpickles parts of the zip.
    """
    load_triton_before_gl(strict=True)  # SAC.load builds optimizers, which import triton: an error, not a segfault
    env, run_config = single_env(config, overrides)
    try:
        model = SAC.load(path, env=env, device=device)
    except ValueError as error:  # SB3: "Observation spaces do not match: ..."
        raise ValueError(f"{path} does not fit config {config!r} ({error}); pass the config (and --set overrides) it "
                         "was trained with") from None
    check_model_fits(model, run_config, path)
    model.pixelpush_config = run_config  # evaluate()/rollout_gif() build their envs from it
    return model


def check_model_fits(model: SAC, config: Any, path: Path | str) -> None:
    """Raise ``ValueError`` unless ``model`` was built for ``config``: the same pixel stack shape and the same encoder
    (class and every extractor kwarg but precision). SB3 loads any model whose observation space fits, so a file of
    another config would otherwise be evaluated and registered under this one's name (and a policy that reads
    ``achieved_goal`` could pass for one that does not)."""
    if config.obs_mode == "pixels":
        expected_pixels = (3 * config.frame_stack, config.image_size, config.image_size)
        saved_pixels = model.observation_space["pixels"].shape if "pixels" in model.observation_space.spaces else None
        if saved_pixels != expected_pixels:
            raise ValueError(f"{path} was saved with pixels {saved_pixels}, but config {config.name!r} gives "
                             f"{expected_pixels}; pass the config (and --set overrides) it was trained with")
    wanted = policy_and_kwargs(config)[1]
    saved = model.policy_kwargs
    found = (saved.get("features_extractor_class"),
             {k: v for k, v in saved.get("features_extractor_kwargs", {}).items() if k != "precision"})
    expected = (wanted.get("features_extractor_class"),
                {k: v for k, v in wanted.get("features_extractor_kwargs", {}).items() if k != "precision"})
    if found != expected:
        def name(pair: tuple[Any, dict[str, Any]]) -> str:
            return f"{getattr(pair[0], '__name__', 'SB3 default')}({pair[1]})"
        raise ValueError(f"{path} was saved with encoder {name(found)}, but config {config.name!r} builds "
                         f"{name(expected)}; pass the config (and --set overrides) it was trained with")


# Training seeds its envs with seed + env index, and seed + episodes after a resume (small numbers); evaluating
# from here on keeps the evaluation episodes' goals and puck positions apart from any training episode's.
EVAL_SEED = 1_000_000


def load_pretrained(name: str, registry: Path | str = REGISTRY, cache_dir: Path | str = DEFAULT_CACHE,
                    device: str = "auto") -> Any:
    """Download (or reuse) the registered checkpoint ``name``, verify its sha256, then load it with SB3; a
    ``composed`` one (the state agent on eyes) is a :class:`~pixelpush_lib.training.pixel_agent.StateOnEyesAgent`."""
    entry = get_entry(name, registry)
    path = fetch(entry, cache_dir, registry)
    if entry.trained_by == "composed":
        return load_composed(path, entry.config, entry.overrides,
                             lambda controller: load_pretrained(controller, registry, cache_dir, device), registry,
                             cache_dir)
    return load_model(path, entry.config, entry.overrides, device)


def _env_for(model: Any, env: Any, seed: int) -> Any:
    if env is None:
        config = getattr(model, "pixelpush_config", None)
        if config is None:
            raise ValueError("pass env=...: this model was not loaded with load_model/load_pretrained, "
                             "so its config is unknown")
        env, _ = single_env(config.name, {f: getattr(config, f) for f in ("frame_stack", "image_size", "camera")},
                             seed)
    elif not isinstance(env, VecEnv):
        single = env
        env = DummyVecEnv([lambda: single])
    if env.num_envs != 1:
        raise ValueError(f"evaluate with a single env, not {env.num_envs}")
    env.seed(seed)
    return env


def evaluate(model: Any, n_episodes: int = 20, env: Any = None, seed: int = 0,
             deterministic: bool = True) -> dict[str, Any]:
    """Run ``n_episodes`` full episodes (50 steps each) and count successes (``info["is_success"]`` at the end).

    Returns ``success_rate`` (fraction), ``n_episodes``, ``successes`` (per episode), ``mean_return`` (sparse
    reward, -50..0), ``seed`` and ``deterministic``.
    """
    if isinstance(n_episodes, bool) or not isinstance(n_episodes, int) or n_episodes < 1:
        raise ValueError(f"n_episodes={n_episodes!r} must be an integer >= 1")
    env = _env_for(model, env, seed)
    obs = env.reset()
    successes, returns, ret = [], [], 0.0
    while len(successes) < n_episodes:
        action, _ = model.predict(obs, deterministic=deterministic)
        obs, reward, done, infos = env.step(action)
        ret += float(reward[0])
        if done[0]:
            successes.append(bool(infos[0].get("is_success", False)))
            returns.append(ret)
            ret = 0.0
    return {"success_rate": float(np.mean(successes)), "n_episodes": n_episodes, "successes": successes,
            "mean_return": float(np.mean(returns)), "seed": seed, "deterministic": deterministic}


def _frame(env: Any, obs: dict[str, np.ndarray]) -> np.ndarray:
    frame = env.env_method("render")[0]
    if frame is None:  # no renderer: the newest stacked frame the policy saw (channels last 3)
        frame = np.moveaxis(obs["pixels"][0][-3:], 0, -1)
    return np.asarray(frame, dtype=np.uint8)


def rollout_gif(model: Any, path: Path | str, n_steps: int = 50, env: Any = None, seed: int = 0,
                fps: int = 10, scale: int = 3) -> Path:
    """Write an animated GIF of ``n_steps`` deterministic steps (the frames the policy saw, upscaled ``scale``x).

    Uses Pillow (a matplotlib dependency, so always installed). Written to a temporary file and renamed.
    """
    from PIL import Image

    env = _env_for(model, env, seed)
    obs = env.reset()
    frames = [_frame(env, obs)]
    for _ in range(n_steps):
        action, _ = model.predict(obs, deterministic=True)
        obs, _, _, _ = env.step(action)
        frames.append(_frame(env, obs))
    images = [Image.fromarray(f.repeat(scale, 0).repeat(scale, 1)) for f in frames]
    path = Path(path)
    with atomic_write(path) as handle:
        images[0].save(handle, format="GIF", save_all=True, append_images=images[1:], duration=int(1000 / fps), loop=0)
    return path


