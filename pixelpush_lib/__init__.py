"""pixelpush_lib: SAC + HER on FetchPush-v4 from 84x84 pixels, one module per idea.

Importing the package sets ``MUJOCO_GL`` to ``egl`` unless it is already set, because MuJoCo
reads it only once, at its own first import. Import ``pixelpush_lib`` before ``mujoco``.
"""

import os

os.environ.setdefault("MUJOCO_GL", "egl")

__version__ = "0.1.0"
