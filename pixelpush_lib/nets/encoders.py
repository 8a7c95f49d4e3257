"""Pixel encoders: what the network *can* see (Steps 0 and 1 of the chapter).

* ``ManipulationCNN``: four 3x3 convolutions that halve the image only twice (84->42->42->42->21),
  so a 6-px puck still covers several cells of the final map (measured: book, Step 0).
* ``SpatialSoftmax``: turns each feature map into the expected (x, y) of where it fires.
* ``NatureExtractor`` / ``ManipulationExtractor``: SB3 features extractors for the Dict observation
  of ``wrappers.make_env("pixels")``.

Which vectors reach the policy is explicit (``policy_vector_keys``): by default ``proprio`` and
``desired_goal``, never ``achieved_goal``, which is the puck's true position and would let the agent
solve the task without looking. ``policy_sees_achieved_goal=True`` reproduces the author's reported
runs, which did feed it.

The extractors scale uint8 pixels to [0, 1] themselves, so SB3 must not: policies using them are
built with ``normalize_images=False`` (``pixelpush_lib.training.runs`` does this).
"""

from __future__ import annotations

import torch as th
from gymnasium import spaces
from stable_baselines3.common.torch_layers import BaseFeaturesExtractor, NatureCNN
from torch import nn

from pixelpush_lib.core.configs import CONV_PRECISIONS

DEFAULT_POLICY_VECTORS = ("proprio", "desired_goal")


def policy_vector_keys(policy_sees_achieved_goal: bool = False) -> tuple[str, ...]:
    """The observation vectors concatenated to the pixel features, in order."""
    if policy_sees_achieved_goal:
        return DEFAULT_POLICY_VECTORS + ("achieved_goal",)
    return DEFAULT_POLICY_VECTORS



class VectorKeysExtractor(BaseFeaturesExtractor):
    """Concatenates a fixed tuple of the observation's vector keys, in order: ``(B, sum of their sizes)``.

    SB3's ``CombinedExtractor`` concatenates *every* key, ``achieved_goal`` (the puck's true position) included; an
    extractor built on this one reads its ``keys`` and nothing else, so what a policy may see is written down once.
    ``expects`` names the observation it is meant for, for the error when a key is missing.
    """

    def __init__(self, observation_space: spaces.Dict, keys: tuple[str, ...], expects: str) -> None:
        missing = [k for k in keys if k not in observation_space.spaces]
        if missing:
            raise ValueError(f"observation space lacks {missing}; {type(self).__name__} expects {expects}")
        super().__init__(observation_space, features_dim=sum(int(observation_space[k].shape[0]) for k in keys))
        self.keys = keys

    def forward(self, observations: dict[str, th.Tensor]) -> th.Tensor:
        return th.cat([observations[k].float() for k in self.keys], dim=1)


class StateVectorExtractor(VectorKeysExtractor):
    """The state policy's input without ``achieved_goal``: ``(B, 25 + 3)``, the state vector and ``desired_goal``.

    A policy that reads the puck through noise (``NoisyPuckObservation``) must not be handed the truth beside it.
    """

    def __init__(self, observation_space: spaces.Dict) -> None:
        super().__init__(observation_space, ("observation", "desired_goal"), "FetchPush's state Dict")


# The encoders' conv geometry, (kernel, stride, padding) per layer: the networks are built from it, and the
# footprint experiment and its figure read it, so the arithmetic of Step 0 is the arithmetic of the code.
ConvLayer = tuple[int, int, int]
MANIPULATION_LAYERS: tuple[ConvLayer, ...] = ((3, 2, 1), (3, 1, 1), (3, 1, 1), (3, 2, 1))
NATURE_LAYERS: tuple[ConvLayer, ...] = ((8, 4, 0), (4, 2, 0), (3, 1, 0))  # SB3's NatureCNN (a test checks it)


def map_size(layers: tuple[ConvLayer, ...], image_size: int = 84) -> int:
    """Side of the last feature map for a square ``image_size`` input (84 -> 21 for ManipulationCNN)."""
    for kernel, stride, padding in layers:
        image_size = (image_size + 2 * padding - kernel) // stride + 1
    return image_size


def total_stride(layers: tuple[ConvLayer, ...]) -> int:
    """Input pixels between neighbouring cells of the last map (4 for ManipulationCNN)."""
    product = 1
    for _, stride, _ in layers:
        product *= stride
    return product


def check_conv_precision(precision: str) -> str:
    """``precision`` itself, or ``ValueError`` naming the allowed ones."""
    if precision not in CONV_PRECISIONS:
        raise ValueError(f"conv precision {precision!r} is not valid; allowed: {CONV_PRECISIONS}")
    return precision


def unit_pixels(pixels: th.Tensor, precision: str) -> th.Tensor:
    """``(B, C, H, W)`` pixel values in 0..255 (uint8, or the float32 copy SB3 hands a policy) -> [0, 1], in
    channels-last layout and in the dtype the first convolution reads (bfloat16 for ``precision="bf16"``)."""
    dtype = th.bfloat16 if precision == "bf16" else th.float32
    return pixels.to(dtype, memory_format=th.channels_last).div_(255.0)


def run_convs(convs: nn.Module, pixels: th.Tensor, precision: str) -> th.Tensor:
    """``convs(pixels)`` for ``(B, C, H, W)`` pixels in [0, 1], in channels-last layout and in ``precision``;
    the result is float32.

    Channels-last (NHWC) is the layout oneDNN and cuDNN prefer for small convolutions, with the same float32
    arithmetic (measured on this project's CPU machine: ``python -m pixelpush_lib.bench train``).
    """
    pixels = pixels.contiguous(memory_format=th.channels_last)
    with th.autocast(pixels.device.type, dtype=th.bfloat16, enabled=precision == "bf16"):
        features = convs(pixels)
    return features.float()


class ManipulationCNN(nn.Module):
    """3x3 convolutions, ``channels`` filters each, strides 2, 1, 1, 2, padding 1 (:data:`MANIPULATION_LAYERS`).

    Input ``(B, in_channels, 84, 84)`` in [0, 1]; output ``(B, channels, 21, 21)`` float32, computed in
    ``precision`` (one of :data:`CONV_PRECISIONS`).
    """

    def __init__(self, in_channels: int, channels: int = 32, precision: str = "fp32") -> None:
        super().__init__()
        self.precision = check_conv_precision(precision)
        layers: list[nn.Module] = []
        for i, (kernel, stride, padding) in enumerate(MANIPULATION_LAYERS):
            conv = nn.Conv2d(in_channels if i == 0 else channels, channels, kernel, stride, padding)
            layers += [conv, nn.ReLU(inplace=True)]  # in place: the convolution's backward never reads its output
        self.net = nn.Sequential(*layers).to(memory_format=th.channels_last)

    def forward(self, pixels: th.Tensor) -> th.Tensor:
        return run_convs(self.net, pixels, self.precision)


class SpatialSoftmax(nn.Module):
    """Expected image coordinates of each channel's activation (Levine et al. / Finn et al. 2016).

    Input ``(B, C, H, W)``; output ``(B, 2C)`` ordered ``(x_0, y_0, x_1, y_1, ...)`` with x growing to
    the right and y growing downwards, both in [-1, 1] (cell centres at ``linspace(-1, 1, W)``).
    ``temperature`` divides the logits; with ``learnable_temperature`` it is trained (kept positive).
    """

    def __init__(self, temperature: float = 1.0, learnable_temperature: bool = False) -> None:
        super().__init__()
        if temperature <= 0:
            raise ValueError(f"temperature={temperature!r} must be > 0")
        log_t = th.tensor(float(temperature)).log()
        if learnable_temperature:
            self.log_temperature = nn.Parameter(log_t)
        else:
            self.register_buffer("log_temperature", log_t)

    def keypoints(self, features: th.Tensor) -> th.Tensor:
        """``(B, C, H, W)`` -> ``(B, C, 2)`` expected (x, y) per channel."""
        b, c, h, w = features.shape
        attention = th.softmax(features.reshape(b, c, h * w) / self.log_temperature.exp(), dim=-1)
        attention = attention.reshape(b, c, h, w)
        xs = th.linspace(-1.0, 1.0, w, device=features.device, dtype=features.dtype)
        ys = th.linspace(-1.0, 1.0, h, device=features.device, dtype=features.dtype)
        x = (attention.sum(dim=2) * xs).sum(dim=-1)  # marginal over rows, then E[x]
        y = (attention.sum(dim=3) * ys).sum(dim=-1)
        return th.stack((x, y), dim=-1)

    def forward(self, features: th.Tensor) -> th.Tensor:
        return self.keypoints(features).flatten(start_dim=1)


def _require_keys(observation_space: spaces.Space, vector_keys: tuple[str, ...]) -> None:
    present = sorted(getattr(observation_space, "spaces", {}))
    missing = [k for k in ("pixels",) + vector_keys if k not in present]
    if missing:
        raise ValueError(
            f"observation space lacks {missing}; these extractors expect the Dict of "
            f"make_env('pixels'), got keys {present}"
        )


class _PixelsPlusVectors(BaseFeaturesExtractor):
    """Shared plumbing: encode ``pixels``, then append the allowed vectors."""

    # It takes the replay buffer's tensors as they are (uint8 pixels), so a policy may skip SB3's preprocessing.
    reads_raw_observations = True

    def __init__(self, observation_space: spaces.Dict, pixel_dim: int, policy_sees_achieved_goal: bool,
                 precision: str) -> None:
        self.vector_keys = policy_vector_keys(policy_sees_achieved_goal)
        _require_keys(observation_space, self.vector_keys)
        vector_dim = sum(int(observation_space[k].shape[0]) for k in self.vector_keys)
        super().__init__(observation_space, features_dim=pixel_dim + vector_dim)
        self.policy_sees_achieved_goal = policy_sees_achieved_goal
        self.precision = check_conv_precision(precision)

    def encode_pixels(self, pixels: th.Tensor) -> th.Tensor:
        """``(B, C, H, W)`` pixels in [0, 1] -> ``(B, pixel_dim)`` float32 features."""
        raise NotImplementedError

    def forward(self, observations: dict[str, th.Tensor]) -> th.Tensor:
        pixels = unit_pixels(observations["pixels"], self.precision)
        vectors = [observations[k].float() for k in self.vector_keys]
        return th.cat([self.encode_pixels(pixels), *vectors], dim=1)


class NatureExtractor(_PixelsPlusVectors):
    """SB3's NatureCNN (8x8/4, 4x4/2, 3x3/1: 84->20->9->7, then Linear to ``cnn_dim``) on the pixels.

    Output ``(B, cnn_dim + vectors)``. The Step 0 baseline: SB3's default image encoder (its convolutions run as
    :func:`run_convs` says, in ``precision``).
    """

    def __init__(
        self, observation_space: spaces.Dict, cnn_dim: int = 256, policy_sees_achieved_goal: bool = False,
        precision: str = "fp32",
    ) -> None:
        super().__init__(observation_space, cnn_dim, policy_sees_achieved_goal, precision)
        self.cnn = NatureCNN(observation_space["pixels"], features_dim=cnn_dim)
        self.cnn.cnn.to(memory_format=th.channels_last)

    def encode_pixels(self, pixels: th.Tensor) -> th.Tensor:
        return self.cnn.linear(run_convs(self.cnn.cnn, pixels, self.precision))


class ManipulationExtractor(_PixelsPlusVectors):
    """ManipulationCNN, then SpatialSoftmax keypoints (``2 * channels`` values) or, with
    ``spatial_softmax=False``, the flattened 21x21 map (``channels * 21 * 21`` values).

    Output ``(B, pixel_dim + vectors)``; 32 channels, proprio and desired goal give 64 + 10 + 3 = 77. The
    convolutions compute in ``precision`` (:func:`run_convs`).
    """

    def __init__(
        self,
        observation_space: spaces.Dict,
        channels: int = 32,
        spatial_softmax: bool = True,
        learnable_temperature: bool = True,
        policy_sees_achieved_goal: bool = False,
        precision: str = "fp32",
    ) -> None:
        _require_keys(observation_space, policy_vector_keys(policy_sees_achieved_goal))
        pixel_space = observation_space["pixels"]
        cnn = ManipulationCNN(pixel_space.shape[0], channels, precision)
        with th.no_grad():
            map_shape = cnn(th.zeros(1, *pixel_space.shape)).shape[1:]
        pixel_dim = 2 * channels if spatial_softmax else int(map_shape.numel())
        super().__init__(observation_space, pixel_dim, policy_sees_achieved_goal, precision)
        self.cnn = cnn
        self.pool: nn.Module = (
            SpatialSoftmax(learnable_temperature=learnable_temperature) if spatial_softmax else nn.Flatten()
        )

    def encode_pixels(self, pixels: th.Tensor) -> th.Tensor:
        return self.pool(self.cnn(pixels))
