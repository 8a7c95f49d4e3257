"""The data behind the book, loadable without torch or the simulator.

The schema and loaders of ``data/``, the importer of SB3 logs, the author's figures, the named chapter numbers,
the measured experiments' manifests, the checkpoint registry, and the training-regime rules as pure functions.
"""

from pixelpush_lib.results.loaders import load_facts, load_points, load_project_runs, load_runs, project_curve
from pixelpush_lib.results.quoted_numbers import Number, chapter_numbers
from pixelpush_lib.results.schema import DataError

__all__ = [
    "DataError", "Number", "chapter_numbers", "load_facts", "load_points", "load_project_runs", "load_runs",
    "project_curve",
]
