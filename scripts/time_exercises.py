"""Time each exercise's solution at the size it opens with: the cost its text states.

    OMP_NUM_THREADS=1 .venv/bin/python scripts/time_exercises.py [LABEL ...] [--show]
    OMP_NUM_THREADS=1 .venv/bin/python scripts/time_exercises.py --write     # every exercise, into data/measured

Each solution runs in a fresh Python process with one torch thread (imports included, as in a fresh Colab kernel),
from a temporary directory; its wall time is printed beside the machine's load average before and after it, so a
cost measured while other work ran says so. ``--show`` prints what each solution printed (its verdicts at the stated
size). ``--write`` times every exercise and writes ``data/measured/exercise_costs/`` (costs.csv, with provenance),
which the notebooks glue into the exercises' text (``chapter.exercises.exercise_cost_facts``). An exercise whose
full size needs a GPU is timed at :data:`ON_A_CPU` instead, the size its text quotes for a CPU.
"""

from __future__ import annotations

import argparse
import ast
import os
import shlex
import subprocess
import sys
import tempfile
import time

import pandas as pd

from pixelpush_lib.chapter.exercises import COSTS, STEPS, exercise_cells, solutions
from pixelpush_lib.experiments.store import write_measured

#: Knobs for the exercises whose full size is a GPU's: the CPU run their text quotes.
ON_A_CPU = {"ex-cell-b": {"total_steps": 600}, "ex-cell-c": {"total_steps": 600}}

RUN_ONE = """
import ast, sys, torch
torch.set_num_threads(1)
from pixelpush_lib.chapter.exercises import exercise_cells, run_solution, solutions
step, label, knobs = int(sys.argv[1]), sys.argv[2], ast.literal_eval(sys.argv[3])
solution = next(s for s in solutions(exercise_cells(step), step) if s.label == label)
print(run_solution(solution, knobs))
"""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("labels", nargs="*", help="exercises to time (default: all)")
    parser.add_argument("--show", action="store_true", help="print what each solution printed, too")
    parser.add_argument("--write", action="store_true", help="time every exercise into data/measured/" + COSTS)
    args = parser.parse_args(argv)
    if args.write and args.labels:
        parser.error("--write times every exercise: name none")
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    start_all, rows = time.perf_counter(), []
    for step in STEPS:
        for solution in solutions(exercise_cells(step), step):
            if args.labels and solution.label not in args.labels:
                continue
            knobs = ON_A_CPU.get(solution.label, {})
            load_before = os.getloadavg()[0]
            start = time.perf_counter()
            with tempfile.TemporaryDirectory() as workdir:
                done = subprocess.run([sys.executable, "-c", RUN_ONE, str(step), solution.label, repr(knobs)],
                                      cwd=workdir, env=env, capture_output=True, text=True)
            wall, load_after = time.perf_counter() - start, os.getloadavg()[0]
            if done.returncode != 0:
                print(done.stdout, done.stderr, sep="\n")
                raise SystemExit(f"{solution.label} failed")
            print(f"{solution.label}: {wall:.0f} s; knobs {knobs or 'as written'}; "
                  f"load average {load_before:.1f} before, {load_after:.1f} after", flush=True)
            if args.show:
                print(done.stdout, flush=True)
            rows.append({"step": step, "label": solution.label, "wall_s": round(wall, 1),
                         "load_before": round(load_before, 2), "load_after": round(load_after, 2),
                         "knobs": repr(knobs) if knobs else "as written"})
    if args.write:
        table = pd.DataFrame(rows)
        folder = write_measured(COSTS, {"costs.csv": lambda path: table.to_csv(path, index=False)},
                                {"torch_threads": 1, "knobs": {**ON_A_CPU}},
                                shlex.join(["OMP_NUM_THREADS=1", "python", "scripts/time_exercises.py", "--write"]),
                                time.perf_counter() - start_all, {"exercises": len(table)})
        print(f"wrote {folder}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
