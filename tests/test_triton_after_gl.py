"""Issue 29: a rendered frame, then a model, in one process, with triton importable (as with PyPI's or Colab's torch).

triton's ``libtriton.so`` carries its own LLVM. Mesa's EGL (llvmpipe, software rendering) loads the system's
``libLLVM`` into the process's global symbol scope on the first GL context; a ``libtriton.so`` loaded after that
binds its LLVM symbols to Mesa's and segfaults in its static initialisers. torch imports triton in every
optimizer's constructor (through ``torch._dynamo``), so SB3 crashed in ``SAC.load`` after any rendered frame: the
notebooks of Steps 0 and 1 died in load mode. These tests run in a subprocess each, so a segfault fails one test
instead of killing pytest.
"""

import os
import signal
import subprocess
import sys
from importlib.util import find_spec
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

# What the notebooks do: render (Step 0 measures the puck's footprint on rendered frames), then load a registered
# agent to watch it (SB3's SAC.load builds Adam, which imports triton through torch._dynamo).
RENDER_THEN_LOAD = """
import sys
import pixelpush_lib
from pixelpush_lib.env import make_env

obs, _ = make_env("pixels", seed=0).reset(seed=0)
assert obs["pixels"].std() > 10, "a real frame was rendered"
from pixelpush_lib.training import load_pretrained

model = load_pretrained("state_s0_2m", device="cpu")
print("loaded", type(model.actor.optimizer).__name__, "triton imported:", "triton" in sys.modules)
"""

# A user's own rendering before pixelpush_lib's: too late to load triton safely, so the library must say so.
USER_RENDERS_FIRST = """
import os
os.environ.setdefault("MUJOCO_GL", "egl")
import mujoco
renderer = mujoco.Renderer(mujoco.MjModel.from_xml_string("<mujoco/>"), 8, 8)
renderer.render()
from pixelpush_lib.training import build_model
build_model("state", seed=0, device="cpu")
"""


def _run(code: str, cache: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "MUJOCO_GL": "egl", "PIXELPUSH_CACHE": str(cache), "PYTHONFAULTHANDLER": "1"}
    return subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=120)


@pytest.fixture(autouse=True)
def _triton_is_importable():
    # Not a skip: the dev extras install triton, and without it these tests would pass for the wrong reason.
    assert find_spec("triton") is not None, "triton is not installed here: `make venv` installs it (the dev extras)"


@pytest.mark.slow
def test_a_registered_agent_loads_after_a_rendered_frame(tmp_path):
    result = _run(RENDER_THEN_LOAD, tmp_path)
    assert result.returncode != -signal.SIGSEGV, f"segmentation fault:\n{result.stderr[-3000:]}"
    assert result.returncode == 0, result.stderr[-3000:]
    assert "loaded Adam triton imported: True" in result.stdout


def test_rendering_before_the_library_is_refused_with_a_fix_not_a_segfault(tmp_path):
    result = _run(USER_RENDERS_FIRST, tmp_path)
    assert result.returncode != -signal.SIGSEGV, f"segmentation fault:\n{result.stderr[-3000:]}"
    assert result.returncode == 1
    assert "TritonAfterGLError" in result.stderr
    assert "import pixelpush_lib.env before" in result.stderr
