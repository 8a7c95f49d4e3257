"""``FrameHerReplayBuffer``: SB3's HER replay buffer for stacked pixel observations, storing each frame once.

Storage: a per-env ring of frames ``(n_envs, frame_capacity, C, H, W)`` and, per transition, the frame numbers
of its observation's newest frame and of its episode's reset frame (a frame number counts the frames written to
that env; ``number % frame_capacity`` is its slot). Sampling rebuilds each ``(C * k, H, W)`` stack from a
``k + 1`` frame window, padded with the reset frame as ``env.wrappers.PixelObservation`` pads. Everything else is
SB3's ``HerReplayBuffer``, unchanged. The design and its eviction rule: ``book/design_notes.md``; saving and
loading: :mod:`pixelpush_lib.replay.persistence`.
"""

from __future__ import annotations

import copy
import math
import warnings
from typing import Any

import numpy as np
import torch as th
from gymnasium import spaces
from stable_baselines3.common.type_aliases import DictReplayBufferSamples
from stable_baselines3.common.vec_env import VecEnv, VecNormalize
from stable_baselines3.her.goal_selection_strategy import GoalSelectionStrategy
from stable_baselines3.her.her_replay_buffer import HerReplayBuffer

from pixelpush_lib.nets.augment import PixelAugment, augment_pixels
from pixelpush_lib.replay.frame_ring import device_ring, frame_device_for, to_host
from pixelpush_lib.replay.persistence import FramePersistence

try:
    import psutil
except ImportError:  # optional, as in SB3: only used for the out-of-memory warning
    psutil = None


class FrameHerReplayBuffer(FramePersistence, HerReplayBuffer):
    """SB3 ``HerReplayBuffer`` that stores each pixel frame once and rebuilds frame stacks when sampling.

    Drop-in for SAC: ``SAC("MultiInputPolicy", env, replay_buffer_class=FrameHerReplayBuffer,
    replay_buffer_kwargs=dict(n_sampled_goal=4, goal_selection_strategy="future"))``.

    SB3 arguments (``buffer_size`` ... ``copy_info_dict``) mean what they mean for ``HerReplayBuffer``.
    Extra keyword arguments:

    :param frame_stack: ``k``, frames per observation; ``observation_space[pixel_key]`` must be uint8
        ``(C * k, H, W)``, the last ``k`` frames oldest first. ``None``: read the env's ``frame_stack``
        attribute (``wrappers.PixelObservation`` has one).
    :param pixel_key: the stacked-pixels key of the Dict observation.
    :param min_episode_length: sizes the frame ring (see the module docstring). Shorter episodes
        still work, but the oldest ones may be evicted earlier than SB3 would evict them.
    :param pixel_augment: optional callable applied at ``sample()`` time, separately to
        ``observations[pixel_key]`` and ``next_observations[pixel_key]`` (uint8 tensors
        ``(batch, C * k, H, W)`` on ``device``); it must return the same shape (DrQ's random shift).
        It is pickled with the buffer, so use a module-level function or class, not a lambda, if you
        use SB3's ``save_replay_buffer``.
    :param frame_device: where the frame ring lives. ``"auto"`` (default): on the buffer's ``device`` when that is
        CUDA, so stacks are gathered (and DrQ-shifted) there and only indices and small vectors cross the bus;
        otherwise a NumPy array in host memory. ``None``: always host memory. A device (``"cpu"``, ``"cuda:0"``):
        a torch uint8 tensor there (``"cpu"`` runs the device code path without a GPU). Samples are the same
        bytes either way, and ``save_state`` files load into either.
    :param validate_frames: check on every ``add`` that incoming stacks agree with the stored frames
        (catches a wrong ``frame_stack`` or a wrapper that pads differently); ~50 us per env per step at 4x84x84.

    With ``copy_info_dict=True`` the stored infos omit ``terminal_observation`` (a pixel copy the
    buffer already holds); everything else in them reaches ``compute_reward`` as in SB3.
    """

    def __init__(
        self,
        buffer_size: int,
        observation_space: spaces.Dict,
        action_space: spaces.Space,
        env: VecEnv,
        device: th.device | str = "auto",
        n_envs: int = 1,
        optimize_memory_usage: bool = False,
        handle_timeout_termination: bool = True,
        n_sampled_goal: int = 4,
        goal_selection_strategy: GoalSelectionStrategy | str = "future",
        copy_info_dict: bool = False,
        *,
        frame_stack: int | None = None,
        pixel_key: str = "pixels",
        min_episode_length: int = 50,
        pixel_augment: PixelAugment | None = None,
        frame_device: th.device | str | None = "auto",
        validate_frames: bool = True,
    ) -> None:
        if frame_stack is None:
            frame_stack = _env_frame_stack(env)
        self._check_pixel_space(observation_space, pixel_key, frame_stack)
        # SB3 allocates obs/next_obs for the vector keys only; pixels live in the frame ring.
        vector_space = spaces.Dict({k: s for k, s in observation_space.spaces.items() if k != pixel_key})
        super().__init__(
            buffer_size,
            vector_space,
            action_space,
            env,
            device=device,
            n_envs=n_envs,
            optimize_memory_usage=optimize_memory_usage,
            handle_timeout_termination=handle_timeout_termination,
            n_sampled_goal=n_sampled_goal,
            goal_selection_strategy=goal_selection_strategy,
            copy_info_dict=copy_info_dict,
        )
        self.observation_space = observation_space
        self.pixel_key = pixel_key
        self.frame_stack = frame_stack
        stack_channels, height, width = observation_space[pixel_key].shape
        self.frame_shape = (stack_channels // frame_stack, height, width)
        self.min_episode_length = max(int(min_episode_length), 1)
        self.frame_capacity = self.buffer_size + math.ceil(self.buffer_size / self.min_episode_length) + 2
        self.pixel_augment = pixel_augment
        self.validate_frames = validate_frames

        ring_shape = (self.n_envs, self.frame_capacity, *self.frame_shape)
        self.frame_device = frame_device_for(frame_device, self.device)
        if self.frame_device is None:
            self.frames: np.ndarray | th.Tensor = np.zeros(ring_shape, dtype=np.uint8)
        else:
            self.frames = device_ring(ring_shape, self.frame_device)
        # frame_owner[e, slot]: the transition slot whose add() wrote that frame (for eviction).
        self.frame_owner = np.zeros((self.n_envs, self.frame_capacity), dtype=np.int64)
        self.obs_frame = np.zeros((self.buffer_size, self.n_envs), dtype=np.int64)
        self.ep_frame_start = np.zeros((self.buffer_size, self.n_envs), dtype=np.int64)
        self._frames_written = np.zeros(self.n_envs, dtype=np.int64)
        self._cur_ep_frame_start = np.zeros(self.n_envs, dtype=np.int64)
        # True until the first add() of each env's current episode has stored its reset frame.
        self._episode_fresh = np.ones(self.n_envs, dtype=bool)
        if self.frame_device is None and psutil is not None and self.frames.nbytes > psutil.virtual_memory().available:
            warnings.warn(
                f"the replay buffer's frames need {self.frames.nbytes / 1e9:.1f} GB, more than the "
                f"{psutil.virtual_memory().available / 1e9:.1f} GB available",
                stacklevel=2,
            )

    def reset(self) -> None:
        """Empty the buffer (SB3's ``reset`` only rewinds ``pos``; this also forgets episodes)."""
        super().reset()
        self._clear()

    @staticmethod
    def _check_pixel_space(observation_space: spaces.Space, pixel_key: str, frame_stack: int) -> None:
        if not isinstance(observation_space, spaces.Dict) or pixel_key not in observation_space.spaces:
            raise ValueError(f"FrameHerReplayBuffer needs a Dict observation space with a {pixel_key!r} key")
        space = observation_space[pixel_key]
        if space.dtype != np.uint8 or len(space.shape) != 3:
            raise ValueError(f"observation_space[{pixel_key!r}] must be uint8 (C * k, H, W), got {space}")
        if isinstance(frame_stack, bool) or not isinstance(frame_stack, int) or frame_stack < 1:
            raise ValueError(f"frame_stack={frame_stack!r} is not valid; allowed values: integers >= 1")
        if space.shape[0] % frame_stack:
            raise ValueError(
                f"observation_space[{pixel_key!r}] has {space.shape[0]} channels, not a multiple of "
                f"frame_stack={frame_stack}; pass the frame_stack the env was built with"
            )

    # ------------------------------------------------------------------ storing

    def add(  # type: ignore[override]
        self,
        obs: dict[str, np.ndarray],
        next_obs: dict[str, np.ndarray],
        action: np.ndarray,
        reward: np.ndarray,
        done: np.ndarray,
        infos: list[dict[str, Any]],
    ) -> None:
        """Store one step of ``n_envs`` transitions; pixels are ``(n_envs, C * k, H, W)`` uint8."""
        pixels = np.asarray(obs[self.pixel_key])
        next_pixels = np.asarray(next_obs[self.pixel_key])
        if self.validate_frames:  # all envs first, so a refused add leaves the buffer untouched
            for env_idx in range(self.n_envs):
                self._check_stacks(env_idx, pixels[env_idx], next_pixels[env_idx])
        for env_idx in range(self.n_envs):
            self._add_frames(env_idx, pixels[env_idx], next_pixels[env_idx])
        if self.copy_info_dict:
            # The VecEnv's terminal observation is already stored (as next_obs): keep no pixel copy of it.
            infos = [{k: v for k, v in info.items() if k != "terminal_observation"} for info in infos]
        # Frames are written before SB3's add, which may invalidate the episode at self.pos again (harmless).
        super().add(self._without_pixels(obs), self._without_pixels(next_obs), action, reward, done, infos)
        # After a done, the env's next add starts a new episode (the VecEnv has already reset it).
        self._episode_fresh[:] = np.asarray(done, dtype=bool).reshape(self.n_envs)

    def _without_pixels(self, obs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        return {key: value for key, value in obs.items() if key != self.pixel_key}

    def _add_frames(self, env_idx: int, stack: np.ndarray, next_stack: np.ndarray) -> None:
        """Write the new frame(s) of one env's transition at ``self.pos`` and record its frame numbers."""
        c = self.frame_shape[0]
        if self._episode_fresh[env_idx]:
            self._cur_ep_frame_start[env_idx] = self._write_frame(env_idx, stack[-c:])
            self._episode_fresh[env_idx] = False
        obs_frame = self._frames_written[env_idx] - 1
        self._write_frame(env_idx, next_stack[-c:])
        self.obs_frame[self.pos, env_idx] = obs_frame
        self.ep_frame_start[self.pos, env_idx] = self._cur_ep_frame_start[env_idx]

    def _write_frame(self, env_idx: int, frame: np.ndarray) -> int:
        """Append ``frame`` (C, H, W) to the env's ring, evicting the oldest; returns its frame number."""
        number = int(self._frames_written[env_idx])
        slot = number % self.frame_capacity
        if number >= self.frame_capacity:
            self._evict(env_idx, number - self.frame_capacity, slot)
        self.frames[env_idx, slot] = frame if self.frame_device is None else th.as_tensor(frame)
        self.frame_owner[env_idx, slot] = self.pos
        self._frames_written[env_idx] = number + 1
        return number

    def _evict(self, env_idx: int, old_number: int, slot: int) -> None:
        """Frame ``old_number`` is about to be overwritten: no sampleable transition may still need it."""
        owner = self.frame_owner[env_idx, slot]
        # The owner slot may since hold a newer transition; then SB3 already invalidated the old episode.
        if old_number - self.obs_frame[owner, env_idx] not in (0, 1):
            return
        if self.ep_length[owner, env_idx] > 0:
            start, length = self.ep_start[owner, env_idx], self.ep_length[owner, env_idx]
            self.ep_length[(start + np.arange(length)) % self.buffer_size, env_idx] = 0
        elif (
            not self._episode_fresh[env_idx]
            and self.ep_frame_start[owner, env_idx] == self._cur_ep_frame_start[env_idx]
        ):
            raise RuntimeError(
                f"env {env_idx}: the episode in progress is longer than the buffer "
                f"({self.buffer_size} transitions per env); use a larger buffer_size"
            )

    def _check_stacks(self, env_idx: int, stack: np.ndarray, next_stack: np.ndarray) -> None:
        """Refuse stacks that the frame ring would not reproduce (wrong frame_stack, other padding)."""
        if self._episode_fresh[env_idx]:
            self._check_reset_stack(env_idx, stack)
        else:
            self._check_continuing_stack(env_idx, stack)
        c = self.frame_shape[0]
        if self.frame_stack > 1 and not np.array_equal(next_stack[:-c], stack[c:]):
            raise ValueError(
                f"env {env_idx}: next_obs[{self.pixel_key!r}] is not obs shifted by one frame; the buffer "
                f"expects a {self.frame_stack}-frame stack, oldest first (wrappers.PixelObservation)"
            )

    def _check_reset_stack(self, env_idx: int, stack: np.ndarray) -> None:
        frames = stack.reshape(self.frame_stack, *self.frame_shape)
        if not (frames == frames[-1]).all():
            raise ValueError(
                f"env {env_idx}: the first obs of an episode must be {self.frame_stack} copies of the reset "
                "frame (wrappers.PixelObservation pads so); check frame_stack, or call "
                "truncate_last_trajectory() after loading a buffer when the env was reset"
            )

    def _check_continuing_stack(self, env_idx: int, stack: np.ndarray) -> None:
        obs_frame = self._frames_written[env_idx : env_idx + 1] - 1
        step = obs_frame - self._cur_ep_frame_start[env_idx : env_idx + 1]
        rebuilt, _ = self._stacks(np.array([env_idx]), obs_frame, step)
        if not np.array_equal(to_host(rebuilt[0]), stack):
            raise ValueError(
                f"env {env_idx}: obs[{self.pixel_key!r}] does not continue the episode stored so far. "
                "Transitions must be added in order per env (as SAC does); after loading a buffer whose "
                "last episode was cut off, call truncate_last_trajectory()"
            )

    def truncate_last_trajectory(self) -> None:
        """SB3's truncation, plus: the next ``add`` of each truncated env starts a new episode."""
        unfinished = np.flatnonzero(self._current_ep_start != self.pos)
        super().truncate_last_trajectory()
        self._episode_fresh[unfinished] = True

    # ----------------------------------------------------------------- sampling

    def _stacks(
        self, env_indices: np.ndarray, obs_frame: np.ndarray, step: np.ndarray
    ) -> tuple[np.ndarray | th.Tensor, np.ndarray | th.Tensor]:
        """Rebuild obs and next-obs stacks, each ``(N, C * k, H, W)`` uint8 (views of one gather), as NumPy
        arrays, or as tensors on ``frame_device`` when the ring lives there (only the indices are sent).

        ``step`` is the transition's index in its episode: frames before the episode's reset frame are
        replaced by the reset frame, so stacks never reach into the previous episode.
        """
        k = self.frame_stack
        # Window of k + 1 frames: obs = window[:k], next obs = window[1:]; how far back each entry is
        # from the next obs's newest frame, clipped at the reset frame (step + 1 back).
        back = np.minimum(np.arange(k, -1, -1)[None, :], (step + 1)[:, None])
        numbers = (obs_frame + 1)[:, None] - back
        rows, slots = env_indices[:, None], numbers % self.frame_capacity
        if self.frame_device is not None:
            rows, slots = (th.as_tensor(i, device=self.frame_device) for i in (rows, slots))
        window = self.frames[rows, slots]
        n = len(env_indices)
        stack_shape = (n, k * self.frame_shape[0], *self.frame_shape[1:])
        return window[:, :k].reshape(stack_shape), window[:, 1:].reshape(stack_shape)

    def _gather_obs(
        self, batch_indices: np.ndarray, env_indices: np.ndarray
    ) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
        """Obs and next-obs dicts for the given transitions, keys in observation-space order."""
        obs_frame = self.obs_frame[batch_indices, env_indices]
        step = obs_frame - self.ep_frame_start[batch_indices, env_indices]
        pixels, next_pixels = self._stacks(env_indices, obs_frame, step)
        obs, next_obs = {}, {}
        for key in self.observation_space.spaces:
            if key == self.pixel_key:
                obs[key], next_obs[key] = pixels, next_pixels
            else:
                obs[key] = self.observations[key][batch_indices, env_indices, :]
                next_obs[key] = self.next_observations[key][batch_indices, env_indices, :]
        return obs, next_obs

    def _samples(
        self,
        batch_indices: np.ndarray,
        env_indices: np.ndarray,
        obs: dict[str, np.ndarray],
        next_obs: dict[str, np.ndarray],
        rewards: np.ndarray,
        env: VecNormalize | None,
    ) -> DictReplayBufferSamples:
        """Normalise and convert to torch, as SB3's ``_get_real_samples``/``_get_virtual_samples`` do."""
        obs_ = self._normalize_obs(obs, env)
        next_obs_ = self._normalize_obs(next_obs, env)
        assert isinstance(obs_, dict) and isinstance(next_obs_, dict)
        # Only dones that are not timeouts (timeouts stay all False without handle_timeout_termination).
        dones = self.dones[batch_indices, env_indices] * (1 - self.timeouts[batch_indices, env_indices])
        return DictReplayBufferSamples(
            observations={key: self._torch(value) for key, value in obs_.items()},
            actions=self.to_torch(self.actions[batch_indices, env_indices]),
            next_observations={key: self._torch(value) for key, value in next_obs_.items()},
            dones=self.to_torch(dones).reshape(-1, 1),
            rewards=self.to_torch(self._normalize_reward(rewards.reshape(-1, 1), env)),
        )

    def _torch(self, value: np.ndarray | th.Tensor) -> th.Tensor:
        """SB3's ``to_torch`` for NumPy arrays; a pixel tensor gathered on ``frame_device`` only moves, if at all."""
        return value.to(self.device) if isinstance(value, th.Tensor) else self.to_torch(value)

    def _get_real_samples(
        self, batch_indices: np.ndarray, env_indices: np.ndarray, env: VecNormalize | None = None
    ) -> DictReplayBufferSamples:
        """The stored transitions, as SB3's ``_get_real_samples`` returns them."""
        obs, next_obs = self._gather_obs(batch_indices, env_indices)
        return self._samples(batch_indices, env_indices, obs, next_obs, self.rewards[batch_indices, env_indices], env)

    def _get_virtual_samples(
        self, batch_indices: np.ndarray, env_indices: np.ndarray, env: VecNormalize | None = None
    ) -> DictReplayBufferSamples:
        """Transitions with HER goals and recomputed rewards; same RNG calls as SB3's, in the same order."""
        obs, next_obs = self._gather_obs(batch_indices, env_indices)
        if self.copy_info_dict:
            infos = copy.deepcopy(self.infos[batch_indices, env_indices])
        else:
            infos = [{} for _ in range(len(batch_indices))]
        new_goals = self._sample_goals(batch_indices, env_indices)
        # The next obs keeps the same (new) desired goal as the obs.
        obs["desired_goal"] = new_goals
        next_obs["desired_goal"] = new_goals
        assert self.env is not None, "FrameHerReplayBuffer needs a VecEnv to compute rewards: call set_env()"
        # r_t depends on s_{t+1}: use next_obs's achieved goal, as SB3 does, and env 0's compute_reward.
        rewards = self.env.env_method(
            "compute_reward", next_obs["achieved_goal"], obs["desired_goal"], infos, indices=[0]
        )
        return self._samples(batch_indices, env_indices, obs, next_obs, rewards[0].astype(np.float32), env)

    def sample(  # type: ignore[override]
        self, batch_size: int, env: VecNormalize | None = None
    ) -> DictReplayBufferSamples:
        """SB3's HER sample; then ``pixel_augment`` on obs and next-obs pixels, independently."""
        data = super().sample(batch_size, env)
        if self.pixel_augment is None:
            return data
        return augment_pixels(data, self.pixel_augment, self.pixel_key)

    def _clear(self) -> None:
        """Empty the buffer (nothing sampleable, every env at an episode start); frames are left as is."""
        self.pos, self.full = 0, False
        self.ep_length[:] = 0
        self._current_ep_start[:] = 0
        self._frames_written[:] = 0
        self._cur_ep_frame_start[:] = 0
        self._episode_fresh[:] = True


def _env_frame_stack(env: VecEnv | None) -> int:
    """The ``frame_stack`` attribute of the (first) env, as ``wrappers.PixelObservation`` sets it."""
    try:
        return int(env.get_attr("frame_stack", indices=[0])[0])  # type: ignore[union-attr]
    except (AttributeError, TypeError) as err:
        raise ValueError(
            "FrameHerReplayBuffer could not read frame_stack from the env; pass "
            "replay_buffer_kwargs=dict(frame_stack=...) with the env's frame stack"
        ) from err
