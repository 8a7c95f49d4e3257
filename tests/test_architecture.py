"""The library's shape: layered subpackages with the Investigations' code apart and no import circle (import-linter
contracts), a results layer that loads without torch or the simulator, a lazy public API, and modules short enough
to read."""

from __future__ import annotations

import importlib
import json
import subprocess
import sys
from pathlib import Path

import pytest

import pixelpush_lib

PACKAGE = Path(pixelpush_lib.__file__).parent
SIMULATOR_STACK = ("torch", "mujoco", "gymnasium", "gymnasium_robotics", "stable_baselines3")
SUBPACKAGES = ("core", "results", "env", "nets", "replay", "training", "experiments", "chapter", "sweeps")


def _lint_imports() -> subprocess.CompletedProcess:
    exe = Path(sys.executable).with_name("lint-imports")
    return subprocess.run([str(exe), "--no-cache"], cwd=PACKAGE.parent, capture_output=True, text=True, timeout=300)


def test_import_contracts_hold():
    done = _lint_imports()
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    assert "4 kept, 0 broken" in done.stdout


@pytest.mark.slow
@pytest.mark.parametrize("module, added, refusal", [
    ("results/schema.py", "from pixelpush_lib.training.runs import train",
     "pixelpush_lib.results.schema -> pixelpush_lib.training.runs"),
    ("experiments/footprint.py", "from pixelpush_lib.experiments.investigations.eyes import score",
     "Illegal imports of protected package pixelpush_lib.experiments.investigations"),
    ("experiments/scenes.py", "from pixelpush_lib.experiments.probe import PuckProbe",
     "No cycles are allowed in pixelpush_lib.experiments"),
], ids=["a lower layer importing a higher one", "a step importing an investigation", "an import circle"])
def test_each_contract_refuses_what_it_forbids(module, added, refusal, tmp_path):
    """Positive controls: the contracts can fail. A copy of the package with one import added is refused."""
    copy = tmp_path / "repo"
    copy.mkdir()
    subprocess.run(["cp", "-r", str(PACKAGE), str(copy / "pixelpush_lib")], check=True)
    subprocess.run(["cp", str(PACKAGE.parent / "pyproject.toml"), str(copy)], check=True)
    bad = copy / "pixelpush_lib" / module
    bad.write_text(bad.read_text() + f"\n{added}  # noqa\n")
    exe = Path(sys.executable).with_name("lint-imports")
    done = subprocess.run([str(exe), "--no-cache"], cwd=copy, capture_output=True, text=True, timeout=300,
                          env={"PYTHONPATH": str(copy), "PATH": "/usr/bin:/bin"})
    assert done.returncode != 0
    assert "BROKEN" in done.stdout and refusal in done.stdout


def test_results_layer_loads_every_data_file_without_the_simulator_stack():
    code = (
        "import json, sys\n"
        "from pixelpush_lib.results import chapter_numbers, load_facts, load_points, load_runs\n"
        "from pixelpush_lib.results.measured import load_manifest\n"
        "from pixelpush_lib.results.registry import registered_checkpoints\n"
        "from pixelpush_lib.results.regime import label_phases\n"
        "n = len(load_points()) + len(load_runs()) + len(load_facts()) + len(chapter_numbers())\n"
        "load_manifest('probe'); registered_checkpoints()\n"
        f"print(json.dumps({{'rows': n, 'loaded': sorted(m for m in {list(SIMULATOR_STACK)!r} if m in sys.modules)}}))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["rows"] > 100
    assert result["loaded"] == []


def test_a_notebook_checks_its_parameters_without_importing_torch():
    """A wrong papermill parameter fails in the first cell in about a second, not after torch's and SB3's imports;
    the exercises' costs and the stop rules glue without them too (as the intro does), and the curves and tables
    draw without them (a page that only plots curves starts seconds sooner)."""
    code = ("import sys\n"
            "from pixelpush_lib.chapter.notebook import ParameterError, check_parameters\n"
            "from pixelpush_lib.chapter.exercises import exercise_cost_facts\n"
            "from pixelpush_lib.experiments.patience import patience_facts\n"
            "from pixelpush_lib.chapter.figures import plot_success  # a page that only plots curves\n"
            "from pixelpush_lib.chapter.tables import Bullets  # the data notes' tables\n"
            "try:\n"
            "    check_parameters('lod', 'step2', 0, None, None, {}, 'auto')\n"
            "except ParameterError as error:\n"
            "    print(error)\n"
            "print(sorted(m for m in ('torch', 'stable_baselines3', 'mujoco') if m in sys.modules))\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    refused, loaded = done.stdout.strip().splitlines()[-2:]
    assert "parameter mode='lod' is not valid" in refused
    assert loaded == "[]"


def test_public_api_is_lazy_and_complete():
    done = subprocess.run([sys.executable, "-c", "import sys, pixelpush_lib; print('torch' in sys.modules)"],
                          capture_output=True, text=True, timeout=120)
    assert done.stdout.strip() == "False", done.stderr
    expected = {"make_env", "NatureExtractor", "ManipulationExtractor", "CriticEncoderPolicy", "FrameHerReplayBuffer",
                "get_config", "build_model", "train", "load_pretrained"}
    assert expected <= set(pixelpush_lib.__all__)
    for name in pixelpush_lib.__all__:
        assert getattr(pixelpush_lib, name) is not None
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        pixelpush_lib.nope  # noqa: B018


@pytest.mark.parametrize("name", SUBPACKAGES)
def test_each_subpackage_declares_what_it_exports(name):
    module = importlib.import_module(f"pixelpush_lib.{name}")
    assert module.__doc__ and module.__all__
    for exported in module.__all__:
        assert hasattr(module, exported), f"pixelpush_lib.{name}.__all__ names {exported}, which it does not define"


def test_no_module_is_longer_than_a_reader_can_follow():
    lengths = {str(p.relative_to(PACKAGE)): len(p.read_text().splitlines()) for p in PACKAGE.rglob("*.py")}
    too_long = {p: n for p, n in lengths.items() if n > 400}
    assert not too_long, f"modules over 400 lines: {too_long}"
