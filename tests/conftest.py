import os

os.environ.setdefault("MUJOCO_GL", "egl")

import pytest  # noqa: E402
import torch  # noqa: E402

import pixelpush_lib  # noqa: E402,F401  (before anything imports mujoco)

# Two cores: keep torch from oversubscribing them next to MuJoCo's renderer.
torch.set_num_threads(2)


@pytest.fixture(scope="module")
def pixel_env():
    from pixelpush_lib.env.wrappers import make_env

    env = make_env("pixels", seed=0)
    yield env
    env.close()
