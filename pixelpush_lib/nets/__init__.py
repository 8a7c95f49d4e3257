"""The networks: pixel encoders as SB3 features extractors, the critic-trained encoder routing, DrQ's shift."""

from pixelpush_lib.nets.augment import DrQShift, augment_pixels, random_shift
from pixelpush_lib.nets.encoders import (
    ManipulationCNN, ManipulationExtractor, NatureExtractor, SpatialSoftmax, StateVectorExtractor,
    VectorKeysExtractor,
)
from pixelpush_lib.nets.routing import CriticEncoderPolicy

__all__ = [
    "CriticEncoderPolicy", "DrQShift", "ManipulationCNN", "ManipulationExtractor", "NatureExtractor",
    "SpatialSoftmax", "StateVectorExtractor", "VectorKeysExtractor", "augment_pixels", "random_shift",
]
