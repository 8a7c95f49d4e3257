"""Headless MuJoCo rendering: the GL backend, the camera presets and an 84x84 renderer.

MuJoCo reads ``MUJOCO_GL`` once, when ``mujoco`` is first imported, so
``pixelpush_lib/__init__.py`` sets it (default ``egl``) before anything imports
``mujoco``. This module turns a missing GL stack into an error that says what to
install instead of a PyOpenGL traceback.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from importlib.util import find_spec
from pathlib import Path

import numpy as np

# Debian/Ubuntu packages that provide each backend MuJoCo can use headless.
GL_PACKAGES = {
    "egl": "libegl1 libegl-mesa0 libgl1-mesa-dri (or the NVIDIA driver's EGL)",
    "osmesa": "libosmesa6",
    "glfw": "a display (X11/Wayland) and libglfw3; use MUJOCO_GL=egl on a headless machine",
}


class RenderBackendError(RuntimeError):
    """No working OpenGL backend: raised instead of the backend's own traceback."""


def _backend_hint(error: BaseException) -> str:
    import pixelpush_lib

    if pixelpush_lib.MUJOCO_IMPORTED_BEFORE_GL_SETUP:
        return (
            f"MuJoCo could not create an OpenGL context ({type(error).__name__}: {error}).\n"
            "mujoco was imported before pixelpush_lib with MUJOCO_GL unset, so it chose its default backend "
            "(glfw, which needs a display) before pixelpush_lib could select egl.\n"
            "Fix: import pixelpush_lib before mujoco (or anything that imports it), or set MUJOCO_GL=egl in the "
            "environment before Python starts."
        )
    backend = os.environ.get("MUJOCO_GL", "<unset>")
    packages = GL_PACKAGES.get(backend, GL_PACKAGES["egl"])
    return (
        f"MuJoCo could not set up OpenGL with MUJOCO_GL={backend} "
        f"({type(error).__name__}: {error}).\n"
        f"Fix: install {packages}, or choose another backend by setting MUJOCO_GL "
        "(egl on a headless Linux box or Colab, osmesa for pure-software rendering, glfw with a display) "
        "in the environment BEFORE Python imports mujoco or pixelpush_lib."
    )


class TritonAfterGLError(RuntimeError):
    """triton would be loaded after Mesa's LLVM in this process, where it segfaults: raised before torch tries."""


def _mapped_llvm() -> str | None:
    """Path of a shared ``libLLVM`` already mapped into this process (Mesa's llvmpipe brings one), or None."""
    try:
        maps = Path("/proc/self/maps").read_text()
    except OSError:  # not Linux: no Mesa-through-EGL clash known there
        return None
    for line in maps.splitlines():
        fields = line.split(maxsplit=5)  # address, perms, offset, device, inode, and the path (none if anonymous)
        if len(fields) == 6 and os.path.basename(fields[5]).startswith("libLLVM"):
            return fields[5]
    return None


def load_triton_before_gl(strict: bool = False) -> None:
    """Import ``triton`` now, before any OpenGL context, when it is installed and not imported yet.

    Why: ``triton/_C/libtriton.so`` carries its own LLVM with visible symbols. Mesa's EGL and OSMesa (llvmpipe,
    software rendering) load the system's ``libLLVM`` into the process's global symbol scope with the first GL
    context. A ``libtriton.so`` loaded after that binds its LLVM symbols to Mesa's (another LLVM version) and
    segfaults in its static initialisers (seen with triton 3.8.0 beside Debian's libLLVM-15). Loaded first, as a
    Python extension (``RTLD_LOCAL``), it stays out of that scope, and Mesa's LLVM binds to itself. PyPI's CUDA
    torch (Colab's too) brings triton and imports it in every optimizer's constructor (through ``torch._dynamo``),
    so without this SB3's ``SAC``/``SAC.load`` crashed after any rendered frame. Costs about 0.4 s, only where
    triton is installed (never with the pinned CPU torch).

    ``strict``: where triton can no longer be loaded safely (a ``libLLVM`` is already mapped, i.e. something
    rendered before this module was imported), raise :class:`TritonAfterGLError` with the fix instead of
    returning; the model builders call it so, since torch would import triton next.
    """
    if "triton" in sys.modules or find_spec("triton") is None:
        return
    llvm = _mapped_llvm()
    if llvm is None:
        import triton  # noqa: F401  (loads libtriton.so while no other LLVM is in the global scope)
    elif strict:
        raise TritonAfterGLError(
            f"OpenGL was set up before triton was loaded ({llvm} is mapped, Mesa's software renderer), so torch "
            "would segfault when it imports triton to build this model's optimizer.\n"
            "Fix: restart Python (in a notebook, the kernel) and import pixelpush_lib.env before anything renders "
            "(gym.make(..., render_mode=...), mujoco.Renderer); or import triton first yourself."
        )


load_triton_before_gl()

# mujoco loads the GL backend named by MUJOCO_GL at import time, and a missing library surfaces
# as an AttributeError deep inside PyOpenGL: translate it here, once.
try:
    import mujoco
except (ImportError, AttributeError, RuntimeError, OSError) as _error:
    raise RenderBackendError(_backend_hint(_error)) from _error


@dataclass(frozen=True)
class CameraPreset:
    """A free camera: it looks at ``lookat`` (metres, world frame) from ``distance`` metres,
    turned ``azimuth`` degrees about the vertical and tilted ``elevation`` degrees (negative = from above)."""

    lookat: tuple[float, float, float]
    distance: float
    azimuth: float
    elevation: float

    def to_mjv(self) -> mujoco.MjvCamera:
        cam = mujoco.MjvCamera()
        cam.type = mujoco.mjtCamera.mjCAMERA_FREE
        cam.lookat[:] = self.lookat
        cam.distance = self.distance
        cam.azimuth = self.azimuth
        cam.elevation = self.elevation
        return cam


# "table" frames the table from the side opposite the robot, tilted 45 degrees down: at 84x84
# the puck is about 6 px wide and at least half visible in ~98% of random-action states
# (measured with segmentation masks; see tests/test_wrappers.py and book/intro.md).
# Looking straight down hides the puck under the arm far more often (at least half visible in
# ~60% of states); Gymnasium-Robotics' default view (distance 2.5) shows the whole robot instead.
CAMERAS: dict[str, CameraPreset] = {
    "table": CameraPreset(lookat=(1.3, 0.75, 0.45), distance=1.0, azimuth=180.0, elevation=-45.0),
    "side": CameraPreset(lookat=(1.3, 0.75, 0.42), distance=1.0, azimuth=90.0, elevation=-40.0),
    "overhead": CameraPreset(lookat=(1.3, 0.75, 0.42), distance=1.0, azimuth=180.0, elevation=-89.9),
    "robotics_default": CameraPreset(lookat=(1.3, 0.75, 0.55), distance=2.5, azimuth=132.0, elevation=-14.0),
}


class FrameRenderer:
    """Renders RGB frames (and segmentation masks) of one MuJoCo model from a fixed camera.

    Sites (the red goal marker ``target0`` among them) are not drawn: under HER relabelling the drawn goal would
    contradict ``desired_goal``. ``show_goal=True`` draws them, for videos made for readers only. Shadows and reflections are switched off; they
    cost a third of the software-rendering time and carry no information the policy needs.
    """

    def __init__(self, model: mujoco.MjModel, size: int, camera: CameraPreset, show_goal: bool = False) -> None:
        try:
            self._renderer = mujoco.Renderer(model, size, size)
            self._model = model
        except Exception as error:  # PyOpenGL/EGL raise a zoo of types; all mean "no GL"
            raise RenderBackendError(_backend_hint(error)) from error
        self._camera = camera.to_mjv()
        self._options = mujoco.MjvOption()
        if not show_goal:  # a reader's view may show the goal marker; a policy's never does
            self._options.sitegroup[:] = 0
        flags = self._renderer.scene.flags
        flags[mujoco.mjtRndFlag.mjRND_SHADOW] = 0
        flags[mujoco.mjtRndFlag.mjRND_REFLECTION] = 0

    def rgb(self, data: mujoco.MjData) -> np.ndarray:
        """One frame as uint8 ``(3, size, size)``, channels first."""
        self._renderer.update_scene(data, self._camera, self._options)
        return np.ascontiguousarray(self._renderer.render().transpose(2, 0, 1))

    def segmentation(self, data: mujoco.MjData) -> np.ndarray:
        """Object ids and types as int32 ``(size, size, 2)`` (-1 where nothing is hit)."""
        self._renderer.enable_segmentation_rendering()
        try:
            self._renderer.update_scene(data, self._camera, self._options)
            return self._renderer.render().copy()
        finally:
            self._renderer.disable_segmentation_rendering()

    def geom_mask(self, data: mujoco.MjData, geom_name: str) -> np.ndarray:
        """Boolean ``(size, size)`` mask of the pixels showing geom ``geom_name``."""
        geom_id = mujoco.mj_name2id(self._model, mujoco.mjtObj.mjOBJ_GEOM, geom_name)
        if geom_id < 0:
            raise ValueError(f"no geom named {geom_name!r} in this model")
        seg = self.segmentation(data)
        return (seg[..., 0] == geom_id) & (seg[..., 1] == mujoco.mjtObj.mjOBJ_GEOM)

    def close(self) -> None:
        self._renderer.close()


def mask_extent(mask: np.ndarray) -> tuple[int, int]:
    """Width and height in pixels of the bounding box of a boolean mask; (0, 0) if it is empty."""
    rows, cols = np.nonzero(mask)
    if rows.size == 0:
        return 0, 0
    return int(cols.max() - cols.min() + 1), int(rows.max() - rows.min() + 1)
