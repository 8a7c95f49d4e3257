"""SB3's own ``HerReplayBuffer`` with DrQ's random shifts at sampling time (the memory-hungry baseline)."""

from __future__ import annotations

from stable_baselines3 import HerReplayBuffer
from stable_baselines3.common.type_aliases import DictReplayBufferSamples

from pixelpush_lib.nets.augment import DrQShift, augment_pixels


class DrQHerReplayBuffer(HerReplayBuffer):
    """SB3's ``HerReplayBuffer`` whose sampled pixels get DrQ's random shift (``drq_pad`` pixels)."""

    def __init__(self, *args, drq_pad: int = 4, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.augment = DrQShift(drq_pad)

    def sample(self, batch_size: int, env=None) -> DictReplayBufferSamples:
        return augment_pixels(super().sample(batch_size, env), self.augment)
