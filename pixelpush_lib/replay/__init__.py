"""Replay storage: the HER buffer that keeps each rendered frame once, its file format, SB3's buffer + DrQ, and the
expert-labelled observations the pixel students learn from."""

from pixelpush_lib.replay.drq_her import DrQHerReplayBuffer
from pixelpush_lib.replay.frame_her import FrameHerReplayBuffer
from pixelpush_lib.replay.labelled import LabelStore, VectorStore
from pixelpush_lib.replay.persistence import BufferFileError

__all__ = ["BufferFileError", "DrQHerReplayBuffer", "FrameHerReplayBuffer", "LabelStore", "VectorStore"]
