"""Put each step's Exercises section at the end of its notebook, from scripts/exercise_cells/step{N}.json.

    .venv/bin/python scripts/insert_exercise_cells.py            # all five steps
    .venv/bin/python scripts/insert_exercise_cells.py --check    # exit 1 if a notebook's section differs

Idempotent: the cells of a section already there (tagged ``exercises``) are removed first, wherever they are, and the
new ones appended, each with an id of its own derived from its step and place (``exercise-s{N}-{i}``), so running it
twice changes nothing. Every other cell, and the notebook's metadata, are left as they are. The solution cells carry
``skip-execution``: the book and papermill never run them (``tests/test_exercises.py`` does, at a small size).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import nbformat

from pixelpush_lib.chapter.exercises import EXERCISE_CELLS_DIR, EXERCISES_TAG, STEPS, step_notebook, waiting_cells
from pixelpush_lib.core.paths import NOTEBOOKS_DIR


def section(step: int, cells_dir: Path = EXERCISE_CELLS_DIR) -> list[nbformat.NotebookNode]:
    """The step's Exercises section as notebook cells: with ids, and code cells without outputs."""
    cells = []
    for i, cell in enumerate(waiting_cells(step, cells_dir)):
        if EXERCISES_TAG not in cell.get("metadata", {}).get("tags", []):
            raise ValueError(f"step{step}.json, cell {i}: every cell of the section is tagged {EXERCISES_TAG!r}")
        new = nbformat.v4.new_code_cell if cell["cell_type"] == "code" else nbformat.v4.new_markdown_cell
        cells.append(new(cell["source"], metadata=cell["metadata"], id=f"exercise-s{step}-{i}"))
    return cells


def with_section(notebook: nbformat.NotebookNode, cells: list[nbformat.NotebookNode]) -> nbformat.NotebookNode:
    """``notebook`` with its Exercises section replaced by ``cells``, at the end."""
    notebook.cells = [c for c in notebook.cells if EXERCISES_TAG not in c.metadata.get("tags", [])] + cells
    return notebook


def _dump(notebook: nbformat.NotebookNode) -> str:
    # nbformat's own layout, and the final newline the committed notebooks have, so a diff shows only what changed
    return nbformat.writes(notebook) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="change nothing; exit 1 if a section differs")
    parser.add_argument("--notebooks-dir", type=Path, default=NOTEBOOKS_DIR)
    parser.add_argument("--cells-dir", type=Path, default=EXERCISE_CELLS_DIR)
    args = parser.parse_args(argv)
    stale = []
    for step in STEPS:
        path = step_notebook(step, args.notebooks_dir)
        old = path.read_text()
        new = _dump(with_section(nbformat.reads(old, as_version=4), section(step, args.cells_dir)))
        if new == old:
            continue
        stale.append(path.name)
        if not args.check:
            path.write_text(new)
    verb = "differ" if args.check else "updated"
    print(f"{verb}: {', '.join(stale)}" if stale else "every notebook's Exercises section is up to date")
    return 1 if args.check and stale else 0


if __name__ == "__main__":
    sys.exit(main())
