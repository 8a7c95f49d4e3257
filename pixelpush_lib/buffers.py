"""A HER replay buffer for stacked pixel observations that stores each rendered frame once.

SB3's ``HerReplayBuffer`` keeps ``observations`` and ``next_observations`` for every key. With a
4-stack of 3x84x84 frames that is 2 x 4 = 8 copies of every frame (169,344 B per transition), yet
each env step renders exactly one new frame. ``FrameHerReplayBuffer`` keeps:

* every frame once, in a per-env circular array ``frames`` of shape ``(n_envs, frame_capacity, C, H, W)``
  (``C = channels per frame``, 3 for RGB). Per env, frames are written in the order they were rendered:
  an episode's reset frame, then the newest frame of each step's ``next_obs`` (the terminal
  observation included), so one episode of ``L`` steps occupies ``L + 1`` consecutive frames;
* for each transition two ``int64`` frame numbers: its obs's newest frame (``obs_frame``) and its
  episode's reset frame (``ep_frame_start``). Frame numbers count frames written per env since the
  buffer was created; ``number % frame_capacity`` is the slot in the ring;
* the vector keys (proprio, goals), actions, rewards, dones, timeouts and the HER episode bookkeeping
  exactly as SB3 does (SB3's own code stores them: this class subclasses ``HerReplayBuffer``, so SAC
  passes it the env and HER sampling, ``future``/``final``/``episode`` goals and reward recomputation
  are SB3's code, unchanged).

At sample time the ``(C * k, H, W)`` stacks are rebuilt from the ring. Transition ``j`` (0-based) of an
episode whose reset frame is ``s`` has ``obs_frame = s + j``; its obs stack is frames
``s + j - min(k - 1 - m, j)`` for ``m = 0..k-1`` (oldest first, padded with the reset frame exactly as
``wrappers.PixelObservation`` pads), and its next-obs stack is the same with ``j + 1``. Both stacks
are slices of one ``k + 1`` frame window, gathered once.

Wraparound: SB3 invalidates a whole episode as soon as any of its transition slots is overwritten.
Frames are overwritten oldest first too; the ring holds ``frame_capacity`` frames per env, by default
``per_env_size + ceil(per_env_size / min_episode_length) + 2``: enough for every frame still referenced
while episodes have at least ``min_episode_length`` steps, so the set of sampleable transitions is
exactly SB3's. If shorter episodes make the ring overwrite a frame of a still-valid episode, that
episode is invalidated too (as SB3 would do later) so a sample never shows a frame of another episode.
"""

from __future__ import annotations

import copy
import json
import math
import os
import pickle
import tempfile
import warnings
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch as th
from gymnasium import spaces
from stable_baselines3.common.type_aliases import DictReplayBufferSamples
from stable_baselines3.common.vec_env import VecEnv, VecNormalize
from stable_baselines3.her.goal_selection_strategy import GoalSelectionStrategy
from stable_baselines3.her.her_replay_buffer import HerReplayBuffer

try:
    import psutil
except ImportError:  # optional, as in SB3: only used for the out-of-memory warning
    psutil = None

FORMAT_VERSION = 1
PixelAugment = Callable[[th.Tensor], th.Tensor]


class BufferFileError(ValueError):
    """A saved buffer file that cannot be loaded into this buffer (other config, truncated, corrupt)."""


class FrameHerReplayBuffer(HerReplayBuffer):
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

        self.frames = np.zeros((self.n_envs, self.frame_capacity, *self.frame_shape), dtype=np.uint8)
        # frame_owner[e, slot]: the transition slot whose add() wrote that frame (for eviction).
        self.frame_owner = np.zeros((self.n_envs, self.frame_capacity), dtype=np.int64)
        self.obs_frame = np.zeros((self.buffer_size, self.n_envs), dtype=np.int64)
        self.ep_frame_start = np.zeros((self.buffer_size, self.n_envs), dtype=np.int64)
        self._frames_written = np.zeros(self.n_envs, dtype=np.int64)
        self._cur_ep_frame_start = np.zeros(self.n_envs, dtype=np.int64)
        # True until the first add() of each env's current episode has stored its reset frame.
        self._episode_fresh = np.ones(self.n_envs, dtype=bool)
        if psutil is not None and self.frames.nbytes > psutil.virtual_memory().available:
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
        self.frames[env_idx, slot] = frame
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
        if not np.array_equal(rebuilt[0], stack):
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
    ) -> tuple[np.ndarray, np.ndarray]:
        """Rebuild obs and next-obs stacks, each ``(N, C * k, H, W)`` uint8 (views of one gather).

        ``step`` is the transition's index in its episode: frames before the episode's reset frame are
        replaced by the reset frame, so stacks never reach into the previous episode.
        """
        k = self.frame_stack
        # Window of k + 1 frames: obs = window[:k], next obs = window[1:]; how far back each entry is
        # from the next obs's newest frame, clipped at the reset frame (step + 1 back).
        back = np.minimum(np.arange(k, -1, -1)[None, :], (step + 1)[:, None])
        numbers = (obs_frame + 1)[:, None] - back
        window = self.frames[env_indices[:, None], numbers % self.frame_capacity]
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
            observations={key: self.to_torch(value) for key, value in obs_.items()},
            actions=self.to_torch(self.actions[batch_indices, env_indices]),
            next_observations={key: self.to_torch(value) for key, value in next_obs_.items()},
            dones=self.to_torch(dones).reshape(-1, 1),
            rewards=self.to_torch(self._normalize_reward(rewards.reshape(-1, 1), env)),
        )

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
        if self.pixel_augment is not None:
            for observations in (data.observations, data.next_observations):
                pixels = observations[self.pixel_key]
                augmented = self.pixel_augment(pixels)
                if tuple(augmented.shape) != tuple(pixels.shape):
                    raise ValueError(
                        f"pixel_augment changed the pixel shape {tuple(pixels.shape)} to {tuple(augmented.shape)}"
                    )
                observations[self.pixel_key] = augmented
        return data

    # ---------------------------------------------------------- save and load

    def _config(self) -> dict[str, Any]:
        """What a file must match to be loaded into this buffer (its data layout)."""
        return {
            "format_version": FORMAT_VERSION,
            "frame_stack": self.frame_stack,
            "frame_shape": list(self.frame_shape),
            "n_envs": self.n_envs,
            "buffer_size_per_env": self.buffer_size,
            "frame_capacity": self.frame_capacity,
            "pixel_key": self.pixel_key,
            "vector_keys": {k: [list(v.shape[2:]), v.dtype.str] for k, v in self.observations.items()},
            "action_dim": self.action_dim,
            "handle_timeout_termination": self.handle_timeout_termination,
            "copy_info_dict": self.copy_info_dict,
        }

    def _state_arrays(self) -> dict[str, np.ndarray]:
        """Every array that holds data; only the filled part of each (zeros compress, but cost time)."""
        n = self.buffer_size if self.full else self.pos
        m = min(int(self._frames_written.max()), self.frame_capacity)
        arrays: dict[str, np.ndarray] = {
            "pos": np.array(self.pos),
            "full": np.array(self.full),
            "current_ep_start": self._current_ep_start,
            "frames_written": self._frames_written,
            "cur_ep_frame_start": self._cur_ep_frame_start,
            "episode_fresh": self._episode_fresh,
            "frame_owner": self.frame_owner[:, :m],
        }
        for name in ("actions", "rewards", "dones", "timeouts", "ep_start", "ep_length", "obs_frame", "ep_frame_start"):
            arrays[name] = getattr(self, name)[:n]
        for key in self.observations:
            arrays[f"obs.{key}"] = self.observations[key][:n]
            arrays[f"next_obs.{key}"] = self.next_observations[key][:n]
        # One array per env, so loading never holds a second copy of all frames at once.
        for env_idx in range(self.n_envs):
            arrays[f"frames.{env_idx}"] = self.frames[env_idx, :m]
        if self.copy_info_dict:
            arrays["infos_pickle"] = np.frombuffer(pickle.dumps(self.infos[:n]), dtype=np.uint8)
        return arrays

    def save_state(self, path: str | os.PathLike[str]) -> None:
        """Write the buffer's data to ``path`` (compressed ``.npz``), atomically (temp file + rename).

        The env and ``pixel_augment`` are not saved: the buffer that loads the file has its own.
        """
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        config = np.array(json.dumps(self._config(), sort_keys=True))
        fd, tmp = tempfile.mkstemp(prefix=path.name + ".", suffix=".tmp", dir=path.parent)
        try:
            with os.fdopen(fd, "wb") as f:
                np.savez_compressed(f, config=config, **self._state_arrays())
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def load_state(self, path: str | os.PathLike[str], truncate_last_trajectory: bool = True) -> None:
        """Replace this buffer's data by a file written by ``save_state``.

        :param truncate_last_trajectory: as in SB3's ``load_replay_buffer``: ``True`` when training
            resumes from a fresh ``env.reset()`` (a new model), so the episodes cut off by the save
            are closed; ``False`` only to continue the very same episodes.
        :raises BufferFileError: the file is truncated/corrupt or was saved by a buffer of another
            configuration (the message names the file, the field and the fix). The buffer is then
            unchanged, or empty if a frame array proves unreadable: never half-loaded.
        """
        path = Path(path)
        try:
            npz = np.load(path, allow_pickle=False)
        except FileNotFoundError:
            raise
        except (zipfile.BadZipFile, EOFError, OSError, ValueError) as err:
            raise BufferFileError(
                f"{path}: not a readable replay-buffer file ({err}); it is truncated or corrupt. "
                "Use an earlier checkpoint or start with an empty buffer."
            ) from err
        if not isinstance(npz, np.lib.npyio.NpzFile):
            raise BufferFileError(f"{path}: not an .npz archive; the file was not written by save_state()")
        with npz:
            self._check_file_config(path, npz)
            self._restore(path, npz)
        if truncate_last_trajectory:
            self.truncate_last_trajectory()

    def _check_file_config(self, path: Path, npz: Any) -> None:
        if "config" not in npz.files:
            raise BufferFileError(f"{path}: field 'config' is missing; the file was not written by save_state()")
        saved = json.loads(str(_read_field(path, npz, "config", (), np.dtype("U1"))))
        fix = {
            "format_version": "re-save it with this version of pixelpush_lib, or start with an empty buffer",
            "frame_stack": "build the env and buffer with the file's frame_stack",
            "frame_shape": "build the env with the file's image size",
            "n_envs": "train with the file's number of envs",
            "buffer_size_per_env": "use the file's buffer_size (total = per env x n_envs)",
            "frame_capacity": "use the file's buffer_size and min_episode_length",
        }
        for field, expected in self._config().items():
            if saved.get(field) != expected:
                hint = fix.get(field, "build the buffer with the configuration that saved the file")
                raise BufferFileError(
                    f"{path}: field {field!r} is {saved.get(field)!r} in the file but {expected!r} in this "
                    f"buffer; the file was saved by another configuration. Fix: {hint}."
                )

    def _restore(self, path: Path, npz: Any) -> None:
        """Read and check every field, small ones first; frames one env at a time (bounded memory)."""
        pos = int(_read_field(path, npz, "pos", (), np.dtype(np.int64)))
        full = bool(_read_field(path, npz, "full", (), np.dtype(bool)))
        frames_written = _read_field(path, npz, "frames_written", (self.n_envs,), self._frames_written.dtype)
        n = self.buffer_size if full else pos
        m = min(int(frames_written.max()), self.frame_capacity)
        per_transition = {
            "actions": self.actions, "rewards": self.rewards, "dones": self.dones, "timeouts": self.timeouts,
            "ep_start": self.ep_start, "ep_length": self.ep_length,
            "obs_frame": self.obs_frame, "ep_frame_start": self.ep_frame_start,
            **{f"obs.{k}": v for k, v in self.observations.items()},
            **{f"next_obs.{k}": v for k, v in self.next_observations.items()},
        }
        per_env = {
            "current_ep_start": self._current_ep_start, "cur_ep_frame_start": self._cur_ep_frame_start,
            "episode_fresh": self._episode_fresh,
        }
        loaded = {
            name: _read_field(path, npz, name, (n, *arr.shape[1:]), arr.dtype) for name, arr in per_transition.items()
        }
        loaded.update({name: _read_field(path, npz, name, arr.shape, arr.dtype) for name, arr in per_env.items()})
        frame_owner = _read_field(path, npz, "frame_owner", (self.n_envs, m), self.frame_owner.dtype)
        infos = None
        if self.copy_info_dict:
            blob = _read_field(path, npz, "infos_pickle", None, np.dtype(np.uint8))
            infos = pickle.loads(blob.tobytes())  # our own checkpoint format: trusted

        self._clear()
        for name, arr in per_transition.items():
            arr[:n] = loaded[name]
        for name, arr in per_env.items():
            arr[...] = loaded[name]
        self._frames_written[:] = frames_written
        self.frame_owner[:, :m] = frame_owner
        if infos is not None:
            self.infos[:n] = infos
        try:  # frames are read last, one env at a time, straight into the ring
            for env_idx in range(self.n_envs):
                shape = (m, *self.frame_shape)
                self.frames[env_idx, :m] = _read_field(path, npz, f"frames.{env_idx}", shape, np.dtype(np.uint8))
        except BufferFileError:
            self._clear()
            raise
        self.pos, self.full = pos, full

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


def _read_field(path: Path, npz: Any, name: str, shape: tuple[int, ...] | None, dtype: np.dtype) -> np.ndarray:
    """One array of an open ``.npz``, checked; a missing, truncated or mis-shaped one is a ``BufferFileError``."""
    if name not in npz.files:
        raise BufferFileError(f"{path}: field {name!r} is missing; the file is incomplete. Use another checkpoint.")
    try:
        value = npz[name]
    except (zipfile.BadZipFile, EOFError, OSError, ValueError) as err:
        raise BufferFileError(
            f"{path}: field {name!r} cannot be read ({err}); the file is truncated or corrupt. "
            "Use an earlier checkpoint or start with an empty buffer."
        ) from err
    same_kind = value.dtype.kind == dtype.kind if dtype.kind == "U" else value.dtype == dtype
    if (shape is not None and value.shape != tuple(shape)) or not same_kind:
        raise BufferFileError(
            f"{path}: field {name!r} has shape {value.shape} dtype {value.dtype}, expected {tuple(shape or ())} "
            f"{dtype}; the file is inconsistent. Use another checkpoint."
        )
    return value
