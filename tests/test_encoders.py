import numpy as np
import pytest
import torch as th
from torch import nn

from pixelpush_lib.core.configs import get_config
from pixelpush_lib.nets.encoders import (
    ManipulationCNN,
    ManipulationExtractor,
    NatureExtractor,
    SpatialSoftmax,
    policy_vector_keys,
)


def _layer_sizes(module: nn.Module, size: int = 84, channels: int = 12) -> list[int]:
    """Spatial side after each Conv2d, by running a real tensor through the network."""
    sizes = [size]
    x = th.zeros(1, channels, size, size)
    for layer in module.modules():
        if isinstance(layer, nn.Conv2d):
            x = layer(x)
            sizes.append(x.shape[-1])
    return sizes


def test_naturecnn_collapses_84_to_20_9_7(pixel_env):
    extractor = NatureExtractor(pixel_env.observation_space)
    assert _layer_sizes(extractor.cnn) == [84, 20, 9, 7]


def test_manipulation_cnn_keeps_resolution_84_42_42_42_21():
    cnn = ManipulationCNN(in_channels=12)
    assert _layer_sizes(cnn) == [84, 42, 42, 42, 21]
    assert cnn(th.zeros(2, 12, 84, 84)).shape == (2, 32, 21, 21)


@pytest.mark.parametrize("row, col", [(0, 0), (20, 20), (5, 14), (10, 10)])
def test_spatial_softmax_of_one_hot_map_is_that_pixels_coordinates(row, col):
    features = th.full((1, 2, 21, 21), -1e4)
    features[0, 0, row, col] = 1e4
    features[0, 1, 20 - row, 20 - col] = 1e4
    out = SpatialSoftmax()(features)
    cells = np.linspace(-1, 1, 21)
    assert out.shape == (1, 4)
    expected = [cells[col], cells[row], cells[20 - col], cells[20 - row]]
    np.testing.assert_allclose(out[0].numpy(), expected, atol=1e-5)


def test_spatial_softmax_of_flat_map_is_the_centre_and_temperature_is_learnable():
    ss = SpatialSoftmax(learnable_temperature=True)
    np.testing.assert_allclose(ss(th.zeros(3, 5, 21, 21)).detach().numpy(), 0.0, atol=1e-6)
    assert any(p.requires_grad for p in ss.parameters())
    assert not list(SpatialSoftmax(learnable_temperature=False).parameters())
    with pytest.raises(ValueError, match="temperature"):
        SpatialSoftmax(temperature=0.0)


def _batch(space, n=3, seed=0):
    rng = np.random.default_rng(seed)
    return {
        "pixels": th.as_tensor(rng.integers(0, 256, (n, *space["pixels"].shape), dtype=np.uint8)),
        "proprio": th.as_tensor(rng.normal(size=(n, 10)).astype(np.float32)),
        "achieved_goal": th.as_tensor(rng.normal(size=(n, 3)).astype(np.float32)),
        "desired_goal": th.as_tensor(rng.normal(size=(n, 3)).astype(np.float32)),
    }


@pytest.mark.parametrize(
    "make, dim",
    [
        (lambda s, **kw: ManipulationExtractor(s, **kw), 64 + 10 + 3),
        (lambda s, **kw: ManipulationExtractor(s, spatial_softmax=False, **kw), 32 * 21 * 21 + 10 + 3),
        (lambda s, **kw: NatureExtractor(s, **kw), 256 + 10 + 3),
    ],
    ids=["manip+ss", "manip+flatten", "nature"],
)
def test_default_extractors_ignore_achieved_goal(pixel_env, make, dim):
    space = pixel_env.observation_space
    th.manual_seed(0)
    extractor = make(space)
    assert extractor.features_dim == dim
    obs = _batch(space)
    out = extractor(obs)
    assert out.shape == (3, dim)
    moved = dict(obs, achieved_goal=obs["achieved_goal"] + 10.0)
    th.testing.assert_close(extractor(moved), out, rtol=0, atol=0)

    # The opt-in reproduces the author's runs: then achieved_goal does reach the features.
    th.manual_seed(0)
    seeing = make(space, policy_sees_achieved_goal=True)
    assert seeing.features_dim == dim + 3
    assert not th.equal(seeing(moved), seeing(obs))


@pytest.mark.parametrize("dtype", [th.uint8, th.float32], ids=["uint8", "SB3's float copy"])
def test_extractor_scales_pixels_itself(pixel_env, dtype):
    extractor = ManipulationExtractor(pixel_env.observation_space)
    seen = []
    extractor.cnn.register_forward_pre_hook(lambda m, args: seen.append(args[0]))
    obs = _batch(pixel_env.observation_space)
    obs["pixels"][:, :, :2] = 255
    obs["pixels"][:, :, 2:] = 0
    extractor(dict(obs, pixels=obs["pixels"].to(dtype)))
    assert (float(seen[0].min()), float(seen[0].max())) == (0.0, 1.0)


def _plain_float32_convs(cnn: ManipulationCNN, pixels: th.Tensor) -> th.Tensor:
    """The conv stack computed layer by layer in the default (NCHW) layout, as PyTorch would without our help."""
    x = pixels.contiguous()
    for layer in cnn.net:
        if isinstance(layer, nn.Conv2d):
            x = nn.functional.conv2d(x, layer.weight.contiguous(), layer.bias, layer.stride, layer.padding)
        else:
            x = th.relu(x)
    return x


def test_channels_last_convs_compute_the_plain_float32_convolutions():
    th.manual_seed(0)
    cnn = ManipulationCNN(12)
    assert all(layer.weight.is_contiguous(memory_format=th.channels_last)
               for layer in cnn.net if isinstance(layer, nn.Conv2d))
    pixels = th.rand(4, 12, 84, 84)
    out = cnn(pixels)
    assert out.dtype == th.float32
    th.testing.assert_close(out, _plain_float32_convs(cnn, pixels), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("make", [ManipulationExtractor, NatureExtractor], ids=["manipulation", "nature"])
def test_bf16_convs_are_mixed_precision_close_to_float32(pixel_env, make):
    space = pixel_env.observation_space
    th.manual_seed(0)
    fp32, bf16 = make(space), make(space, precision="bf16")
    bf16.load_state_dict(fp32.state_dict())
    obs = _batch(space, n=8)
    with th.no_grad():
        expected = fp32(obs)
    out = bf16(obs)
    assert out.dtype == th.float32
    # bfloat16 keeps 8 significant bits: features agree to about 1% of their spread, not exactly.
    assert not th.equal(out, expected)
    assert float((out.detach() - expected).abs().max()) < 0.02 * float(expected.std())
    out.square().sum().backward()
    for name, parameter in bf16.named_parameters():
        assert parameter.dtype == th.float32 and parameter.grad is not None, name
        assert parameter.grad.dtype == th.float32 and bool(th.isfinite(parameter.grad).all()), name


def test_unknown_conv_precision_names_the_choices(pixel_env):
    with pytest.raises(ValueError, match=r"'fp16'.*fp32.*bf16"):
        ManipulationCNN(12, precision="fp16")
    with pytest.raises(ValueError, match="fp16"):
        NatureExtractor(pixel_env.observation_space, precision="fp16")
    with pytest.raises(ValueError, match=r"conv_precision='fp16'.*bf16"):
        get_config("step2", {"conv_precision": "fp16"})


def test_vector_keys_are_explicit():
    assert policy_vector_keys() == ("proprio", "desired_goal")
    assert "achieved_goal" in policy_vector_keys(policy_sees_achieved_goal=True)


def test_extractor_rejects_observation_without_pixels():
    from gymnasium import spaces

    space = spaces.Dict({"proprio": spaces.Box(-1, 1, (10,)), "desired_goal": spaces.Box(-1, 1, (3,))})
    with pytest.raises(ValueError, match="pixels"):
        ManipulationExtractor(space)


def test_vector_extractors_read_their_keys_in_order_and_nothing_else():
    from gymnasium import spaces

    from pixelpush_lib.nets.encoders import StateVectorExtractor
    from pixelpush_lib.nets.eyes import EyesExtractor

    box = lambda n: spaces.Box(-1, 1, (n,))  # noqa: E731
    state = spaces.Dict({"observation": box(25), "achieved_goal": box(3), "desired_goal": box(3)})
    obs = {"observation": th.zeros(2, 25), "achieved_goal": th.full((2, 3), 7.0), "desired_goal": th.ones(2, 3)}
    features = StateVectorExtractor(state)(obs)
    assert features.shape == (2, 28) and StateVectorExtractor(state).features_dim == 28
    assert th.equal(features[:, 25:], th.ones(2, 3)) and not (features == 7.0).any()  # the true puck never enters

    eyes = spaces.Dict({"eyes": box(4), "proprio": box(10), "achieved_goal": box(3), "desired_goal": box(3)})
    assert EyesExtractor(eyes).keys == ("eyes", "proprio", "desired_goal")
    assert EyesExtractor(eyes, policy_sees_achieved_goal=True).features_dim == 20
    with pytest.raises(ValueError, match=r"lacks \['eyes', 'proprio'\]; EyesExtractor expects the Dict of Eyes"):
        EyesExtractor(state)
    with pytest.raises(ValueError, match=r"lacks \['observation'\]; StateVectorExtractor expects FetchPush's state"):
        StateVectorExtractor(eyes)
