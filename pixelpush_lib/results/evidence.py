"""What the chapter's claims are checked against (every row of ``data/`` and the named numbers), the bounds its
prose states, and the helpers every checker shares."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from pixelpush_lib.results.loaders import load_points
from pixelpush_lib.results.quoted_numbers import Number, chapter_numbers

LOW_BAND = 0.15  # "flat", "stays low" where the prose states no band: the chapter's failure band
SOLVED = 0.80  # "solves": what the state agent reaches by 2M (the author reported 89%)
CONVERGED = 0.90  # Step 2 "converges above 90%"
FAR_BELOW = 0.5  # "far below the mean predictor": at most half its error
PROPRIO_ONLY_RUN = "proprio_only_nopix_run1_seed0"  # the "What is not in the chapter" page's run without pixels
PIXEL_STEPS = ("step0", "step1", "step2", "step4")
EARLIER_TUTORIAL, EARLIER_TUTORIAL_LINES = "tutorials/ch04_her_sparse_reach_push.md", (523, 941)  # the seed means
HAIR = 0.05  # "a hair above zero": a success trend below this (fraction per 1M steps)


@dataclass(frozen=True)
class Evidence:
    """What the claims are checked against, loaded once: every row of ``data_dir`` and the chapter numbers."""

    data_dir: Path
    points: pd.DataFrame
    numbers: dict[str, Number]

    @classmethod
    def load(cls, data_dir: Path) -> Evidence:
        points = load_points(data_dir)
        return cls(Path(data_dir), points, chapter_numbers(data_dir, points))


@dataclass(frozen=True)
class Claim:
    """``sentence``: what the chapter says; ``check(evidence)``: the violations (empty when the data agree)."""

    name: str
    sentence: str
    check: Callable[[Evidence], list[str]]


def success_rows(data: Evidence, config: str) -> pd.DataFrame:
    """Every success-rate row of ``config``, any provenance and kind."""
    points = data.points
    return points[(points["config"] == config) & (points["metric"] == "success_rate")]


def top_values(rows: pd.DataFrame) -> pd.Series:
    """The highest value each row states (a range's or band's upper end)."""
    return rows["value_high"].fillna(rows["value"])


def describe_row(row: pd.Series) -> str:
    """One row as a violation names it: provenance, run, step, value and source."""
    if row["provenance"] == "reported":
        source = f"{row['source_file']}:{row['source_line']}@{str(row['commit'])[:7]}"
    else:
        source = f"data/runs/{row['run_id']}"
    value = row["value"] if pd.notna(row["value"]) else row["value_high"]
    return f"{row['provenance']} {row['run_id']} at step {int(row['step']):,}: {value:.3g} ({source})"


__all__ = ["CONVERGED", "Claim", "EARLIER_TUTORIAL", "EARLIER_TUTORIAL_LINES", "Evidence", "FAR_BELOW", "HAIR",
           "LOW_BAND", "PIXEL_STEPS", "PROPRIO_ONLY_RUN", "SOLVED", "describe_row", "success_rows", "top_values"]
