"""Watching a trained agent: roll out full episodes and keep what a reader sees beside what a pixel policy sees.

Each step keeps two frames from the table camera: a large one for the reader (``reader_size`` px, the red goal
marker drawn) and the ``policy_size`` px frame the pixel agents get (no goal marker), upscaled to the same
height so both can be shown side by side. Works for state and pixel models alike: the frames are rendered from
the simulator, not taken from the observation.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageDraw

from pixelpush_lib.core.files import atomic_write
from pixelpush_lib.env.rendering import CAMERAS, FrameRenderer
from pixelpush_lib.training.pretrained import single_env


@dataclass
class Rollout:
    """Frames of ``n_episodes`` deterministic episodes. ``frames``: uint8 ``(T, H + 18, 2H, 3)``, a caption bar
    above the reader view (left) and the policy view (right); ``successes``: one bool per episode (``info["is_success"]`` at its last step)."""

    frames: np.ndarray
    successes: list[bool] = field(default_factory=list)
    seed: int = 0


def _upscale(frame: np.ndarray, size: int) -> np.ndarray:
    return np.asarray(Image.fromarray(frame).resize((size, size), Image.NEAREST))


def watch(model: Any, n_episodes: int = 5, seed: int = 10_000, reader_size: int = 256, policy_size: int = 84,
          every: int = 2) -> Rollout:
    """Roll out ``n_episodes`` deterministic episodes of ``model`` (loaded with ``load_model``/``load_pretrained``)
    on env seeds starting at ``seed``, keeping every ``every``-th step's frames (and each episode's first and last).
    """
    if isinstance(n_episodes, bool) or not isinstance(n_episodes, int) or n_episodes < 1:
        raise ValueError(f"n_episodes={n_episodes!r} must be an integer >= 1")
    config = getattr(model, "pixelpush_config", None)
    if config is None:
        raise ValueError("watch() needs a model loaded with load_model or load_pretrained (its config is unknown)")
    env, _ = single_env(config.name, {f: getattr(config, f) for f in ("frame_stack", "image_size", "camera")}, seed)
    sim = env.envs[0].unwrapped
    reader = FrameRenderer(sim.model, reader_size, CAMERAS[config.camera], show_goal=True)
    policy = FrameRenderer(sim.model, policy_size, CAMERAS[config.camera])
    frames, successes = [], []
    try:
        env.seed(seed)
        obs = env.reset()
        step = 0
        while len(successes) < n_episodes:
            if step % every == 0:
                frames.append(_pair(reader, policy, sim, reader_size, len(successes) + 1))
            action, _ = model.predict(obs, deterministic=True)
            obs, _, done, infos = env.step(action)
            step += 1
            if done[0]:
                successes.append(bool(infos[0].get("is_success", False)))
                step = 0
    finally:
        reader.close()
        policy.close()
        env.close()
    return Rollout(np.stack(frames), successes, seed)


HEADER_PX = 18


def _pair(reader: FrameRenderer, policy: FrameRenderer, sim: Any, size: int, episode: int) -> np.ndarray:
    # FetchPush moves its goal marker only when asked to render; do it here so the reader sees this episode's goal.
    sim._render_callback()
    left = reader.rgb(sim.data).transpose(1, 2, 0)
    right = _upscale(policy.rgb(sim.data).transpose(1, 2, 0), size)
    image = Image.new("RGB", (2 * size, size + HEADER_PX), (0, 0, 0))
    image.paste(Image.fromarray(np.concatenate([left, right], axis=1)), (0, HEADER_PX))
    draw = ImageDraw.Draw(image)
    draw.text((6, 3), f"episode {episode}: the goal is the red ball", fill=(255, 255, 255))
    draw.text((size + 6, 3), "what a pixel policy sees (84x84, no goal)", fill=(255, 255, 255))
    return np.asarray(image)


def gif_bytes(rollout: Rollout, fps: int = 12) -> bytes:
    """The rollout as an animated GIF (Pillow only: no ffmpeg needed), looping."""
    images = [Image.fromarray(f) for f in rollout.frames]
    buffer = io.BytesIO()
    images[0].save(buffer, format="GIF", save_all=True, append_images=images[1:], duration=int(1000 / fps), loop=0,
                   optimize=True)
    return buffer.getvalue()


def write_gif(rollout: Rollout, path: Path | str, fps: int = 12) -> Path:
    path = Path(path)
    with atomic_write(path) as handle:
        handle.write(gif_bytes(rollout, fps))
    return path
