"""The exercises at the end of each step: every solution runs at a small size and prints what its text says.

The cells come from the notebooks once ``scripts/insert_exercise_cells.py`` has put them there, else from
``scripts/exercise_cells/`` (``chapter.exercises.exercise_cells``). Each solution's fenced ``text`` blocks say what
the reader will see, line for line; here every such line must appear in what the solution prints with its knobs set
to :data:`SMALL`.
"""

import importlib.util
import json
import re
import shutil
from pathlib import Path

import pytest
import yaml

from pixelpush_lib.chapter.exercises import (SOLUTION_TAG, STEPS, exercise_cells, exercise_cost_facts, run_solution,
                                             solutions, with_knobs)

ROOT = Path(__file__).resolve().parents[1]

# A SAC run at test size, as tests/test_notebooks.py trains one (48x48 frames, two stacked, small nets), in one process
# and with 50 gradient steps: 200 steps are the 4 episodes after which SB3 logs its first row.
TINY_RUN = {"n_envs": 2, "learning_starts": 150, "batch_size": 8, "buffer_size": 1000, "image_size": 48,
            "frame_stack": 2, "cnn_channels": 8, "cnn_dim": 32, "net_arch": [32, 32], "vec_env": "dummy"}

#: The knobs each solution runs with here; a solution missing from it fails the suite (none goes untested).
SMALL = {
    "ex-stride-or-kernel": {"n_states": 3},
    "ex-another-camera": {"n_frames": 16},
    "ex-keypoints-or-map": {"n_train": 16, "steps": 2},
    "ex-actor-loss-off": {"batch_size": 8},
    "ex-cell-b": {"total_steps": 200, "overrides": {**TINY_RUN, "spatial_softmax": False}, "device": "cpu"},
    "ex-own-stop-rule": {},
    "ex-own-thresholds": {},
    "ex-another-pad": {"n_states": 12},
    "ex-close-range": {"n_states": 24},
    "ex-cell-c": {"total_steps": 200, "overrides": {**TINY_RUN, "spatial_softmax": False}, "device": "cpu"},
}
#: Longer than a few seconds at their SMALL sizes on the 2-core machine.
SLOW = {"ex-another-camera", "ex-keypoints-or-map", "ex-actor-loss-off", "ex-cell-b", "ex-cell-c"}


def _all_solutions():
    return [solution for step in STEPS for solution in solutions(exercise_cells(step), step)]


SOLUTIONS = {solution.label: solution for solution in _all_solutions()}


def test_every_step_has_an_exercise_and_every_solution_a_small_size():
    assert {solution.step for solution in SOLUTIONS.values()} == set(STEPS)
    assert len(SOLUTIONS) == len(_all_solutions()), "two exercises share a label"
    assert set(SOLUTIONS) == set(SMALL), "every solution runs here, with its own small size"


@pytest.mark.parametrize("label", sorted(SOLUTIONS))
def test_an_exercise_states_its_cost_its_knobs_and_what_the_reader_will_see(label):
    solution = SOLUTIONS[label]
    assert f"{{glue:text}}`{solution.cost_glue}`" in solution.exercise, f"{label}: glue its measured cost"
    assert solution.cost_glue in exercise_cost_facts(solution.step), f"{label}: time it (scripts/time_exercises.py)"
    assert solution.knobs, f"{label}: a solution opens with its knobs (name = value  # what it changes)"
    assert set(SMALL[label]) <= set(solution.knobs)
    assert solution.expected_lines, f"{label}: say what the reader will see, in a ```text block"


def test_knobs_are_the_opening_assignments_and_only_those_change():
    code = "n_states = 12  # how many\nsteps = 3  # how long\nprint(n_states)\nn_states = 5  # not a knob: after code\n"
    assert with_knobs(code, {"n_states": 2}).splitlines()[:3] == [
        "n_states = 2  # set by the test", "steps = 3  # how long", "print(n_states)"]
    with pytest.raises(KeyError, match="not knobs"):
        with_knobs(code, {"print": 1})


def _run(label, tmp_path, monkeypatch):
    knobs = dict(SMALL[label])
    if "run_dir" in SOLUTIONS[label].knobs:
        knobs["run_dir"] = str(tmp_path / "run")
    monkeypatch.chdir(tmp_path)  # anything a solution writes stays out of the repository
    printed = run_solution(SOLUTIONS[label], knobs)
    missing = [line for line in SOLUTIONS[label].expected_lines if line not in printed]
    assert not missing, f"{label}: its text says the reader sees {missing}; it printed:\n{printed}"
    return printed


@pytest.mark.parametrize("label", sorted(set(SOLUTIONS) - SLOW))
def test_a_solution_prints_what_its_text_says(label, tmp_path, monkeypatch):
    _run(label, tmp_path, monkeypatch)


@pytest.mark.slow
@pytest.mark.parametrize("label", sorted(SLOW & set(SOLUTIONS)))
def test_a_long_solution_prints_what_its_text_says(label, tmp_path, monkeypatch):
    _run(label, tmp_path, monkeypatch)


def test_the_book_never_runs_a_solution_and_glues_the_costs():
    """myst-nb and papermill skip cells tagged skip-execution (nbclient's tag): no solution slows the build. The one
    code cell a section runs glues its exercises' measured costs."""
    for step in STEPS:
        code = [cell for cell in exercise_cells(step) if cell["cell_type"] == "code"]
        solution_cells = [cell for cell in code if SOLUTION_TAG in cell["metadata"]["tags"]]
        assert all("skip-execution" in cell["metadata"]["tags"] for cell in solution_cells)
        (glue,) = [cell for cell in code if SOLUTION_TAG not in cell["metadata"]["tags"]]
        assert f"exercise_cost_facts(step={step})" in "".join(glue["source"])
    facts = exercise_cost_facts()
    assert set(facts) == {s.cost_glue for s in SOLUTIONS.values()} | {"exercise_costs_conditions"}
    assert all(re.fullmatch(r"about [\d.]+ (s|minutes)", facts[s.cost_glue]) for s in SOLUTIONS.values())


def test_sphinx_exercise_is_pinned_installed_and_loaded():
    config = yaml.safe_load((ROOT / "_config.yml").read_text())
    assert "sphinx_exercise" in config["sphinx"]["extra_extensions"]
    assert "sphinx-exercise==1.2.1" in (ROOT / "requirements" / "constraints.txt").read_text().splitlines()
    assert re.search(r'"sphinx-exercise[>=~]', (ROOT / "pyproject.toml").read_text())
    assert importlib.util.find_spec("sphinx_exercise") is not None


def _insert_script():
    path = ROOT / "scripts" / "insert_exercise_cells.py"
    spec = importlib.util.spec_from_file_location("insert_exercise_cells", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_inserting_the_sections_twice_changes_nothing_else(tmp_path):
    notebooks = tmp_path / "notebooks"
    shutil.copytree(ROOT / "notebooks", notebooks)
    before = {p.name: json.loads(p.read_text()) for p in notebooks.glob("*.ipynb")}
    insert = _insert_script()
    assert insert.main(["--notebooks-dir", str(notebooks)]) == 0
    once = {p.name: p.read_text() for p in notebooks.glob("*.ipynb")}
    assert insert.main(["--notebooks-dir", str(notebooks), "--check"]) == 0
    assert insert.main(["--notebooks-dir", str(notebooks)]) == 0
    assert {p.name: p.read_text() for p in notebooks.glob("*.ipynb")} == once
    for step in STEPS:
        path = next(notebooks.glob(f"{step:02d}_*.ipynb"))
        cells = json.loads(path.read_text())["cells"]
        others = [c for c in before[path.name]["cells"] if "exercises" not in c["metadata"].get("tags", [])]
        assert cells[:len(others)] == others, f"{path.name}: the rest of the notebook changed"
        section = cells[len(others):]
        assert section[0]["source"][0].startswith("## Exercises")
        assert [c["source"] for c in section] == [_lines(c["source"]) for c in json.loads(
            (ROOT / "scripts" / "exercise_cells" / f"step{step}.json").read_text())]
        ids = [c["id"] for c in cells]
        assert len(set(ids)) == len(ids)
        # read back from the notebook, the section is the one the solutions above ran from
        assert [s.label for s in solutions(section, step)] == [s.label for s in SOLUTIONS.values() if s.step == step]


def _lines(source):
    """A cell's source as nbformat stores it: a list of lines, each but the last with its newline."""
    return source.splitlines(keepends=True)


# --- The knobs the exercises turn: each keeps the library's default behaviour ---------------------------------------


def test_an_encoder_of_ones_own_has_the_geometry_of_its_layers():
    from pixelpush_lib.experiments.footprint import layer_geometry
    from pixelpush_lib.nets.encoders import NATURE_LAYERS

    assert layer_geometry(NATURE_LAYERS) == layer_geometry("NatureCNN")
    assert [g.rf for g in layer_geometry(((8, 2, 0), (4, 2, 0), (3, 1, 0)))] == [8, 14, 22]


def test_the_probe_without_spatial_softmax_reads_the_flattened_map():
    from pixelpush_lib.experiments.probe import PuckProbe

    assert PuckProbe("manipulation", channels=4, spatial_softmax=False).head.in_features == 4 * 21 * 21
    assert PuckProbe("manipulation", channels=4).head.in_features == 2 * 4
    with pytest.raises(ValueError, match="NatureCNN has none"):
        PuckProbe("nature", spatial_softmax=False)


def test_only_sacs_losses_can_be_switched_on():
    from pixelpush_lib.experiments.gradflow import LOSSES, GradFlowSettings

    assert GradFlowSettings().losses == LOSSES
    with pytest.raises(ValueError, match="not SAC's"):
        GradFlowSettings(losses=("reconstruction loss",))


def test_a_stop_rule_decides_on_our_own_runs_as_on_the_authors_curve():
    from pixelpush_lib.chapter.exercises import stop_rules_on_runs
    from pixelpush_lib.experiments.patience import STOP_RULES, StopRule, replay_stop_rules

    budget = next(rule for rule in STOP_RULES if rule.max_success is None and not rule.needs_phase1)
    never = StopRule("never", "hypothetical", 1_000_000, 0.0, False, "nothing reads below 0%")
    on_state = stop_rules_on_runs((budget, never))
    assert (on_state.loc[budget.name, "decision"] == "STOP").all()  # "stop regardless", as on the author's curve
    assert (on_state.loc["never", "decision"] == "continue").all()
    assert replay_stop_rules(rules=(budget,)).loc[budget.name, "decision"] == "STOP"
