"""The frame ring on a torch device: the device code path, run on CPU tensors, samples the same bytes as the NumPy
ring and as SB3's buffer; files saved from one load into the other; a ring too large for the GPU is refused."""

from __future__ import annotations

import numpy as np
import pytest
import torch as th
from test_buffers import assert_equivalent, assert_same, fake_vec_env, feed, make_pair

from pixelpush_lib.nets.augment import DrQShift
from pixelpush_lib.replay.frame_her import FrameHerReplayBuffer
from pixelpush_lib.replay.frame_ring import device_ring, frame_device_for


def test_auto_keeps_frames_on_the_host_unless_the_buffer_is_on_cuda():
    assert frame_device_for("auto", th.device("cpu")) is None
    assert frame_device_for("auto", th.device("cuda")) == th.device("cuda")
    assert frame_device_for(None, th.device("cuda")) is None
    assert frame_device_for("cpu", th.device("cpu")) == th.device("cpu")


def test_device_ring_matches_sb3_through_wraparound_and_relabelling():
    venv = fake_vec_env(3, lengths=(4, 7, 5), truncations=(True, False, True))
    ours, sb3 = make_pair(venv, per_env=12, n_sampled_goal=4, goal_selection_strategy="future", frame_device="cpu")
    assert isinstance(ours.frames, th.Tensor) and ours.frames.dtype == th.uint8
    feed(venv, [ours, sb3], n_steps=40)
    assert ours.full
    assert_equivalent(ours, sb3, seed=3)


def test_device_and_host_rings_sample_the_same_bytes_with_drq():
    venv = fake_vec_env(2, size=16, lengths=(6,))
    host, _ = make_pair(venv, per_env=20, pixel_augment=DrQShift(pad=2))
    device, _ = make_pair(venv, per_env=20, pixel_augment=DrQShift(pad=2), frame_device="cpu")
    feed(venv, [host, device], n_steps=30)
    for seed in range(3):
        np.random.seed(seed)
        th.manual_seed(seed)
        a = host.sample(8)
        np.random.seed(seed)
        th.manual_seed(seed)
        assert_same(a, device.sample(8))


@pytest.mark.parametrize("saved_on, loaded_on", [("cpu", None), (None, "cpu")])
def test_a_file_saved_from_one_ring_loads_into_the_other(tmp_path, saved_on, loaded_on):
    venv = fake_vec_env(2, lengths=(5,))
    first, _ = make_pair(venv, per_env=15, frame_device=saved_on)
    feed(venv, [first], n_steps=25)
    first.save_state(tmp_path / "buffer.npz")
    second, _ = make_pair(venv, per_env=15, frame_device=loaded_on)
    second.load_state(tmp_path / "buffer.npz", truncate_last_trajectory=False)
    assert np.array_equal(np.asarray(th.as_tensor(first.frames).cpu()), np.asarray(th.as_tensor(second.frames).cpu()))
    np.random.seed(0)
    a = first.sample(6)
    np.random.seed(0)
    assert_same(a, second.sample(6))


def test_a_ring_too_large_for_the_gpu_names_the_size_and_the_fallback(monkeypatch):
    monkeypatch.setattr(th.cuda, "mem_get_info", lambda device=None: (2 * 10**9, 80 * 10**9))
    with pytest.raises(ValueError, match=r"needs 10\.6 GB on cuda.*2\.0 GB are free.*frame_device=None"):
        device_ring((1, 500_000, 3, 84, 84), th.device("cuda"))


@pytest.mark.cuda
@pytest.mark.skipif(not th.cuda.is_available(), reason="needs a CUDA GPU")
def test_the_ring_on_cuda_samples_what_the_host_ring_samples():
    venv = fake_vec_env(2, lengths=(5,))
    host, _ = make_pair(venv, per_env=15)
    gpu = FrameHerReplayBuffer(30, venv.observation_space, venv.action_space, venv, device="cuda", n_envs=2,
                               frame_stack=4)
    assert gpu.frames.is_cuda
    feed(venv, [host, gpu], n_steps=25)
    np.random.seed(0)
    a = host.sample(6)
    np.random.seed(0)
    b = gpu.sample(6)
    assert all(th.equal(a.observations[k], b.observations[k].cpu()) for k in a.observations)
