"""pixelpush_lib: SAC + HER on FetchPush-v4 from 84x84 pixels, the library behind the Pixel Push chapter.

Subpackages, lowest layer first (each imports only from those below it; ``pyproject.toml`` enforces it):
``core`` (configs, paths, file writes), ``results`` (the data behind the book, no torch), ``env``, ``nets``,
``replay``, ``training``, ``experiments``, ``chapter``, ``sweeps``, and ``cli``/``bench`` on top.

Importing the package sets ``MUJOCO_GL`` to ``egl`` unless it is already set, because MuJoCo reads it only once,
at its own first import: import ``pixelpush_lib`` before ``mujoco``. The names below are imported on first use,
so ``import pixelpush_lib.results`` stays free of torch and the simulator.
"""

import importlib
import os
import sys

from pixelpush_lib.core.version import __version__

# If mujoco was imported before us, it already chose its backend from the environment as it was then;
# env/rendering.py uses this to explain a failure instead of blaming the backend we set too late.
MUJOCO_IMPORTED_BEFORE_GL_SETUP = "mujoco" in sys.modules and "MUJOCO_GL" not in os.environ
os.environ.setdefault("MUJOCO_GL", "egl")

_PUBLIC = {
    "make_env": "pixelpush_lib.env",
    "NatureExtractor": "pixelpush_lib.nets",
    "ManipulationExtractor": "pixelpush_lib.nets",
    "CriticEncoderPolicy": "pixelpush_lib.nets",
    "FrameHerReplayBuffer": "pixelpush_lib.replay",
    "get_config": "pixelpush_lib.core",
    "build_model": "pixelpush_lib.training",
    "train": "pixelpush_lib.training",
    "load_pretrained": "pixelpush_lib.training",
}
__all__ = ["__version__", *_PUBLIC]


def __getattr__(name: str):
    if name in _PUBLIC:
        value = getattr(importlib.import_module(_PUBLIC[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'pixelpush_lib' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
