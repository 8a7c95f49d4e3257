"""FetchPush-v4 as the policy sees it: 84x84 frames from a table camera, robot-only proprioception, no goal marker."""

from pixelpush_lib.env.rendering import (
    CAMERAS, CameraPreset, FrameRenderer, RenderBackendError, TritonAfterGLError, load_triton_before_gl,
)
from pixelpush_lib.env.wrappers import (
    ENV_ID, PROPRIO_NAMES, GoalEnvReward, NoisyPuckObservation, PixelObservation, make_env,
)

__all__ = [
    "CAMERAS", "ENV_ID", "PROPRIO_NAMES", "CameraPreset", "FrameRenderer", "GoalEnvReward", "NoisyPuckObservation",
    "PixelObservation", "RenderBackendError", "TritonAfterGLError", "load_triton_before_gl", "make_env",
]
