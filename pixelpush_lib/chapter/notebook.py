"""What the chapter's notebooks share: their papermill parameters and the "train" mode.

Every notebook has one cell tagged ``parameters``::

    mode = "load"        # "load": read data/ (the default, seconds); "train": run the full training
    config = "step2"     # the config trained in train mode (the notebook's own step by default)
    seed = 0
    total_steps = None   # None: the config's budget (millions of steps: GPU-days)
    run_dir = None       # None: runs/<config>_s<seed>
    overrides = {}       # config fields to change, e.g. {"batch_size": 8}
    device = "auto"

``check_parameters`` validates them in that first cell, so a wrong value fails at once with its
name. In train mode ``train_or_resume`` trains through ``pixelpush_lib.training.runs`` (resuming when
``run_dir`` already holds a checkpointed run of the same config, so a re-run continues an interrupted
job) and ``measured_run`` reads the new log as a *measured* curve to plot beside the reported data.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from pixelpush_lib.core.configs import CONFIGS, RunConfig, get_config
from pixelpush_lib.results.importer import read_progress_csv
from pixelpush_lib.results.quoted_numbers import chapter_numbers

MODES = ("load", "train")


class ParameterError(ValueError):
    """A notebook parameter is invalid; the message names it and the allowed values."""


@dataclass(frozen=True)
class NotebookParameters:
    mode: str
    config: RunConfig  # the ``config`` parameter with its ``overrides``, resolved here once for everything after
    seed: int
    total_steps: int
    run_dir: Path
    device: str = "auto"


def check_parameters(
    mode: str = "load",
    config: str = "step2",
    seed: int = 0,
    total_steps: int | None = None,
    run_dir: str | Path | None = None,
    overrides: dict[str, Any] | None = None,
    device: str = "auto",
) -> NotebookParameters:
    """Validate the papermill parameters; raise ``ParameterError`` naming the first bad one."""
    if mode not in MODES:
        raise ParameterError(f"parameter mode={mode!r} is not valid; allowed values: {', '.join(map(repr, MODES))}")
    if config not in CONFIGS:
        raise ParameterError(f"parameter config={config!r} is not valid; allowed values: {', '.join(CONFIGS)}")
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ParameterError(f"parameter seed={seed!r} is not valid; allowed values: integers >= 0")
    if overrides is None:
        overrides = {}
    if not isinstance(overrides, dict):
        raise ParameterError(f"parameter overrides={overrides!r} is not valid; allowed values: a dict of config fields")
    try:
        run_config = get_config(config, overrides)
    except ValueError as error:
        raise ParameterError(f"parameter overrides: {error}") from None
    if total_steps is None:
        total_steps = run_config.total_steps
    if isinstance(total_steps, bool) or not isinstance(total_steps, int) or total_steps <= 0:
        raise ParameterError(f"parameter total_steps={total_steps!r} is not valid; allowed values: integers > 0 or None")
    if not isinstance(device, str) or not device:
        raise ParameterError(f"parameter device={device!r} is not valid; allowed values: 'auto', 'cpu', 'cuda', 'cuda:N'")
    path = Path(run_dir) if run_dir is not None else Path("runs") / f"{config}_s{seed}"
    return NotebookParameters(mode, run_config, seed, total_steps, path, device)


def train_or_resume(params: NotebookParameters, progress_bar: bool = True) -> Path:
    """Train ``params.config`` into ``params.run_dir``; resume it if it already holds that run."""
    # Imported here: torch and SB3 take seconds to import, and load mode (and a wrong parameter) never needs them.
    from pixelpush_lib.training.run_dir import RunDir
    from pixelpush_lib.training.runs import RunFinished, plan_new_run, plan_resume, train

    run_dir = RunDir(params.run_dir)
    if run_dir.has_run():
        try:  # a run of another config or other overrides is refused, even a finished one
            plan = plan_resume(run_dir.path, params.total_steps, params.config)
        except RunFinished:
            return run_dir.path  # already finished: nothing to do
    else:
        plan = plan_new_run(params.config, run_dir.path, params.seed, params.total_steps)
    train(plan, device=params.device, progress_bar=progress_bar)
    return run_dir.path


@dataclass(frozen=True)
class MeasuredRun:
    """A run trained by this project: its curve (long format ``step, metric, value``) and provenance."""

    run_dir: Path
    config: str
    seed: int
    curve: pd.DataFrame
    provenance: dict[str, Any]

    def metric(self, name: str) -> pd.DataFrame:
        return self.curve[self.curve["metric"] == name][["step", "value"]].reset_index(drop=True)


def measured_run(run_dir: str | Path) -> MeasuredRun:
    """Read a ``pixelpush train`` run directory as a measured curve (provenance from its manifest)."""
    from pixelpush_lib.training.run_dir import RunDir  # as in train_or_resume

    run = RunDir(run_dir)
    manifest = run.read_manifest()
    # The importer's reader: same SB3 key -> metric mapping and the same validation as `pixelpush import`.
    curve = read_progress_csv(run.progress_path)
    provenance = {
        "kind": "measured",
        "command": [s["command"] for s in manifest["segments"]],
        "config": manifest["config_name"],
        "overrides": manifest["overrides"],
        "commit": manifest["git_commit"],
        "machine": manifest["host"],
    }
    return MeasuredRun(run.path, manifest["config_name"], manifest["seed"], curve, provenance)


# --- Gluing numbers into prose ----------------------------------------------------------------


class GluedText:
    """A string that myst-nb's ``{glue:text}`` shows as is.

    myst-nb passes the glued ``text/plain`` through ``ast.literal_eval`` and shows ``str`` of the result, so text
    that reads as a Python literal would change on the page: "0.30" would show as 0.3, "1,000" as (1, 0). Such text
    is glued quoted, which ``literal_eval`` turns back into the string itself; any other text is glued bare.
    """

    def __init__(self, text: str) -> None:
        self.text = text

    def __repr__(self) -> str:
        try:
            ast.literal_eval(self.text)
        except (SyntaxError, ValueError, TypeError, MemoryError, RecursionError):
            return self.text
        return repr(self.text)

    def _repr_pretty_(self, printer, cycle: bool) -> None:  # what IPython puts in text/plain
        printer.text(repr(self))


def glue_text(name: str, text: str) -> None:
    """Glue ``text`` under ``name`` for ``{glue:text}`name``` in the notebook's markdown."""
    from myst_nb import glue

    glue(name, GluedText(text), display=False)


def glue_all(texts: dict[str, str]) -> None:
    """Glue each ``name -> text`` of a library function's facts (what a page states, computed and tested there)."""
    for name, text in texts.items():
        glue_text(name, text)


def glue_chapter_numbers(data_dir: Path | None = None) -> dict[str, Any]:
    """Glue every ``chapter_numbers()`` entry as prose (``name``), its source (``name__source``) and its
    provenance (``name__provenance``); and the author's figure for it (``name__reported``, with
    ``name__reported_source``), which is the same number unless a project run replaced it.

    Returns the numbers so the notebook can also compute with them.
    """
    numbers = chapter_numbers() if data_dir is None else chapter_numbers(data_dir)
    for name, number in numbers.items():
        glue_text(name, number.prose())
        glue_text(f"{name}__source", number.source)
        glue_text(f"{name}__provenance", number.provenance)  # "reported" unless project runs replaced it
        reported = number.reported or number
        glue_text(f"{name}__reported", reported.prose())
        glue_text(f"{name}__reported_source", reported.source)
    return numbers


def plot_measured_beside(fig, run: MeasuredRun, metric: str = "success_rate"):
    """Draw a measured run as a line on the first axes of a reported-data figure (returns ``fig``)."""
    curve = run.metric(metric)
    ax = fig.axes[0]
    from pixelpush_lib.chapter.style import CONFIG_LABELS, FONT_MIN

    ax.plot(curve["step"], curve["value"], color="#000000", linestyle="--", linewidth=1.5,
            label=f"{CONFIG_LABELS.get(run.config, run.config)}, measured: this notebook's run (seed {run.seed})")
    ax.legend(fontsize=FONT_MIN, loc="best")
    return fig
