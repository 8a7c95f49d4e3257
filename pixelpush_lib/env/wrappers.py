"""FetchPush-v4 as the policy sees it: stacked 84x84 frames plus robot-only proprioception.

``make_env("pixels")`` returns a Gymnasium env whose Dict observation is

* ``pixels``: uint8 ``(3 * frame_stack, H, W)``, the last ``frame_stack`` RGB frames, oldest first;
* ``proprio``: float32 ``(10,)``, the robot's own state only (gripper position in metres, finger
  opening, gripper linear velocity, finger velocity) and nothing about the puck;
* ``achieved_goal`` / ``desired_goal``: float64 ``(3,)`` in metres, unchanged, because HER needs them. Whether
  the *policy* may read ``achieved_goal`` (the puck's true position) is decided by the encoder
  (``pixelpush_lib.nets.encoders``), never silently.
"""

from __future__ import annotations

from typing import Any, SupportsFloat

# rendering first: it imports mujoco with a clear error when no GL backend works, and
# gymnasium_robotics would otherwise import mujoco with PyOpenGL's bare traceback.
from pixelpush_lib.env.rendering import CAMERAS, CameraPreset, FrameRenderer  # isort: skip

import contextlib
import io

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from pixelpush_lib.env.puck_state import PUCK_POS, with_puck_estimate

# gymnasium_robotics prints a notice about its Adroit hand envs on import (this chapter uses none):
# keep it out of every CLI call and notebook. Import errors still raise.
with contextlib.redirect_stderr(io.StringIO()):
    import gymnasium_robotics

gym.register_envs(gymnasium_robotics)

ENV_ID = "FetchPush-v4"
OBS_MODES = ("pixels", "state")
MIN_IMAGE_SIZE = 32

# Slices of FetchPush's 25-D "observation" vector (gymnasium_robotics fetch_env._get_obs):
# grip_pos 0:3, object_pos 3:6, object_rel_pos 6:9, gripper_state 9:11, object_rot 11:14,
# object_velp 14:17, object_velr 17:20, grip_velp 20:23, gripper_vel 23:25.
PROPRIO_INDICES = np.r_[0:3, 9:11, 20:23, 23:25]
PROPRIO_NAMES = (
    "grip_x", "grip_y", "grip_z",
    "finger_r", "finger_l",
    "grip_vx", "grip_vy", "grip_vz",
    "finger_vr", "finger_vl",
)


class PixelObservation(gym.Wrapper, gym.utils.RecordConstructorArgs):
    """Replaces FetchPush's state vector by stacked rendered frames and robot-only proprioception.

    The stack is filled with copies of the first frame at ``reset`` so it never holds frames of the
    previous episode. Frames are rendered straight from MuJoCo at ``image_size`` (no resize).
    ``render()`` returns the newest frame as ``(H, W, 3)`` uint8, what the policy saw last.
    """

    metadata = {"render_modes": ["rgb_array"], "render_fps": 25}

    def __init__(self, env: gym.Env, frame_stack: int, image_size: int, camera: CameraPreset) -> None:
        gym.utils.RecordConstructorArgs.__init__(self, frame_stack=frame_stack, image_size=image_size, camera=camera)
        gym.Wrapper.__init__(self, env)
        self.frame_stack = frame_stack
        self.image_size = image_size
        self.renderer = FrameRenderer(env.unwrapped.model, image_size, camera)
        goal_space = env.observation_space["desired_goal"]
        self.observation_space = spaces.Dict(
            {
                "pixels": spaces.Box(0, 255, (3 * frame_stack, image_size, image_size), np.uint8),
                "proprio": spaces.Box(-np.inf, np.inf, (len(PROPRIO_INDICES),), np.float32),
                "achieved_goal": env.observation_space["achieved_goal"],
                "desired_goal": goal_space,
            }
        )
        self._frames: list[np.ndarray] = []

    def _observation(self, obs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        return {
            "pixels": np.concatenate(self._frames, axis=0),
            "proprio": obs["observation"][PROPRIO_INDICES].astype(np.float32),
            "achieved_goal": obs["achieved_goal"],
            "desired_goal": obs["desired_goal"],
        }

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        obs, info = self.env.reset(seed=seed, options=options)
        first = self.renderer.rgb(self.env.unwrapped.data)
        self._frames = [first] * self.frame_stack
        return self._observation(obs), info

    def step(self, action):
        obs, reward, terminated, truncated, info = self.env.step(action)
        self._frames = self._frames[1:] + [self.renderer.rgb(self.env.unwrapped.data)]
        return self._observation(obs), float(reward), terminated, truncated, info

    def render(self) -> np.ndarray | None:
        return self._frames[-1].transpose(1, 2, 0).copy() if self._frames else None

    def compute_reward(self, achieved_goal, desired_goal, info) -> SupportsFloat | np.ndarray:
        """FetchPush's sparse reward: 0 within 5 cm of the goal, else -1 (batched over leading axes)."""
        return self.env.unwrapped.compute_reward(achieved_goal, desired_goal, info)

    def close(self) -> None:
        if self.renderer is not None:
            self.renderer.close()
            self.renderer = None
        super().close()


class GoalEnvReward(gym.Wrapper, gym.utils.RecordConstructorArgs):
    """Forwards ``compute_reward`` (Gymnasium 1.x wrappers do not), for the state baseline."""

    # "human" needs a display; headless machines render offscreen only.
    metadata = {"render_modes": ["rgb_array"], "render_fps": 25}

    def __init__(self, env: gym.Env) -> None:
        gym.utils.RecordConstructorArgs.__init__(self)
        gym.Wrapper.__init__(self, env)

    def step(self, action):
        # FetchPush returns a numpy float32 reward; SB3's checker (rightly) wants a Python float.
        obs, reward, terminated, truncated, info = self.env.step(action)
        return obs, float(reward), terminated, truncated, info

    def compute_reward(self, achieved_goal, desired_goal, info):
        return self.env.unwrapped.compute_reward(achieved_goal, desired_goal, info)


class NoisyPuckObservation(gym.Wrapper, gym.utils.RecordConstructorArgs):
    """FetchPush's state observation with the puck's position read as imprecisely as eyes read it.

    Each step the puck's table position ``(x, y)`` in ``observation`` is the true one plus Gaussian noise drawn
    afresh, independent per axis, scaled so that the reading's median distance from the truth is
    ``noise_median_cm``: the unit the eyes' errors are measured in (``data/measured/eyes/errors.csv``). The puck's
    velocity is the change of those readings per step (zero on the first step of an episode), as eyes that see one
    frame at a time would estimate it; its height is the table's, and its rotation and angular velocity, which eyes
    do not report, are zero. ``achieved_goal`` stays true, for HER's rewards only: a policy trained on this env must
    not read it (``policy_sees_achieved_goal=False``), or the noise would hide nothing.

    The noise has its own generator, seeded by ``reset(seed=...)``, so the env's goals and puck placements are the
    same with or without it.
    """

    metadata = {"render_modes": ["rgb_array"], "render_fps": 25}

    def __init__(self, env: gym.Env, noise_median_cm: float) -> None:
        if not noise_median_cm > 0:
            raise ValueError(f"noise_median_cm={noise_median_cm!r} is not valid; allowed values: > 0 (centimetres)")
        gym.utils.RecordConstructorArgs.__init__(self, noise_median_cm=noise_median_cm)
        gym.Wrapper.__init__(self, env)
        # The median of |N(0, s^2 I_2)| is s * sqrt(2 ln 2): the per-axis scale that gives the asked median distance.
        self.noise_std_m = noise_median_cm / 100.0 / np.sqrt(2.0 * np.log(2.0))
        self.table_z = float(env.unwrapped.height_offset)  # the puck's resting height: a constant of the scene
        self._noise = np.random.default_rng()
        self._last_xy: np.ndarray | None = None

    def _observation(self, obs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        xy = obs["observation"][PUCK_POS][:2] + self._noise.normal(0.0, self.noise_std_m, 2)
        velocity = np.zeros(2) if self._last_xy is None else xy - self._last_xy
        self._last_xy = xy
        noisy = with_puck_estimate(obs, xy, velocity, self.table_z)
        noisy["achieved_goal"] = np.asarray(obs["achieved_goal"]).copy()  # the truth, for HER's rewards only
        return noisy

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        obs, info = self.env.reset(seed=seed, options=options)
        if seed is not None:
            self._noise = np.random.default_rng([seed, 1])  # apart from the env's own stream of the same seed
        self._last_xy = None
        return self._observation(obs), info

    def step(self, action):
        obs, reward, terminated, truncated, info = self.env.step(action)
        return self._observation(obs), float(reward), terminated, truncated, info

    def compute_reward(self, achieved_goal, desired_goal, info):
        return self.env.unwrapped.compute_reward(achieved_goal, desired_goal, info)


def _check_choice(name: str, value: Any, allowed: tuple[str, ...] | list[str]) -> None:
    if value not in allowed:
        raise ValueError(f"{name}={value!r} is not valid; allowed values: {', '.join(map(repr, allowed))}")


def make_env(
    obs_mode: str = "pixels",
    *,
    frame_stack: int = 4,
    image_size: int = 84,
    camera: str | CameraPreset = "table",
    puck_noise_median_cm: float = 0.0,
    seed: int | None = None,
) -> gym.Env:
    """Build FetchPush-v4 (50-step episodes) with the observation the chapter's policy sees.

    Args:
        obs_mode: ``"pixels"`` (stacked frames + 10-D proprio + goals) or ``"state"`` (the 25-D
            state baseline: FetchPush's own Dict observation).
        frame_stack: frames per observation, >= 1 (pixels only).
        image_size: square frame side in pixels, >= 32 (pixels only).
        camera: a name in ``rendering.CAMERAS`` or a ``CameraPreset`` (pixels only).
        puck_noise_median_cm: > 0 reads the puck's position with noise of this median error in centimetres
            (:class:`NoisyPuckObservation`; state only).
        seed: if given, the env is reset once with it and its action space seeded.
    """
    _check_choice("obs_mode", obs_mode, OBS_MODES)
    if puck_noise_median_cm and obs_mode != "state":
        raise ValueError(f"puck_noise_median_cm={puck_noise_median_cm!r} applies to obs_mode='state' only; the pixel "
                         "env has no puck position to blur")
    if obs_mode == "pixels":
        if isinstance(frame_stack, bool) or not isinstance(frame_stack, int) or frame_stack < 1:
            raise ValueError(f"frame_stack={frame_stack!r} is not valid; allowed values: integers >= 1")
        if isinstance(image_size, bool) or not isinstance(image_size, int) or image_size < MIN_IMAGE_SIZE:
            raise ValueError(
                f"image_size={image_size!r} is not valid; allowed values: integers >= {MIN_IMAGE_SIZE}"
            )
        if not isinstance(camera, CameraPreset):
            _check_choice("camera", camera, tuple(CAMERAS))
            camera = CAMERAS[camera]
        env: gym.Env = PixelObservation(gym.make(ENV_ID), frame_stack, image_size, camera)
    else:
        env = GoalEnvReward(gym.make(ENV_ID))
        if puck_noise_median_cm:
            env = NoisyPuckObservation(env, puck_noise_median_cm)
    if seed is not None:
        env.reset(seed=seed)
        env.action_space.seed(seed)
    return env
