import atexit
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

os.environ.setdefault("MUJOCO_GL", "egl")
# One torch thread in every process the tests start (CLI runs, notebook kernels, the book build's kernels): they run
# beside the test process, MuJoCo's renderer and, under xdist, a second worker. Two threads per process on two busy
# cores spin-wait: the kill -9 test's three runs took minutes of CPU that way instead of seconds.
os.environ.setdefault("OMP_NUM_THREADS", "1")
# One cache per test session (downloaded checkpoints, the results of data/ kept between processes), shared by its
# xdist workers, CLI runs and the book build's kernels, which inherit it: a session starts as cold as on a fresh
# machine, never reads what another session or the user's pages left in ~/.cache, and writes nothing there.
if "PYTEST_XDIST_WORKER" not in os.environ:  # the controlling process (or a run without xdist)
    os.environ["PIXELPUSH_CACHE"] = tempfile.mkdtemp(prefix="pixelpush-cache-")
    atexit.register(shutil.rmtree, os.environ["PIXELPUSH_CACHE"], ignore_errors=True)

import pytest  # noqa: E402
import torch  # noqa: E402

import pixelpush_lib  # noqa: E402,F401  (before anything imports mujoco)

# The test process itself: both cores when it runs alone, one per xdist worker (`make test` runs two).
torch.set_num_threads(1 if os.environ.get("PYTEST_XDIST_WORKER") else 2)


#: A test that takes longer than this (seconds, on the 2-core machine) belongs under ``@pytest.mark.slow``: the
#: end of a run lists any that is not (``make test-fast`` deselects ``slow``).
SLOW_S = 5.0
#: Fixtures whose users are slow without saying so: the session's clean book build, and the module fixtures that
#: train, teach or evaluate a model (a test that shares one is deselected with it, or the fixture would still run).
SLOW_FIXTURES = ("built_book", "finished_run", "quick_run", "never_stopped", "served", "state_run", "quick_folder",
                 "gradflow_table", "agent")  # agent: tests/test_pixel_agent.py loads the state agent and its eyes


#: The test files of the built book. `--dist loadgroup` runs them on one worker (pytest_xdist_make_scheduler below),
#: so the session's book (`built_book`) is built once while the other worker runs everything else.
BOOK_TEST_FILES = ("tests/test_book.py", "tests/test_browser.py")


def xdist_scope(nodeid: str) -> str:
    """The scope ``--dist loadgroup`` keeps on one worker: ``"book"`` for the book's tests, else the test itself."""
    return "book" if nodeid.startswith(BOOK_TEST_FILES) else nodeid


def pytest_xdist_make_scheduler(config, log):
    """xdist's ``loadgroup`` with the book's files as one group, chosen by file, not by ``xdist_group`` marker.

    xdist 3.8 puts a marked test in its group by appending ``@group`` to ``item._nodeid``, which pytest 9 no longer
    reads (a node's id lives in ``item._id``): the marker was silently ignored and both workers built the book
    (test_book's and test_browser's setups took 100 s each in one run). A scheduler that groups by file needs no
    private attribute."""
    if config.getvalue("dist") != "loadgroup":
        return None
    from xdist.scheduler import LoadGroupScheduling

    class BookOnOneWorker(LoadGroupScheduling):
        def _split_scope(self, nodeid: str) -> str:
            return xdist_scope(nodeid)

    return BookOnOneWorker(config, log)


def pytest_collection_modifyitems(config, items):
    """Every test that uses one of ``SLOW_FIXTURES`` is ``slow``; a test of the built book outside
    ``BOOK_TEST_FILES`` is refused, or a second worker would build the book again.

    Without a CUDA GPU the ``cuda`` tests are deselected, not skipped: they cannot run here and are not CI's to
    run (``scripts/gpu_check.sh`` runs them with ``-m cuda`` on a GPU machine). The header says how many."""
    for item in items:
        fixtures = getattr(item, "fixturenames", ())
        if any(name in fixtures for name in SLOW_FIXTURES):
            item.add_marker(pytest.mark.slow)
        if "built_book" in fixtures and not item.nodeid.startswith(BOOK_TEST_FILES):
            raise pytest.UsageError(f"{item.nodeid} uses built_book: move it into one of {BOOK_TEST_FILES}, the "
                                    "files xdist runs on one worker, or the book is built twice")
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


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    """Name the tests that ran longer than ``SLOW_S`` without the ``slow`` marker (mark them, or make them
    faster): ``make test-fast`` stays fast only if slow tests say so."""
    unmarked = []
    for report in terminalreporter.stats.get("passed", []) + terminalreporter.stats.get("failed", []):
        if report.when in ("setup", "call") and report.duration > SLOW_S and "slow" not in report.keywords:
            unmarked.append(f"{report.duration:6.1f}s {report.when:5} {report.nodeid}")
    if unmarked:
        terminalreporter.write_sep("=", f"over {SLOW_S:.0f} s without @pytest.mark.slow (mark them)")
        for line in sorted(unmarked, reverse=True):
            terminalreporter.write_line(line)


def once_per_session(tmp_path_factory, name: str, build: Callable[[Path], Path]) -> Path:
    """What ``build(folder)`` returns, built once per session even under xdist, where each worker would otherwise run
    a module fixture again for its share of the module's tests (the scheduler spreads a module's tests over both).

    The first worker to ask builds in a folder of the session's (shared by its workers), under a file lock; the other
    waits and gets the same path. Only for results the tests read and never change: both workers read them at once.
    """
    from filelock import FileLock

    root = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        root = root.parent  # the session's folder
    folder, done = root / f"once-{name}", root / f"once-{name}.result"
    with FileLock(str(root / f"once-{name}.lock")):
        if done.exists():
            return Path(done.read_text())
        shutil.rmtree(folder, ignore_errors=True)  # a build that failed earlier in this session left it half made
        folder.mkdir()
        result = Path(build(folder))
        done.write_text(str(result))
        return result


@pytest.fixture(scope="session")
def footprint_result():
    """Step 0's puck footprint on 3 real states (tests/test_exp_footprint.py checks it, tests/test_glue_producers.py
    glues its facts): measured once per session."""
    from pixelpush_lib.experiments.footprint import measure_footprint

    return measure_footprint(n_states=3)


@pytest.fixture(scope="session")
def gradflow_table():
    """Step 2's encoder-gradient table at the quick sizes (tests/test_exp_gradflow.py checks its pattern,
    tests/test_glue_producers.py glues its facts): measured once per session."""
    from pixelpush_lib.experiments.gradflow import GradFlowSettings, measure_gradient_flow

    return measure_gradient_flow(GradFlowSettings(batch_size=8, episodes=1))


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


def _claim_the_only_book_build(tmp_path_factory) -> None:
    """Fails the book's tests when another xdist worker of this session already built the book: the scheduler above
    stopped keeping ``BOOK_TEST_FILES`` on one worker, and the suite pays for the build twice."""
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    if worker is None:
        return
    claim = tmp_path_factory.getbasetemp().parent / "book-built-by"   # the session's folder, shared by its workers
    try:
        fd = os.open(claim, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
    except FileExistsError:
        pytest.fail(f"{worker} was about to build the book a second time ({claim.read_text()} built it): run with "
                    f"--dist loadgroup, which keeps {BOOK_TEST_FILES} on one worker", pytrace=False)
    with os.fdopen(fd, "w") as out:
        out.write(worker)


@pytest.fixture(scope="session")
def built_book(tmp_path_factory) -> BuiltBook:
    """Builds the book once per session from a clean output folder (the build CI relies on, about a minute).

    tests/test_book.py asserts that it succeeds; tests/test_browser.py opens its pages in Chromium.
    """
    _claim_the_only_book_build(tmp_path_factory)
    out = tmp_path_factory.mktemp("book")
    jupyter_book = Path(sys.executable).with_name("jupyter-book")
    start = time.perf_counter()
    result = subprocess.run(
        [str(jupyter_book), "build", str(ROOT), "-W", "--keep-going", "--path-output", str(out)],
        capture_output=True, text=True, timeout=1200, cwd=ROOT,
    )
    return BuiltBook(html=out / "_build" / "html", returncode=result.returncode,
                     log=result.stdout + result.stderr, seconds=time.perf_counter() - start)
