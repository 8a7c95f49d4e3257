# Two commands on a fresh machine: `make book` and `make test`. Each creates .venv and installs
# the pinned packages on first use (requirements/constraints.txt).
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
CONSTRAINTS := requirements/constraints.txt
# CPU-only torch. On these machines pip finds the CPU wheel locally; elsewhere pass
# TORCH_PIP_ARGS="--index-url https://download.pytorch.org/whl/cpu" to avoid a multi-GB CUDA build.
TORCH_PIP_ARGS ?=
export MUJOCO_GL ?= egl

.PHONY: venv test test-fast bench-suite book book-clean screenshots bench-env bench-update bench-memory bench-book bench-train-state bench-train \
	bench-train-bf16 bench-vec clean

$(STAMP): pyproject.toml $(CONSTRAINTS)
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -c $(CONSTRAINTS) $(TORCH_PIP_ARGS) torch
	$(PY) -m pip install --quiet -c $(CONSTRAINTS) -e ".[dev]"
	touch $(STAMP)

venv: $(STAMP)

# The full suite, as CI runs it (.ci/run). TEST_ARGS: what `make test` adds to pytest (bench-suite times the same):
# two xdist workers; --dist loadgroup keeps the tests of the built book on one worker, so it is built once while the
# other worker runs the rest. `make test TEST_ARGS=` runs them in one process.
TEST_ARGS ?= -n 2 --dist loadgroup
test: venv
	$(PY) -m pytest $(TEST_ARGS)

# The developer's loop: everything but the tests marked slow (the book build and its browser checks, training runs,
# papermill, subprocess CLIs). Seconds to a couple of minutes; `make test` still runs all of them.
test-fast: venv
	$(PY) -m pytest -m "not slow" $(TEST_ARGS)

# The full suite's wall time on a fresh clone of HEAD (prints one `suite: N s ...` line; README's "The tests").
bench-suite: venv
	PYTEST_ARGS="$(TEST_ARGS)" scripts/bench_suite.sh

book: venv
	$(VENV)/bin/jupyter-book build . -W --keep-going

# jupyter-cache keys notebooks on their code cells only: a change in pixelpush_lib or data/
# does not invalidate it. Build from clean after such changes (CI does).
book-clean: venv
	rm -rf _build
	$(VENV)/bin/jupyter-book build . -W --keep-going

bench-env: venv
	$(PY) -m pixelpush_lib.bench env

bench-update: venv
	$(PY) -m pixelpush_lib.bench update

# State-agent training, env-steps/s: this project's pipeline vs stock SB3 SAC + HerReplayBuffer, same config.
bench-train-state: venv
	$(PY) -m pixelpush_lib.bench train-state

bench-train: venv
	$(PY) -m pixelpush_lib.bench train --config step2

bench-train-bf16: venv
	$(PY) -m pixelpush_lib.bench train --config step2 --precision bf16

bench-vec: venv
	$(PY) -m pixelpush_lib.bench vec --config step2

bench-memory: venv
	$(PY) -m pixelpush_lib.bench memory

# Wall time of a clean book build and of a cached rebuild (targets: 180 s and 30 s on 2 cores).
bench-book: venv
	$(PY) -m pixelpush_lib.bench book

# Build the book and open every page in Chromium as the browser test does, keeping a full-page screenshot of each page
# at 1280 and 390 px in _build/screenshots/ (the test alone captures only the pages that fail).
screenshots: venv
	PIXELPUSH_SCREENSHOTS=1 $(PY) -m pytest tests/test_browser.py -k page_renders_cleanly

clean:
	rm -rf _build .pytest_cache

# What a Colab learner gets (issue 29): a fresh venv outside the repository ($XDG_CACHE_HOME/pixelpush/colab-check),
# PyPI's default (CUDA) torch and the newest releases the ranges allow (no constraints), the notebooks' first cell,
# every notebook in load mode, every registered checkpoint. Downloads several GB; not part of `make test`.
# Run it before changing a dependency range or the notebooks' first cell.
.PHONY: colab-check
colab-check:
	$(PYTHON) scripts/colab_check.py
