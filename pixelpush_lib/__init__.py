"""pixelpush_lib: SAC + HER on FetchPush-v4 from 84x84 pixels, one module per idea.

Importing the package sets ``MUJOCO_GL`` to ``egl`` unless it is already set, because MuJoCo
reads it only once, at its own first import. Import ``pixelpush_lib`` before ``mujoco``.
"""

import os
import sys

# If mujoco was imported before us, it already chose its backend from the environment as it was then;
# rendering.py uses this to explain a failure instead of blaming the backend we set too late.
MUJOCO_IMPORTED_BEFORE_GL_SETUP = "mujoco" in sys.modules and "MUJOCO_GL" not in os.environ
os.environ.setdefault("MUJOCO_GL", "egl")

__version__ = "0.1.0"
