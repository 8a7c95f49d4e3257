"""Replay storage: the HER buffer that keeps each rendered frame once, its file format, and SB3's buffer + DrQ."""

from pixelpush_lib.replay.drq_her import DrQHerReplayBuffer
from pixelpush_lib.replay.frame_her import FrameHerReplayBuffer
from pixelpush_lib.replay.persistence import BufferFileError

__all__ = ["BufferFileError", "DrQHerReplayBuffer", "FrameHerReplayBuffer"]
