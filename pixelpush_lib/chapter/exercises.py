"""The exercises at the end of each step: what their solutions call, and how the suite finds and runs them.

Each step's notebook ends with a section ``## Exercises``, cells tagged :data:`EXERCISES_TAG` that
``scripts/insert_exercise_cells.py`` copies there from ``scripts/exercise_cells/step{N}.json``. An exercise is a
sphinx-exercise ``exercise`` directive; its solution spans the cells from a ``solution-start`` directive to a
``solution-end`` one (a dropdown: hidden until the reader asks for it). The solution's code cells are tagged
``skip-execution``, so neither the book nor papermill runs them, and :data:`SOLUTION_TAG`; each opens with its size
knobs, one ``name = value  # what it changes`` line each. What the reader should see is written in the solution's
fenced ``text`` blocks, line for line as the code prints it: ``tests/test_exercises.py`` runs every solution with its
knobs turned down (:func:`run_solution`) and checks those lines against the printout. What each solution costs at
the size it opens with is measured by ``scripts/time_exercises.py --write`` and glued into its question
(:func:`exercise_cost_facts`, run by the one code cell of a section the book executes).
"""

from __future__ import annotations

import contextlib
import io
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from pixelpush_lib.core.paths import DATA_DIR, MEASURED_DIR, NOTEBOOKS_DIR, REPO_ROOT
from pixelpush_lib.experiments.patience import StopRule, stop_decision
from pixelpush_lib.results.loaders import first_reading_at, project_curve
from pixelpush_lib.results.measured import load_manifest
from pixelpush_lib.results.regime import PHASE_NAMES, UNCLASSIFIED, label_phases, slope_per_million

EXERCISES_TAG = "exercises"  # every cell of a notebook's Exercises section
SOLUTION_TAG = "exercise-solution"  # a solution's code cells (with "skip-execution")
EXERCISE_CELLS_DIR = REPO_ROOT / "scripts" / "exercise_cells"
STEPS = (0, 1, 2, 3, 4)

# --- What the solutions call -------------------------------------------------------------------------------------

LOSS_METRICS = ("success_rate", "critic_loss", "actor_loss")


def run_table(config: str, seed: int, data_dir: Path = DATA_DIR) -> pd.DataFrame:
    """One of our own runs of ``config`` (the preferred measured or imported one, ``loaders.project_curve``): a table
    indexed by step with ``success_rate``, ``critic_loss`` and ``actor_loss``, at the steps that logged all three."""
    columns = [project_curve(config, seed, metric, data_dir).set_index("step")["value"].rename(metric)
               for metric in LOSS_METRICS]
    table = pd.concat(columns, axis=1).dropna()
    if table.empty:
        raise LookupError(f"no run of config {config!r}, seed {seed}, logs {', '.join(LOSS_METRICS)} in {data_dir}")
    return table


def own_seeds(config: str, data_dir: Path = DATA_DIR) -> list[int]:
    """The seeds of our own runs of ``config`` in ``data_dir``."""
    return sorted(int(s) for s in project_curve(config, data_dir=data_dir)["seed"].unique())


def stop_rules_on_runs(rules: Iterable[StopRule], config: str = "state", window: int = 5,
                       data_dir: Path = DATA_DIR) -> pd.DataFrame:
    """Each of ``rules`` decided on each seed of our own ``config`` runs, as ``patience.replay_stop_rules`` decides it
    on the author's Step 2 curve (``patience.stop_decision``).

    The phase at a rule's step is :func:`regime.label_phases` over the last ``window`` readings up to it, as the
    regime monitor labels a run while it trains (its default window, 5). One row per (rule, seed): the success seen,
    the phase, the decision, and when the seed then first read 30% and 90% success.
    """
    rows = []
    for seed in own_seeds(config, data_dir):
        table = run_table(config, seed, data_dir)
        success = table["success_rate"].reset_index().rename(columns={"success_rate": "value"})
        for rule in rules:
            seen = table[table.index <= rule.step]
            if seen.empty:
                raise ValueError(f"rule {rule.name!r} decides at step {rule.step}, before {config} seed {seed}'s "
                                 "first reading")
            recent, phase = seen.iloc[-window:], UNCLASSIFIED
            if len(recent) >= 2:
                phase = label_phases(recent.index, *(recent[m] for m in LOSS_METRICS), window=len(recent))[-1].phase
            slope = slope_per_million(seen.index.to_numpy(float), seen["success_rate"].to_numpy())
            last_step, last_success = int(seen.index[-1]), float(seen["success_rate"].iloc[-1])
            reached = {level: first_reading_at(success, level) for level in (0.3, 0.9)}
            rows.append({"rule": rule.name, "seed": seed,
                         "success seen": f"{last_success:.0%} at {last_step / 1e6:.2f}M",
                         "phase there": PHASE_NAMES[phase],
                         "decision": "STOP" if stop_decision(rule, last_success, phase, slope) else "continue",
                         **{f"first >= {level:.0%}": "never" if step is None else f"{step / 1e6:.2f}M"
                            for level, step in reached.items()}})
    return pd.DataFrame(rows).set_index(["rule", "seed"])


# --- Their measured costs -------------------------------------------------------------------------------------

COSTS = "exercise_costs"  # data/measured/exercise_costs: scripts/time_exercises.py --write


def cost_glue_name(label: str) -> str:
    """``exercise_cost_<label>``, the glue name of an exercise's measured cost."""
    return "exercise_cost_" + label.replace("-", "_")


def _about(seconds: float) -> str:
    """A wall time as a reader plans with it: ``about 20 s`` (to 5 s) or ``about 1.5 minutes`` (to half a minute)."""
    if seconds < 90:
        return f"about {max(5, 5 * round(seconds / 5))} s"
    return f"about {round(seconds / 30) / 2:g} minutes"


def exercise_cost_facts(step: int | None = None, measured_dir: Path = MEASURED_DIR) -> dict[str, str]:
    """What the exercises cost, for ``{glue:text}``: :func:`cost_glue_name` of each exercise of ``step`` (every step
    by default), its wall time at the size its solution opens with, and ``exercise_costs_conditions``: the machine
    and how busy it was. Measured by ``scripts/time_exercises.py --write`` into ``data/measured/exercise_costs``."""
    try:
        manifest = load_manifest(COSTS, measured_dir)
    except FileNotFoundError:
        raise FileNotFoundError(f"{Path(measured_dir) / COSTS} is missing; measure it with: "
                                "OMP_NUM_THREADS=1 python scripts/time_exercises.py --write") from None
    costs = pd.read_csv(Path(measured_dir) / COSTS / "costs.csv")
    loads = costs[["load_before", "load_after"]].to_numpy()
    facts = {"exercise_costs_conditions": (
        f"on this project's machine ({manifest['provenance']['machine']['cpus']} CPU cores, one torch thread), while "
        f"other jobs ran on it (load average {loads.min():.0f} to {loads.max():.0f})")}
    for row in costs.itertuples():
        if step is None or row.step == step:
            facts[cost_glue_name(row.label)] = _about(row.wall_s)
    return facts


# --- Finding the exercises and running their solutions ----------------------------------------------------------


def step_notebook(step: int, notebooks_dir: Path = NOTEBOOKS_DIR) -> Path:
    """The notebook of ``step`` (``0N_*.ipynb``)."""
    found = sorted(Path(notebooks_dir).glob(f"{step:02d}_*.ipynb"))
    if len(found) != 1:
        raise LookupError(f"expected one notebook {step:02d}_*.ipynb in {notebooks_dir}, found {len(found)}")
    return found[0]


def _source(cell: Mapping[str, Any]) -> str:
    source = cell["source"]
    return source if isinstance(source, str) else "".join(source)


def _tags(cell: Mapping[str, Any]) -> list[str]:
    return list(cell.get("metadata", {}).get("tags", []))


def waiting_cells(step: int, cells_dir: Path = EXERCISE_CELLS_DIR) -> list[dict[str, Any]]:
    """The Exercises section of ``step`` as written in ``cells_dir/step{N}.json`` (nbformat-4 cells)."""
    return json.loads((Path(cells_dir) / f"step{step}.json").read_text())


def exercise_cells(step: int, notebooks_dir: Path = NOTEBOOKS_DIR,
                   cells_dir: Path = EXERCISE_CELLS_DIR) -> list[dict[str, Any]]:
    """The Exercises section of ``step``: from its notebook once inserted there, else the cells waiting in
    ``cells_dir``."""
    cells = json.loads(step_notebook(step, notebooks_dir).read_text())["cells"]
    inserted = [cell for cell in cells if EXERCISES_TAG in _tags(cell)]
    return inserted or waiting_cells(step, cells_dir)


@dataclass(frozen=True)
class Solution:
    """One exercise and its solution: ``label`` (the exercise's), ``exercise`` (the question's markdown), ``code``
    (the solution's code cells, in order) and ``text`` (the solution's markdown)."""

    step: int
    label: str
    exercise: str
    code: tuple[str, ...]
    text: str

    @property
    def knobs(self) -> dict[str, str]:
        """The size knobs the code opens with: name -> value, as source text."""
        return dict(_knob_lines(self.code[0]))

    @property
    def expected_lines(self) -> list[str]:
        """What the reader should see, line for line: every line of the solution's fenced ``text`` blocks."""
        return [line.strip() for block in re.findall(r"```text\n(.*?)```", self.text, re.S)
                for line in block.splitlines() if line.strip()]

    @property
    def cost_glue(self) -> str:
        """The name its text glues its measured cost under (:func:`exercise_cost_facts`)."""
        return cost_glue_name(self.label)


_EXERCISE = re.compile(r"(?:`{3,}|:{3,})\{exercise\}[^\n]*\n:label: (?P<label>[\w-]+)")
_SOLUTION_START = re.compile(r"```\{solution-start\} (?P<label>[\w-]+)")
_KNOB = re.compile(r"(?P<name>[A-Za-z_]\w*) = (?P<value>.+?)  # .+")


def _knob_lines(code: str) -> list[tuple[str, str]]:
    """The ``name = value  # comment`` lines that open ``code``, as (name, value)."""
    knobs = []
    for line in code.splitlines():
        found = _KNOB.fullmatch(line)
        if found is None:
            break
        knobs.append((found["name"], found["value"]))
    return knobs


def solutions(cells: Sequence[Mapping[str, Any]], step: int) -> list[Solution]:
    """The exercises of one Exercises section, each with its solution (in order)."""
    exercises: dict[str, str] = {}
    found, current = [], None
    for cell in cells:
        source = _source(cell)
        if cell["cell_type"] == "markdown":
            for match in _EXERCISE.finditer(source):
                exercises[match["label"]] = source
            start = _SOLUTION_START.search(source)
            if start:
                current = {"label": start["label"], "code": [], "text": source[start.end():]}
                continue
            if current is not None:
                current["text"] += "\n" + source
                if "```{solution-end}" in source:
                    found.append(current)
                    current = None
        elif current is not None:
            if SOLUTION_TAG not in _tags(cell) or "skip-execution" not in _tags(cell):
                raise ValueError(f"step {step}, solution of {current['label']}: a code cell without the tags "
                                 f"{SOLUTION_TAG!r} and 'skip-execution' (the book would run it)")
            current["code"].append(source)
    if current is not None:
        raise ValueError(f"step {step}: the solution of {current['label']} has no solution-end")
    missing = [s["label"] for s in found if s["label"] not in exercises]
    if missing:
        raise ValueError(f"step {step}: solutions of exercises that are not there: {missing}")
    return [Solution(step, s["label"], exercises[s["label"]], tuple(s["code"]), s["text"]) for s in found]


def with_knobs(code: str, values: Mapping[str, Any]) -> str:
    """``code`` with some of its opening knobs set to ``values`` (``repr`` of each); ``KeyError`` for a name that is
    not one of its knobs."""
    lines = code.splitlines()
    names = [name for name, _ in _knob_lines(code)]
    unknown = sorted(set(values) - set(names))
    if unknown:
        raise KeyError(f"{unknown} are not knobs of this solution; its knobs: {names}")
    for i, name in enumerate(names):
        if name in values:
            lines[i] = f"{name} = {values[name]!r}  # set by the test"
    return "\n".join(lines) + "\n"


def run_solution(solution: Solution, knobs: Mapping[str, Any] | None = None) -> str:
    """Run the solution's code cells in order, in one namespace, with its first cell's ``knobs`` set; return what it
    printed."""
    namespace: dict[str, Any] = {"__name__": "__exercise__"}
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        for i, code in enumerate(solution.code):
            code = with_knobs(code, knobs or {}) if i == 0 else code
            exec(compile(code, f"<{solution.label}, cell {i + 1}>", "exec"), namespace)  # noqa: S102
    return printed.getvalue()
