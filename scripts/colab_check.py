"""`make colab-check`: what a Colab learner gets, as far as a machine without Colab can show it (issue 29).

In a fresh virtual environment OUTSIDE the repository (``$COLAB_CHECK_DIR``, default
``$XDG_CACHE_HOME/pixelpush/colab-check``; it is deleted and made again on every run):

1. Colab's own stack, stood in for by PyPI's default ``torch`` (a CUDA build that brings ``triton``) and
   ``ipykernel``; ``papermill`` runs the notebooks. No constraints file, not even a site-wide one (``PIP_CONSTRAINT``
   is pointed at an empty file): the newest releases that the package's own ranges allow.
2. The notebooks' first (Colab) cell itself, run by IPython with ``google.colab`` importable, after two
   substitutions: ``REPO_URL`` becomes this repository (a fresh clone of the committed HEAD, as Colab clones the
   public one) and ``/content`` the check's folder. Every ``!`` command must succeed.
3. Every notebook in load mode through papermill, in the clone, with ``MUJOCO_GL`` unset as in Colab.
4. ``load_pretrained`` of every checkpoint in the clone's ``data/checkpoints.json``, each in its own process after a
   rendered pixel frame (as the notebooks do), and one evaluation episode.

Prints the key packages installed, a PASS/FAIL line per notebook and per checkpoint, and exits 1 on any failure
(2 if the setup itself failed). Only the standard library here: it runs with any ``python3`` (3.10+).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS_DIR = "notebooks"
KEY_PACKAGES = ("torch", "triton", "numpy", "stable-baselines3", "gymnasium", "gymnasium-robotics", "mujoco",
                "matplotlib", "pandas", "pillow", "myst-nb", "ipython", "ipykernel", "papermill", "pixelpush-lib")
COLAB_STACK = ("torch", "ipykernel")  # what Colab has before the first cell runs (its torch is a CUDA build)
HARNESS = ("papermill",)  # runs the notebooks here; not something a learner installs
COLAB_DIR = "/content"
NOTEBOOK_TIMEOUT_S = 1800
CHECKPOINT_TIMEOUT_S = 600

# Each checkpoint: a rendered pixel frame first (the notebooks render before they load agents), then the load.
LOAD_ONE = """
import sys
import pixelpush_lib
from pixelpush_lib.env import make_env
from pixelpush_lib.training import evaluate, load_pretrained

make_env("pixels", seed=0).reset(seed=0)
model = load_pretrained(sys.argv[1], device="cpu")
result = evaluate(model, n_episodes=1, seed=0)
print(f"loaded on {model.device}, one episode: success={result['successes'][0]}")
"""

# Runs the first cell as Colab would: IPython, google.colab importable; every `!` command's exit code recorded.
RUN_CELL = """
import json, sys, types
sys.modules["google"] = types.ModuleType("google")
sys.modules["google.colab"] = types.ModuleType("google.colab")
from IPython.core.interactiveshell import InteractiveShell

shell = InteractiveShell.instance()
failed = []
plain_system = shell.system


def checked_system(cmd):
    plain_system(cmd)
    if shell.user_ns.get("_exit_code", 0) != 0:
        failed.append(f"{cmd} (exit {shell.user_ns['_exit_code']})")


shell.system = checked_system
result = shell.run_cell(open(sys.argv[1]).read())
if not result.success:
    sys.exit(f"the cell raised {result.error_in_exec or result.error_before_exec!r}")
if failed:
    sys.exit("a command of the cell failed: " + "; ".join(failed))
"""


def first_cell(notebook: Path) -> str:
    """Source of the notebook's first code cell (the Colab cell)."""
    cells = json.loads(notebook.read_text())["cells"]
    return "".join(next(c for c in cells if c["cell_type"] == "code")["source"])


def colab_cell_here(source: str, repo: str, work: Path) -> str:
    """The Colab cell with this repository for ``REPO_URL`` and ``work`` for ``/content``.

    Raises ``ValueError`` when the cell no longer has the shape these substitutions expect, so that the check fails
    instead of running something else than Colab would.
    """
    url = re.search(r'^\s*REPO_URL = "([^"]+)"', source, flags=re.MULTILINE)
    if url is None or COLAB_DIR not in source:
        raise ValueError(f"the first cell has no REPO_URL = \"...\" line or no {COLAB_DIR} path: update "
                         "scripts/colab_check.py with the cell")
    return source.replace(f'"{url.group(1)}"', json.dumps(repo)).replace(COLAB_DIR, str(work))


def _run(cmd: list[str], log: Path, timeout: float, **kwargs) -> tuple[bool, float]:
    start = time.monotonic()
    with log.open("w") as handle:
        try:
            code = subprocess.run(cmd, stdout=handle, stderr=subprocess.STDOUT, timeout=timeout, **kwargs).returncode
        except subprocess.TimeoutExpired:
            handle.write(f"\ntimed out after {timeout} s\n")
            code = -1
    return code == 0, time.monotonic() - start


def _tail(log: Path, lines: int = 15) -> str:
    return "\n".join("    " + line for line in log.read_text(errors="replace").splitlines()[-lines:])


def _setup(work: Path, env: dict[str, str]) -> Path:
    """The venv with Colab's stack and the Colab cell run; returns the clone. Exits 2 on failure."""
    venv = work / "venv"
    python = str(venv / "bin" / "python")

    def step(what: str, cmd: list[str], **kwargs) -> None:
        log = work / "logs" / f"setup_{len(list((work / 'logs').glob('setup_*')))}.log"
        ok, seconds = _run(cmd, log, timeout=3600, env=env, **kwargs)
        print(f"{'ok  ' if ok else 'FAIL'} {what} ({seconds:.0f} s)", flush=True)
        if not ok:
            print(_tail(log, 30))
            sys.exit(2)

    sources = {nb.name: first_cell(nb) for nb in sorted((ROOT / NOTEBOOKS_DIR).glob("*.ipynb"))}
    if len(set(sources.values())) != 1:
        print("FAIL the notebooks' first cells differ: Colab would get different installs per notebook")
        sys.exit(2)
    cell = colab_cell_here(next(iter(sources.values())), f"file://{ROOT}", work)
    (work / "colab_cell.py").write_text(cell)
    step(f"venv with {sys.executable} ({sys.version.split()[0]})", [sys.executable, "-m", "venv", str(venv)])
    step("pip upgraded", [python, "-m", "pip", "install", "--quiet", "--upgrade", "pip"])
    step(f"Colab's stack stood in for: {' '.join(COLAB_STACK)}; harness: {' '.join(HARNESS)}",
         [python, "-m", "pip", "install", "--quiet", *COLAB_STACK, *HARNESS])
    step("the notebooks' first cell, as Colab runs it (clone + install)",
         [python, "-c", RUN_CELL, str(work / "colab_cell.py")], cwd=work)
    return work / "pixel-push"


def _report_installed(python: str, work: Path, env: dict[str, str]) -> None:
    freeze = subprocess.run([python, "-m", "pip", "freeze"], capture_output=True, text=True, env=env).stdout
    (work / "pip-freeze.txt").write_text(freeze)
    wanted = {k.lower() for k in KEY_PACKAGES}
    print("installed (key packages; all of them in " + str(work / "pip-freeze.txt") + "):")
    for line in freeze.splitlines():
        if line.startswith("-e ") and "egg=pixelpush_lib" in line:  # the clone, installed by the Colab cell
            print(f"  pixelpush-lib (editable: {line[3:]})")
        elif re.split(r"[=@ ]", line)[0].lower().replace("_", "-") in wanted:
            print("  " + line)
    build = subprocess.run([python, "-c", "import torch; print(f'torch CUDA build {torch.version.cuda}, "
                            "GPU here: {torch.cuda.is_available()}')"], capture_output=True, text=True, env=env)
    print("  " + (build.stdout.strip() or build.stderr.strip()[-200:]))


def main() -> int:
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    work = Path(os.environ.get("COLAB_CHECK_DIR") or cache / "pixelpush" / "colab-check").resolve()
    if work == ROOT or ROOT in work.parents:
        print(f"COLAB_CHECK_DIR={work} is inside the repository; the check needs a folder outside it")
        return 2
    dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=ROOT, capture_output=True,
                           text=True).stdout.strip()
    head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True).stdout
    print(f"colab-check of commit {head.strip()} (a fresh clone, as Colab clones"
          f"{'; uncommitted changes are NOT checked' if dirty else ''}) in {work}", flush=True)
    shutil.rmtree(work, ignore_errors=True)
    (work / "logs").mkdir(parents=True)
    env = {k: v for k, v in os.environ.items() if k not in ("MUJOCO_GL", "VIRTUAL_ENV", "PYTHONPATH")}
    env.update(PIP_CONSTRAINT=os.devnull, PIXELPUSH_CACHE=str(work / "cache"), PATH=f"{work / 'venv' / 'bin'}:"
               + env.get("PATH", ""))
    clone = _setup(work, env)
    python = str(work / "venv" / "bin" / "python")
    _report_installed(python, work, env)

    results: list[tuple[str, bool]] = []
    (work / "executed").mkdir()
    for notebook in sorted((clone / NOTEBOOKS_DIR).glob("*.ipynb")):
        log = work / "logs" / f"{notebook.stem}.log"
        ok, seconds = _run([str(work / "venv" / "bin" / "papermill"), str(notebook),
                            str(work / "executed" / notebook.name), "-p", "mode", "load", "--cwd", str(clone),
                            "--no-progress-bar"], log, NOTEBOOK_TIMEOUT_S, env=env)
        results.append((f"notebook {notebook.name}", ok))
        print(f"{'PASS' if ok else 'FAIL'} notebook {notebook.name} in load mode ({seconds:.0f} s)", flush=True)
        if not ok:
            print(_tail(log))
    names = [entry["name"] for entry in json.loads((clone / "data" / "checkpoints.json").read_text())["checkpoints"]]
    for name in names:
        log = work / "logs" / f"checkpoint_{name}.log"
        ok, seconds = _run([python, "-c", LOAD_ONE, name], log, CHECKPOINT_TIMEOUT_S, env=env, cwd=clone)
        results.append((f"checkpoint {name}", ok))
        # MuJoCo's renderers may print EGL errors at interpreter exit (envs left open): the line that counts is ours
        said = [line for line in log.read_text(errors="replace").splitlines() if line.startswith("loaded on")]
        print(f"{'PASS' if ok else 'FAIL'} checkpoint {name}: load_pretrained ({seconds:.0f} s) {''.join(said)}",
              flush=True)
        if not ok:
            print(_tail(log))
    failed = [what for what, ok in results if not ok]
    print(f"colab-check: {len(results) - len(failed)} passed, {len(failed)} failed"
          + (f" ({', '.join(failed)})" if failed else ""))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
