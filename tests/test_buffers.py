"""FrameHerReplayBuffer returns exactly what SB3's HerReplayBuffer returns, from 1/8 of the pixel memory.

Both buffers are fed the same transitions the way SAC feeds them (``_store_transition``: the terminal
observation replaces ``next_obs`` at episode ends); then, for the same indices and the same numpy seed,
real and HER-relabelled samples must agree byte for byte.
"""

from __future__ import annotations

import pickle
from collections import deque
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import pytest
import torch as th
from gymnasium import spaces
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from stable_baselines3 import SAC, HerReplayBuffer
from stable_baselines3.common.vec_env import DummyVecEnv, VecEnv

from pixelpush_lib.replay.frame_her import FrameHerReplayBuffer
from pixelpush_lib.replay.persistence import BufferFileError

# ----------------------------------------------------------------------------- a tiny pixel goal env


class FakePixelGoalEnv(gym.Env):
    """Stacks random ``(3, size, size)`` frames exactly as ``wrappers.PixelObservation`` does.

    Episode ``i`` lasts ``lengths[i % len(lengths)]`` steps and ends truncated (a time limit) if
    ``truncations[i % len(truncations)]`` else terminated. Each step's info carries a ``bonus`` that
    ``compute_reward`` adds when it is given infos, so ``copy_info_dict`` is observable.
    """

    def __init__(self, frame_stack: int = 4, size: int = 8, lengths=(5,), truncations=(True,), seed: int = 0):
        self.frame_stack, self.size = frame_stack, size
        self.lengths, self.truncations = list(lengths), list(truncations)
        self.rng = np.random.default_rng(seed)
        self.observation_space = spaces.Dict(
            {
                "pixels": spaces.Box(0, 255, (3 * frame_stack, size, size), np.uint8),
                "proprio": spaces.Box(-np.inf, np.inf, (10,), np.float32),
                "achieved_goal": spaces.Box(-np.inf, np.inf, (3,), np.float64),
                "desired_goal": spaces.Box(-np.inf, np.inf, (3,), np.float64),
            }
        )
        self.action_space = spaces.Box(-1, 1, (4,), np.float32)
        self.episode, self.t = -1, 0

    def _frame(self) -> np.ndarray:
        return self.rng.integers(0, 256, (3, self.size, self.size), dtype=np.uint8)

    def _obs(self) -> dict[str, np.ndarray]:
        return {
            "pixels": np.concatenate(list(self.frames), axis=0),
            "proprio": self.rng.standard_normal(10).astype(np.float32),
            "achieved_goal": self.rng.random(3),
            "desired_goal": self.goal.copy(),
        }

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)
        self.episode, self.t = self.episode + 1, 0
        self.goal = self.rng.random(3)
        self.frames = deque([self._frame()] * self.frame_stack, maxlen=self.frame_stack)
        return self._obs(), {}

    def step(self, action):
        self.t += 1
        self.frames.append(self._frame())
        obs = self._obs()
        done = self.t >= self.lengths[self.episode % len(self.lengths)]
        truncated = done and self.truncations[self.episode % len(self.truncations)]
        reward = float(self.compute_reward(obs["achieved_goal"], obs["desired_goal"], None))
        return obs, reward, done and not truncated, truncated, {"bonus": float(self.t % 2)}

    def compute_reward(self, achieved_goal, desired_goal, info) -> np.ndarray:
        reward = -(np.linalg.norm(achieved_goal - desired_goal, axis=-1) > 0.6).astype(np.float32)
        if isinstance(info, (list, np.ndarray)) and len(info) and "bonus" in info[0]:
            reward = reward + np.array([i["bonus"] for i in info], dtype=np.float32)
        return reward


def fake_vec_env(n_envs: int, frame_stack: int = 4, size: int = 8, lengths=(5,), truncations=(True,)) -> DummyVecEnv:
    # Per-env plans are rotated so parallel envs end their episodes at different steps.
    lengths = list(lengths)

    def make(i: int):
        shift = i % len(lengths)
        return lambda: FakePixelGoalEnv(frame_stack, size, lengths[shift:] + lengths[:shift], truncations, seed=i)

    return DummyVecEnv([make(i) for i in range(n_envs)])


def make_pair(venv: VecEnv, per_env: int, frame_stack: int = 4, **kwargs: Any):
    """SB3's buffer and ours, same arguments; ``kwargs`` split by whether SB3 takes them."""
    ours_only = {k: kwargs.pop(k) for k in ("min_episode_length", "pixel_augment", "validate_frames", "frame_device")
                 if k in kwargs}
    common = dict(env=venv, device="cpu", n_envs=venv.num_envs, **kwargs)
    size = per_env * venv.num_envs
    sb3 = HerReplayBuffer(size, venv.observation_space, venv.action_space, **common)
    ours = FrameHerReplayBuffer(
        size, venv.observation_space, venv.action_space, frame_stack=frame_stack, **common, **ours_only
    )
    return ours, sb3


def feed(venv: VecEnv, buffers, n_steps: int, seed: int = 0) -> None:
    """Random actions; store each step in every buffer as SAC's ``_store_transition`` does."""
    rng = np.random.default_rng(seed)
    obs = venv.reset()
    for _ in range(n_steps):
        action = rng.uniform(-1, 1, (venv.num_envs, *venv.action_space.shape)).astype(np.float32)
        new_obs, reward, dones, infos = venv.step(action)
        next_obs = {k: v.copy() for k, v in new_obs.items()}
        for i, done in enumerate(dones):
            if done:
                for key in next_obs:
                    next_obs[key][i] = infos[i]["terminal_observation"][key]
        for buf in buffers:
            buf.add({k: v.copy() for k, v in obs.items()}, {k: v.copy() for k, v in next_obs.items()},
                    action, reward, dones, infos)
        obs = new_obs


def assert_same(a, b) -> None:
    """Two DictReplayBufferSamples are identical: same keys, dtypes, shapes and bytes."""
    assert list(a.observations) == list(b.observations)
    for key in a.observations:
        for x, y in ((a.observations[key], b.observations[key]), (a.next_observations[key], b.next_observations[key])):
            assert x.dtype == y.dtype and x.shape == y.shape, key
            assert th.equal(x, y), key
    for field in ("actions", "rewards", "dones"):
        x, y = getattr(a, field), getattr(b, field)
        assert x.dtype == y.dtype and th.equal(x, y), field


def assert_equivalent(ours: FrameHerReplayBuffer, sb3: HerReplayBuffer, seed: int = 0) -> None:
    """Every transition ours can sample equals SB3's, real and relabelled; and ``sample`` agrees."""
    valid = ours.ep_length > 0
    assert not (valid & (sb3.ep_length == 0)).any(), "ours samples a transition SB3 has invalidated"
    assert np.array_equal(ours.ep_length[valid], sb3.ep_length[valid])
    if not valid.any():
        return
    batch_idx, env_idx = np.nonzero(valid)
    assert_same(ours._get_real_samples(batch_idx, env_idx), sb3._get_real_samples(batch_idx, env_idx))
    np.random.seed(seed)
    virtual_ours = ours._get_virtual_samples(batch_idx, env_idx)
    np.random.seed(seed)
    assert_same(virtual_ours, sb3._get_virtual_samples(batch_idx, env_idx))
    if np.array_equal(ours.ep_length, sb3.ep_length):
        np.random.seed(seed)
        sample_ours = ours.sample(16)
        np.random.seed(seed)
        assert_same(sample_ours, sb3.sample(16))


# ----------------------------------------------------------------------------- equivalence


def test_real_pixel_env_equivalence_with_wraparound():
    """Two real FetchPush pixel envs (4-stack, 84x84): 110 steps into an 80-per-env buffer (it wraps)."""
    from pixelpush_lib.env.wrappers import make_env

    venv = DummyVecEnv([lambda i=i: make_env("pixels", frame_stack=4, seed=i) for i in range(2)])
    ours, sb3 = make_pair(venv, per_env=80, n_sampled_goal=4, goal_selection_strategy="future")
    feed(venv, [ours, sb3], n_steps=110)
    venv.close()
    assert ours.full and sb3.full
    assert np.array_equal(ours.ep_length, sb3.ep_length)  # same sampleable set, in-progress episode excluded
    assert (sb3.ep_length > 0).sum() == 2 * 50  # the second episode of each env; the first was overwritten
    assert_equivalent(ours, sb3, seed=1)
    sb3_pixels = sb3.observations["pixels"].nbytes + sb3.next_observations["pixels"].nbytes
    assert ours.frames.nbytes < sb3_pixels / 7


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    n_envs=st.integers(1, 3),
    frame_stack=st.integers(1, 4),
    per_env=st.integers(13, 30),
    lengths=st.lists(st.integers(1, 12), min_size=1, max_size=5),
    truncations=st.lists(st.booleans(), min_size=1, max_size=5),
    n_steps=st.integers(0, 90),
    strategy=st.sampled_from(["future", "final", "episode"]),
    handle_timeout=st.booleans(),
    copy_info=st.booleans(),
    roomy_ring=st.booleans(),
)
def test_property_equivalence(
    n_envs, frame_stack, per_env, lengths, truncations, n_steps, strategy, handle_timeout, copy_info, roomy_ring
):
    """Random episode lengths, truncations, env counts, HER strategies, with and without wraparound.

    ``roomy_ring``: the frame ring is sized for 1-step episodes, so the sampleable set must be exactly
    SB3's. Otherwise it is sized for 1000-step episodes and short episodes make the ring evict the
    oldest ones early: ours may sample fewer transitions than SB3, never different ones.
    """
    venv = fake_vec_env(n_envs, frame_stack, 8, lengths, truncations)
    ours, sb3 = make_pair(
        venv, per_env, frame_stack, n_sampled_goal=3, goal_selection_strategy=strategy,
        handle_timeout_termination=handle_timeout, copy_info_dict=copy_info,
        min_episode_length=1 if roomy_ring else 1000,
    )
    feed(venv, [ours, sb3], n_steps)
    if roomy_ring:
        assert np.array_equal(ours.ep_length, sb3.ep_length)
    assert_equivalent(ours, sb3)


def test_sac_trains_identically_with_either_buffer():
    """SAC, unchanged, takes the class; same seed gives bit-identical weights as with SB3's buffer."""

    def train(buffer_class, **extra: Any) -> list[th.Tensor]:
        venv = fake_vec_env(2, frame_stack=2, size=36, lengths=(7, 9))
        model = SAC(
            "MultiInputPolicy", venv, replay_buffer_class=buffer_class,
            replay_buffer_kwargs=dict(n_sampled_goal=4, goal_selection_strategy="future", **extra),
            buffer_size=40, learning_starts=40, batch_size=8, seed=0, device="cpu",
            policy_kwargs=dict(net_arch=[16], features_extractor_kwargs=dict(cnn_output_dim=8)),
        )
        model.learn(total_timesteps=60)
        assert model.logger.name_to_value["train/n_updates"] > 0
        return [p.detach().clone() for p in model.policy.parameters()]

    # One thread: tiny convs on two busy cores run ~40x slower with two threads spinning.
    threads = th.get_num_threads()
    th.set_num_threads(1)
    try:
        # 30 steps per env wrap the 20-per-env buffer; the ring is sized for these 7-step episodes.
        ours, sb3 = train(FrameHerReplayBuffer, min_episode_length=7), train(HerReplayBuffer)
    finally:
        th.set_num_threads(threads)
    assert all(th.equal(a, b) for a, b in zip(ours, sb3, strict=True))


# ----------------------------------------------------------------------------- hooks and guards


def test_augment_applied_to_obs_and_next_obs_independently():
    calls = []

    def augment(pixels: th.Tensor) -> th.Tensor:
        calls.append(pixels.clone())
        return 255 - pixels

    venv = fake_vec_env(2, lengths=(4, 6))
    ours, sb3 = make_pair(venv, per_env=20, pixel_augment=augment)
    feed(venv, [ours, sb3], 15)
    np.random.seed(3)
    got = ours.sample(10)
    np.random.seed(3)
    want = sb3.sample(10)
    assert len(calls) == 2  # once for observations, once for next_observations
    assert th.equal(calls[0], want.observations["pixels"]) and th.equal(calls[1], want.next_observations["pixels"])
    assert th.equal(got.observations["pixels"], 255 - want.observations["pixels"])
    assert th.equal(got.next_observations["pixels"], 255 - want.next_observations["pixels"])
    assert th.equal(got.observations["proprio"], want.observations["proprio"])


def test_bad_augment_shape_is_refused():
    venv = fake_vec_env(1, lengths=(3,))
    ours, _ = make_pair(venv, per_env=10, pixel_augment=lambda x: x[:, :3])
    feed(venv, [ours], 5)
    with pytest.raises(ValueError, match="pixel_augment changed the pixel shape"):
        ours.sample(4)


def test_wrong_frame_stack_is_caught():
    venv = fake_vec_env(1, frame_stack=4, lengths=(6,))
    with pytest.raises(ValueError, match="not a multiple of frame_stack=5"):
        FrameHerReplayBuffer(10, venv.observation_space, venv.action_space, venv, frame_stack=5)
    ours = FrameHerReplayBuffer(10, venv.observation_space, venv.action_space, venv, frame_stack=2)
    with pytest.raises(ValueError, match="obs shifted by one frame|does not continue"):
        feed(venv, [ours], 3)


def test_sampling_before_an_episode_ends_is_refused_like_sb3():
    venv = fake_vec_env(2, lengths=(10,))
    ours, _ = make_pair(venv, per_env=20)
    feed(venv, [ours], 5)
    with pytest.raises(RuntimeError, match="Unable to sample before the end of the first episode"):
        ours.sample(4)


# ----------------------------------------------------------------------------- save, load, pickle


def filled_pair(tmp_path: Path | None = None, n_steps: int = 23, **kwargs: Any):
    venv = fake_vec_env(2, lengths=(4, 7, 5), truncations=(True, False))
    # The ring is sized for these short episodes, so the sampleable set stays SB3's exactly.
    ours, sb3 = make_pair(venv, per_env=15, copy_info_dict=True, min_episode_length=4, **kwargs)
    feed(venv, [ours, sb3], n_steps)
    return venv, ours, sb3


def test_save_load_roundtrip_then_resume(tmp_path):
    venv, ours, sb3 = filled_pair()
    path = tmp_path / "ckpt" / "buffer.npz"
    ours.save_state(path)
    assert list(path.parent.iterdir()) == [path]  # the temp file was renamed, none left behind
    fresh, _ = make_pair(venv, per_env=15, copy_info_dict=True, min_episode_length=4)
    fresh.load_state(path, truncate_last_trajectory=False)
    assert_equivalent(fresh, sb3, seed=5)
    # Resume from a fresh reset, as a new model does: both truncate, then keep storing alike.
    with pytest.warns(UserWarning, match="truncated"):
        fresh.truncate_last_trajectory()
        sb3.truncate_last_trajectory()
    feed(venv, [fresh, sb3], 12, seed=7)
    assert np.array_equal(fresh.ep_length, sb3.ep_length)
    assert_equivalent(fresh, sb3, seed=6)


def test_load_state_truncates_by_default_like_sb3(tmp_path):
    venv, ours, sb3 = filled_pair()
    ours.save_state(tmp_path / "b.npz")
    fresh, _ = make_pair(venv, per_env=15, copy_info_dict=True, min_episode_length=4)
    with pytest.warns(UserWarning, match="truncated"):
        fresh.load_state(tmp_path / "b.npz")
        sb3.truncate_last_trajectory()
    assert_equivalent(fresh, sb3)


@pytest.mark.parametrize(
    "change, field",
    [
        (dict(frame_stack=2), "frame_stack"),
        (dict(n_envs=3), "n_envs"),
        (dict(per_env=16), "buffer_size_per_env"),
        (dict(size=10), "frame_shape"),
    ],
)
def test_load_from_another_config_names_file_and_field(tmp_path, change, field):
    _, ours, _ = filled_pair()
    path = tmp_path / "b.npz"
    ours.save_state(path)
    venv = fake_vec_env(change.get("n_envs", 2), change.get("frame_stack", 4), change.get("size", 8))
    other, _ = make_pair(
        venv, change.get("per_env", 15), change.get("frame_stack", 4), copy_info_dict=True, min_episode_length=4
    )
    with pytest.raises(BufferFileError, match=rf"{path}: field '{field}'.*Fix: "):
        other.load_state(path)
    assert other.size() == 0


def test_truncated_or_foreign_file_is_a_clear_error(tmp_path):
    venv, ours, _ = filled_pair()
    path = tmp_path / "b.npz"
    ours.save_state(path)
    data = path.read_bytes()
    fresh, _ = make_pair(venv, per_env=15, copy_info_dict=True, min_episode_length=4)
    for name, content in [("cut.npz", data[: len(data) // 2]), ("junk.npz", b"not a buffer"), ("empty.npz", b"")]:
        (tmp_path / name).write_bytes(content)
        with pytest.raises(BufferFileError, match=rf"{tmp_path / name}: .*(truncated|corrupt|not)"):
            fresh.load_state(tmp_path / name)
        assert fresh.size() == 0 and not (fresh.ep_length > 0).any()
    np.savez(tmp_path / "other.npz", frames=np.zeros(3))
    with pytest.raises(BufferFileError, match="field 'config' is missing"):
        fresh.load_state(tmp_path / "other.npz")


def test_pickle_roundtrip_as_sb3_save_replay_buffer_does():
    venv, ours, sb3 = filled_pair()
    clone = pickle.loads(pickle.dumps(ours))
    assert clone.env is None  # SB3's __getstate__ drops the env; load_replay_buffer calls set_env
    clone.set_env(venv)
    assert_equivalent(clone, sb3, seed=2)


# ----------------------------------------------------------------------------- memory


def test_pixels_cost_about_one_frame_per_transition():
    """4-stack 3x84x84, 4 envs: frame ring ~ (1 + 1/50) frames per transition, 1/8 of SB3's obs+next_obs."""
    venv = fake_vec_env(4, frame_stack=4, size=84)
    ours = FrameHerReplayBuffer(4000, venv.observation_space, venv.action_space, venv, n_envs=4)
    frame_bytes = 3 * 84 * 84
    per_transition = ours.frames.nbytes / 4000
    assert frame_bytes <= per_transition <= 1.03 * frame_bytes
    assert not hasattr(ours, "next_observations") or "pixels" not in ours.next_observations


def test_copied_infos_keep_no_terminal_pixels_and_reset_empties():
    _, ours, sb3 = filled_pair()
    stored = [info for row in ours.infos[: ours.pos] for info in row]
    assert any("bonus" in info for info in stored)
    assert not any("terminal_observation" in info for info in stored)
    assert any("terminal_observation" in info for row in sb3.infos[: sb3.pos] for info in row)
    ours.reset()
    assert ours.size() == 0 and not (ours.ep_length > 0).any() and ours._episode_fresh.all()
