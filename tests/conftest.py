import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

os.environ.setdefault("MUJOCO_GL", "egl")

import pytest  # noqa: E402
import torch  # noqa: E402

import pixelpush_lib  # noqa: E402,F401  (before anything imports mujoco)

# Two cores: keep torch from oversubscribing them next to MuJoCo's renderer.
torch.set_num_threads(2)


def pytest_collection_modifyitems(config, items):
    """Without a CUDA GPU the ``cuda`` tests are deselected, not skipped: they cannot run here and are not CI's to
    run (``scripts/gpu_check.sh`` runs them with ``-m cuda`` on a GPU machine). The header says how many."""
    if torch.cuda.is_available():
        return
    cuda = [item for item in items if item.get_closest_marker("cuda")]
    if cuda:
        config.hook.pytest_deselected(items=cuda)
        items[:] = [item for item in items if not item.get_closest_marker("cuda")]
        config._pixelpush_cuda_deselected = len(cuda)


def pytest_report_collectionfinish(config, start_path, items):
    count = getattr(config, "_pixelpush_cuda_deselected", 0)
    return [f"no CUDA GPU: {count} cuda-marked tests deselected (scripts/gpu_check.sh runs them)"] if count else []


@pytest.fixture(scope="module")
def pixel_env():
    from pixelpush_lib.env.wrappers import make_env

    env = make_env("pixels", seed=0)
    yield env
    env.close()


ROOT = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class BuiltBook:
    """One clean `jupyter-book build -W --keep-going` of the repository, shared by the whole test session."""

    html: Path  # <out>/_build/html
    returncode: int
    log: str  # stdout + stderr
    seconds: float  # wall time of the build


@pytest.fixture(scope="session")
def built_book(tmp_path_factory) -> BuiltBook:
    """Builds the book once per session from a clean output folder (the build CI relies on, about a minute).

    tests/test_book.py asserts that it succeeds; tests/test_browser.py opens its pages in Chromium.
    """
    out = tmp_path_factory.mktemp("book")
    jupyter_book = Path(sys.executable).with_name("jupyter-book")
    start = time.perf_counter()
    result = subprocess.run(
        [str(jupyter_book), "build", str(ROOT), "-W", "--keep-going", "--path-output", str(out)],
        capture_output=True, text=True, timeout=1200, cwd=ROOT,
    )
    return BuiltBook(html=out / "_build" / "html", returncode=result.returncode,
                     log=result.stdout + result.stderr, seconds=time.perf_counter() - start)
