"""The eyes: a policy's pixel encoder trained, with simulator labels, to report where the puck is.

:class:`PuckEyes` is the config's encoder (``ManipulationCNN`` + ``SpatialSoftmax`` on Step 1's 4-frame stack, or
SB3's ``NatureCNN`` on Step 0's single frame) followed by one linear head. It reads a frame stack exactly as the
policy receives it and answers the puck's table position ``(x, y)`` in metres and, when the stack holds more than
one frame, its velocity ``(vx, vy)`` in metres per environment step (0.04 s). The labels that train it come from the
simulator (``experiments.investigations.eyes``); nothing but the frames goes in when it is used.

A trained pair of eyes is one file (:func:`save_eyes`): the weights and what built them. :func:`load_eyes` checks
the file's sha256 against the hash the caller expects (the measured manifest's) before torch reads it, and the
saved shapes against the network it builds, so other weights never pass for these.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import torch as th
from gymnasium import spaces
from stable_baselines3.common.torch_layers import NatureCNN
from torch import nn

from pixelpush_lib.core.files import atomic_write, sha256_file
from pixelpush_lib.nets.encoders import (
    ManipulationCNN, SpatialSoftmax, VectorKeysExtractor, policy_vector_keys, run_convs, unit_pixels,
)

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


def load_measured_eyes(encoder: str, seed: int | None = None, measured_dir: Path | str | None = None) -> PuckEyes:
    """The committed eyes of ``encoder`` and ``seed`` from ``data/measured/eyes`` (``None``: the seed validation
    chose; a config names its own), verified against the sha256 its manifest records; ``ValueError`` names the file
    when it does not match, or the measured encoders and seeds when there are no such eyes."""
    from pixelpush_lib.core.paths import MEASURED_DIR
    from pixelpush_lib.results.measured import load_manifest

    measured_dir = Path(measured_dir or MEASURED_DIR)
    summary = load_manifest("eyes", measured_dir)["summary"]
    if encoder not in summary["weights"]:
        raise ValueError(f"no eyes of encoder {encoder!r} in {measured_dir / 'eyes'}; measured: "
                         f"{sorted(summary['weights'])}")
    seed = int(summary["best_seed_by_validation"][encoder] if seed is None else seed)
    entry = summary["weights"][encoder].get(str(seed))
    if entry is None:
        raise ValueError(f"no eyes of {encoder} seed {seed} in {measured_dir / 'eyes'}; seeds: "
                         f"{sorted(summary['weights'][encoder])}")
    eyes = load_eyes(measured_dir / "eyes" / entry["file"], entry["sha256"])
    eyes.sha256 = entry["sha256"]  # what a training run records, so it cannot resume with other eyes
    eyes.seed = seed
    return eyes


class EyesObservation(gym.Wrapper, gym.utils.RecordConstructorArgs):
    """Runs frozen eyes on every observation of ``make_env("pixels")`` and replaces ``pixels`` by what they report.

    The observation becomes ``eyes`` (float32: the puck's ``x, y`` in metres and, from a stack, ``vx, vy`` in metres
    per step), ``proprio``, ``achieved_goal`` and ``desired_goal``. The eyes run once per environment step, here,
    never inside a gradient update, so a replay buffer stores 2 or 4 numbers per observation instead of frames.
    ``achieved_goal`` stays for HER's rewards; whether the policy reads it is the extractor's business
    (:class:`EyesExtractor`). ``render()`` is the newest frame, as for the pixel env.
    """

    metadata = {"render_modes": ["rgb_array"], "render_fps": 25}

    def __init__(self, env: gym.Env, eyes: PuckEyes) -> None:
        gym.utils.RecordConstructorArgs.__init__(self, eyes=eyes)
        gym.Wrapper.__init__(self, env)
        stack = env.observation_space["pixels"].shape[0] // 3
        if stack < eyes.spec.frame_stack:
            raise ValueError(f"these eyes read {eyes.spec.frame_stack} frames, the env stacks {stack}")
        self.eyes = eyes.eval()
        spaces_ = {k: v for k, v in env.observation_space.spaces.items() if k != "pixels"}
        self.observation_space = spaces.Dict(
            {"eyes": spaces.Box(-np.inf, np.inf, (len(eyes.spec.outputs),), np.float32), **spaces_})

    def _observation(self, obs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        frames = obs["pixels"][-3 * self.eyes.spec.frame_stack:]
        out = {k: v for k, v in obs.items() if k != "pixels"}
        return {"eyes": self.eyes.read(frames).astype(np.float32), **out}

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        obs, info = self.env.reset(seed=seed, options=options)
        return self._observation(obs), info

    def step(self, action):
        obs, reward, terminated, truncated, info = self.env.step(action)
        return self._observation(obs), reward, terminated, truncated, info

    def compute_reward(self, achieved_goal, desired_goal, info):
        return self.env.compute_reward(achieved_goal, desired_goal, info)


class EyesExtractor(VectorKeysExtractor):
    """What the eyes report and the vectors the policy may read: ``(B, eyes + proprio + goal)``.

    ``achieved_goal`` (the puck's true position) is left out unless ``policy_sees_achieved_goal``.
    """

    def __init__(self, observation_space: spaces.Dict, policy_sees_achieved_goal: bool = False) -> None:
        super().__init__(observation_space, ("eyes",) + policy_vector_keys(policy_sees_achieved_goal),
                         "the Dict of EyesObservation")
        self.policy_sees_achieved_goal = policy_sees_achieved_goal
