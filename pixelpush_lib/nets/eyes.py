"""The eyes: a policy's pixel encoder trained, with simulator labels, to report where the puck is.

:class:`PuckEyes` is the config's encoder (``ManipulationCNN`` + ``SpatialSoftmax`` on Step 1's 4-frame stack, or
SB3's ``NatureCNN`` on Step 0's single frame) followed by one linear head. It reads a frame stack exactly as the
policy receives it and answers the puck's table position ``(x, y)`` in metres and, when the stack holds more than
one frame, its velocity ``(vx, vy)`` in metres per environment step (0.04 s). The labels that train it come from the
simulator (``experiments.eyes``); nothing but the frames goes in when it is used.

A trained pair of eyes is one file (:func:`save_eyes`): the weights and what built them. :func:`load_eyes` checks
the file's sha256 against the hash the caller expects (the measured manifest's) before torch reads it, and the
saved shapes against the network it builds, so other weights never pass for these.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch as th
from gymnasium import spaces
from stable_baselines3.common.torch_layers import NatureCNN
from torch import nn

from pixelpush_lib.core.files import atomic_write, sha256_file
from pixelpush_lib.nets.encoders import ManipulationCNN, SpatialSoftmax, run_convs, unit_pixels

EYES_ENCODERS = ("manipulation", "nature")
POSITION_SCALE_M = 0.15  # FetchPush samples the puck within +/-0.15 m of the table's centre
VELOCITY_SCALE_M = 0.02  # metres per step; a pushed puck moves about 1-2 cm per 0.04 s step


@dataclass(frozen=True)
class EyesSpec:
    """What builds a :class:`PuckEyes`: ``encoder`` (one of :data:`EYES_ENCODERS`), ``frame_stack`` (frames per
    input), ``image_size`` (pixels), ``channels`` (ManipulationCNN filters), ``cnn_dim`` (NatureCNN's linear layer)
    and ``centre_xy`` (metres: the table point the position is reported around)."""

    encoder: str
    frame_stack: int
    image_size: int = 84
    channels: int = 32
    cnn_dim: int = 256
    centre_xy: tuple[float, float] = (1.3, 0.75)

    def __post_init__(self) -> None:
        if self.encoder not in EYES_ENCODERS:
            raise ValueError(f"eyes encoder {self.encoder!r} is not valid; allowed: {EYES_ENCODERS}")
        if self.frame_stack < 1:
            raise ValueError(f"eyes frame_stack={self.frame_stack!r} must be >= 1")

    @property
    def sees_velocity(self) -> bool:
        """Whether the stack shows motion (more than one frame), so the eyes report velocity too."""
        return self.frame_stack > 1

    @property
    def outputs(self) -> tuple[str, ...]:
        """Names of what the eyes report, in order (metres, and metres per step)."""
        return ("x", "y", "vx", "vy") if self.sees_velocity else ("x", "y")


class PuckEyes(nn.Module):
    """Encoder + linear head: uint8-range pixels ``(B, 3 * frame_stack, S, S)`` -> ``(B, len(spec.outputs))``,
    the puck's ``(x, y)`` in metres (world frame) and, with a stack, ``(vx, vy)`` in metres per step."""

    def __init__(self, spec: EyesSpec) -> None:
        super().__init__()
        self.spec = spec
        in_channels = 3 * spec.frame_stack
        if spec.encoder == "manipulation":
            self.convs: nn.Module = ManipulationCNN(in_channels, spec.channels).net
            self.pool: nn.Module = SpatialSoftmax(learnable_temperature=True)
            features = 2 * spec.channels
        else:
            space = spaces.Box(0, 255, (in_channels, spec.image_size, spec.image_size), np.uint8)
            nature = NatureCNN(space, features_dim=spec.cnn_dim, normalized_image=False)
            self.convs = nature.cnn.to(memory_format=th.channels_last)
            self.pool = nature.linear  # Linear + ReLU, as the policy's NatureCNN has it
            features = spec.cnn_dim
        self.head = nn.Linear(features, len(spec.outputs))
        scale = [POSITION_SCALE_M] * 2 + [VELOCITY_SCALE_M] * (len(spec.outputs) - 2)
        offset = list(spec.centre_xy) + [0.0] * (len(spec.outputs) - 2)
        # The head answers in scaled units (about [-1, 1]); these buffers turn them into metres.
        self.register_buffer("scale", th.tensor(scale))
        self.register_buffer("offset", th.tensor(offset))

    def features(self, pixels: th.Tensor) -> th.Tensor:
        """``(B, C, S, S)`` pixels in 0..255 -> ``(B, features)``: what the policy's encoder would compute."""
        return self.pool(run_convs(self.convs, unit_pixels(pixels, "fp32"), "fp32"))

    def scaled(self, pixels: th.Tensor) -> th.Tensor:
        """The head's output in training units: ``(metres - offset) / scale``."""
        return self.head(self.features(pixels))

    def forward(self, pixels: th.Tensor) -> th.Tensor:
        return self.scaled(pixels) * self.scale + self.offset

    def to_scaled(self, metres: th.Tensor) -> th.Tensor:
        """Labels in metres -> the head's training units."""
        return (metres - self.offset) / self.scale

    @th.no_grad()
    def read(self, pixels: np.ndarray) -> np.ndarray:
        """One observation's ``pixels`` (``(C, S, S)`` uint8) or a batch -> float64 estimates in metres."""
        batch = th.as_tensor(np.asarray(pixels))
        single = batch.ndim == 3
        out = self(batch[None] if single else batch).double().numpy()
        return out[0] if single else out


def save_eyes(eyes: PuckEyes, path: Path | str) -> str:
    """Write ``eyes`` (spec and weights) atomically to ``path``; returns the file's sha256."""
    payload = {"spec": {**asdict(eyes.spec), "centre_xy": list(eyes.spec.centre_xy)},
               "state_dict": {k: v.detach().cpu() for k, v in eyes.state_dict().items()}}
    with atomic_write(path) as handle:
        th.save(payload, handle)
    return sha256_file(path)


def load_eyes(path: Path | str, sha256: str) -> PuckEyes:
    """The eyes saved at ``path``, in eval mode, after checking the file's hash and the weights' shapes.

    Raises ``ValueError`` naming the file when its sha256 is not ``sha256`` (re-measure with ``python -m
    pixelpush_lib.experiments eyes``, or restore the file from git) or when its weights do not fit its spec;
    ``FileNotFoundError`` when it is missing.
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"eyes file {path} is missing; restore it from git or re-measure it with "
                                "`python -m pixelpush_lib.experiments eyes`")
    found = sha256_file(path)
    if found != sha256:
        raise ValueError(f"eyes file {path} has sha256 {found}, not the {sha256} its manifest records: it is not the "
                         "measured file. Restore it from git (`git checkout -- <file>`) or re-measure the eyes")
    try:
        payload: dict[str, Any] = th.load(path, weights_only=True)
        spec = EyesSpec(**{**payload["spec"], "centre_xy": tuple(payload["spec"]["centre_xy"])})
    except (KeyError, TypeError, RuntimeError) as error:
        raise ValueError(f"eyes file {path} is not a saved PuckEyes ({error})") from None
    eyes = PuckEyes(spec)
    expected = {k: tuple(v.shape) for k, v in eyes.state_dict().items()}
    saved = {k: tuple(v.shape) for k, v in payload["state_dict"].items()}
    if saved != expected:
        wrong = sorted(k for k in set(expected) | set(saved) if expected.get(k) != saved.get(k))
        raise ValueError(f"eyes file {path}: weights do not fit a {spec.encoder} eyes network of its spec "
                         f"(mismatched: {wrong[:4]}{' ...' if len(wrong) > 4 else ''})")
    eyes.load_state_dict(payload["state_dict"])
    return eyes.eval()
