"""DrQ's random-shift augmentation (Kostrikov, Yarats & Fergus 2020), applied when a batch is sampled.

Each image is padded by ``pad`` pixels (edge pixels repeated) and cropped back to its size at a
random integer offset, i.e. shifted by up to ``pad`` pixels in x and y. ``obs`` and ``next_obs``
are shifted independently, as in DrQ: Step 4 of the chapter measures what that does to
SpatialSoftmax keypoints.
"""

from __future__ import annotations

from collections.abc import Callable

import torch as th
import torch.nn.functional as F
from stable_baselines3.common.type_aliases import DictReplayBufferSamples

PixelAugment = Callable[[th.Tensor], th.Tensor]  # uint8 (B, C * k, H, W) -> same shape


def random_shift(
    pixels: th.Tensor, pad: int = 4, generator: th.Generator | None = None, return_shifts: bool = False
):
    """Shift each image of ``pixels`` ``(B, C, H, W)`` by a random integer offset in ``[-pad, pad]``.

    Keeps shape, dtype and device. With ``return_shifts`` also returns the ``(B, 2)`` offsets
    ``(dx, dy)`` in pixels (positive = content moved left/up, i.e. the crop window moved right/down).
    """
    if pixels.dim() != 4:
        raise ValueError(f"pixels must be (B, C, H, W), got shape {tuple(pixels.shape)}")
    if pad < 0:
        raise ValueError(f"pad={pad!r} must be >= 0")
    b, _, h, w = pixels.shape
    # replicate-padding is not implemented for uint8 on CPU: pad as float, crop, cast back.
    padded = F.pad(pixels.float(), (pad, pad, pad, pad), mode="replicate")
    offsets = th.randint(0, 2 * pad + 1, (b, 2), generator=generator).to(pixels.device)
    rows = offsets[:, 1, None] + th.arange(h, device=pixels.device)  # (B, H)
    cols = offsets[:, 0, None] + th.arange(w, device=pixels.device)  # (B, W)
    batch = th.arange(b, device=pixels.device)[:, None, None]
    shifted = padded.permute(0, 2, 3, 1)[batch, rows[:, :, None], cols[:, None, :]]  # (B, H, W, C)
    shifted = shifted.permute(0, 3, 1, 2).to(pixels.dtype).contiguous()
    return (shifted, offsets - pad) if return_shifts else shifted


class DrQShift:
    """Picklable callable ``pixels -> shifted pixels`` (a replay buffer's augmentation hook)."""

    def __init__(self, pad: int = 4) -> None:
        self.pad = pad

    def __call__(self, pixels: th.Tensor) -> th.Tensor:
        return random_shift(pixels, self.pad)

    def __repr__(self) -> str:
        return f"DrQShift(pad={self.pad})"


def augment_pixels(samples: DictReplayBufferSamples, augment: PixelAugment,
                   pixel_key: str = "pixels") -> DictReplayBufferSamples:
    """The same samples with ``obs`` and ``next_obs`` pixels augmented independently (DrQ shifts each on its own).

    Every replay buffer that augments goes through here, so there is one DrQ code path.
    """
    augmented = {}
    for name in ("observations", "next_observations"):
        observations = getattr(samples, name)
        pixels = observations[pixel_key]
        shifted = augment(pixels)
        if tuple(shifted.shape) != tuple(pixels.shape):
            raise ValueError(f"pixel_augment changed the pixel shape {tuple(pixels.shape)} to "
                             f"{tuple(shifted.shape)}; it must keep (batch, C * k, H, W)")
        augmented[name] = {**observations, pixel_key: shifted}
    return samples._replace(**augmented)
