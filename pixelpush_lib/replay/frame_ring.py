"""Where a frame ring lives: host memory (NumPy) or a torch device (a uint8 tensor, gathered there).

On a GPU the ring of a 500K-transition Step 2 buffer (about 11 GB) fits beside the networks, and sampling then
sends only indices to the device instead of about 43 MB of stacked pixels per batch of 256.
"""

from __future__ import annotations

import math

import numpy as np
import torch as th


def to_host(frames: np.ndarray | th.Tensor) -> np.ndarray:
    """Frames as a NumPy array in host memory (a copy only when they live in a tensor)."""
    return frames.cpu().numpy() if isinstance(frames, th.Tensor) else frames


def frame_device_for(requested: th.device | str | None, buffer_device: th.device) -> th.device | None:
    """Where the frame ring lives: ``None`` for host NumPy memory, else a torch device."""
    if requested is None or requested == "numpy":
        return None
    if requested == "auto":
        return buffer_device if th.device(buffer_device).type == "cuda" else None
    return th.device(requested)


def device_ring(shape: tuple[int, ...], device: th.device) -> th.Tensor:
    """A zeroed uint8 frame ring on ``device``; on CUDA, refused with the size needed when it would not fit."""
    needed = math.prod(shape)
    if device.type == "cuda":
        free, _ = th.cuda.mem_get_info(device)
        if needed > 0.9 * free:  # leave room for the networks and the sampled batches
            raise ValueError(
                f"the frame ring needs {needed / 1e9:.1f} GB on {device}, but {free / 1e9:.1f} GB are free; use a "
                "smaller buffer_size, or keep the frames in host memory with "
                "replay_buffer_kwargs=dict(frame_device=None) (sampling is then slower)"
            )
    return th.zeros(shape, dtype=th.uint8, device=device)
