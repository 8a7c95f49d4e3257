import numpy as np
import pytest
import torch as th
from stable_baselines3 import SAC

from pixelpush_lib.nets.augment import DrQShift, augment_pixels, random_shift
from pixelpush_lib.replay.drq_her import DrQHerReplayBuffer


def _reference_shift(image: np.ndarray, dx: int, dy: int, pad: int) -> np.ndarray:
    padded = np.pad(image, ((0, 0), (pad, pad), (pad, pad)), mode="edge")
    h, w = image.shape[1:]
    return padded[:, pad + dy : pad + dy + h, pad + dx : pad + dx + w]


def test_shift_keeps_shape_dtype_and_matches_edge_padding_crop():
    gen = th.Generator().manual_seed(0)
    pixels = th.randint(0, 256, (16, 12, 84, 84), dtype=th.uint8, generator=gen)
    shifted, shifts = random_shift(pixels, pad=4, generator=gen, return_shifts=True)
    assert shifted.shape == pixels.shape and shifted.dtype == th.uint8
    for i in range(16):
        dx, dy = shifts[i].tolist()
        np.testing.assert_array_equal(shifted[i].numpy(), _reference_shift(pixels[i].numpy(), dx, dy, 4))


def test_no_shift_exceeds_the_pad_and_all_offsets_occur():
    gen = th.Generator().manual_seed(1)
    _, shifts = random_shift(th.zeros(4000, 3, 8, 8, dtype=th.uint8), pad=4, generator=gen, return_shifts=True)
    assert shifts.abs().max() <= 4
    assert set(shifts[:, 0].tolist()) == set(range(-4, 5))


def test_obs_and_next_obs_are_shifted_independently():
    """Same image as obs and next_obs: DrQ shifts each on its own, so they usually disagree."""
    from collections import namedtuple

    Samples = namedtuple("Samples", "observations next_observations")
    image = th.arange(64, dtype=th.uint8).reshape(1, 1, 8, 8).repeat(500, 3, 1, 1)
    samples = Samples({"pixels": image}, {"pixels": image.clone()})
    out = augment_pixels(samples, DrQShift(pad=2))
    same = (out.observations["pixels"] == out.next_observations["pixels"]).flatten(1).all(1).float().mean()
    # independent uniform offsets in a 5x5 grid coincide with probability 1/25
    assert 0.0 < float(same) < 0.15


def test_bad_arguments():
    with pytest.raises(ValueError, match="B, C, H, W"):
        random_shift(th.zeros(3, 8, 8))
    with pytest.raises(ValueError, match="pad"):
        random_shift(th.zeros(1, 3, 8, 8), pad=-1)


def test_drq_buffer_two_samples_of_same_indices_differ(pixel_env):
    model = SAC("MultiInputPolicy", pixel_env, replay_buffer_class=DrQHerReplayBuffer,
                replay_buffer_kwargs={"drq_pad": 4}, buffer_size=300, learning_starts=200,
                policy_kwargs={"normalize_images": False}, device="cpu", seed=0)
    model.learn(120)  # two finished episodes, no updates
    buffer = model.replay_buffer
    np.random.seed(3)
    a = buffer.sample(16)
    np.random.seed(3)  # same indices and goals
    b = buffer.sample(16)
    th.testing.assert_close(a.actions, b.actions)
    th.testing.assert_close(a.observations["proprio"], b.observations["proprio"])
    assert not th.equal(a.observations["pixels"], b.observations["pixels"])
    assert a.observations["pixels"].dtype == th.uint8 and a.observations["pixels"].shape == (16, 12, 84, 84)
