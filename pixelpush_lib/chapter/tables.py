"""The chapter's tables as a reader sees them: flat headers, rounded numbers with units, provenance in a box below.

An experiment returns a DataFrame shaped for computing (an index of several levels, full-precision floats, a source
column); :class:`Table` shows it without pandas' empty index-name header row, with each column formatted, and with
the columns that hold bookkeeping (sources, long justifications) moved into a collapsible "Where these numbers come
from" box under the table. On a phone the book's stylesheet turns a table of three or more columns into one block per
row of "header: value" lines (``_static/pixelpush.js``).
"""

from __future__ import annotations

import html
import re
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import pandas as pd

from pixelpush_lib.chapter.figures.curves import SourcesTable
from pixelpush_lib.core.paths import DATA_DIR
from pixelpush_lib.results.quoted_numbers import chapter_numbers

Format = Callable[[object], str]


def significant(digits: int = 2) -> Format:
    """``0.000359 -> '0.00036'``; an exact zero reads ``'0'``."""
    return lambda x: "0" if float(x) == 0 else f"{float(x):.{digits}g}"


def with_unit(unit: str, decimals: int = 1, thousands: bool = True) -> Format:
    """``33.914416 -> '33.9 GB'``; ``169572.0 -> '169,572 B'`` (``decimals=0``)."""
    return lambda x: f"{float(x):{',' if thousands else ''}.{decimals}f} {unit}"


class Table:
    """A DataFrame shown flat: its index levels become the first columns (each repeated value left blank, as pandas
    does), ``formats`` maps a column to a formatter, ``rename`` gives columns a reader's name, and the columns in
    ``provenance`` leave the table for a "Where these numbers come from" box under it (with the row's first
    columns, so each line names its row)."""

    def __init__(self, frame: pd.DataFrame, formats: Mapping[str, Format] | None = None,
                 rename: Mapping[str, str] | None = None, provenance: Sequence[str] = ()) -> None:
        flat = frame.reset_index() if any(name is not None for name in frame.index.names) else frame.copy()
        for column, fmt in (formats or {}).items():
            flat[column] = flat[column].map(fmt)
        self.keys = [name for name in frame.index.names if name is not None] or [flat.columns[0]]
        missing = [c for c in provenance if c not in flat.columns]
        if missing:
            raise KeyError(f"Table: provenance columns {missing} are not in the frame (columns: {list(flat.columns)})")
        self.sources = flat[[*self.keys, *provenance]].rename(columns=rename or {}) if provenance else None
        self.frame = flat.drop(columns=list(provenance)).rename(columns=rename or {})
        self.keys = [(rename or {}).get(k, k) for k in self.keys]

    def _repr_html_(self) -> str:
        shown = self.frame.astype(str)
        for key in self.keys[:-1]:  # a grouping column names its group once
            shown[key] = shown[key].where(shown[key] != shown[key].shift(), "")
        head = "".join(f"<th>{html.escape(str(c))}</th>" for c in shown.columns)
        body = "".join("<tr>" + "".join(f"<td>{html.escape(v)}</td>" for v in row) + "</tr>"
                       for row in shown.itertuples(index=False))
        table = f'<table class="pixelpush-table"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'
        notes = SourcesTable(self.sources)._repr_html_() if self.sources is not None else ""
        return table + notes

    def __repr__(self) -> str:
        return self.frame.to_string(index=False)


def gradient_table(table: pd.DataFrame) -> Table:
    """Step 2's measured encoder gradients (``measure_gradient_flow``): two significant digits, zero as 0."""
    return Table(table, formats={"critic loss": significant(), "actor loss": significant()},
                 rename={"critic loss": "gradient norm from the critic loss",
                         "actor loss": "gradient norm from the actor loss",
                         "optimizer": "in the optimizer of"})


def stop_rules_table(stop_rules: pd.DataFrame) -> Table:
    """Step 3's replayed stop rules: what each decided; why (basis), what came next and the sources in the box."""
    return Table(stop_rules, formats={"success trend so far (per 1M)": lambda x: f"{float(x) * 100:+.1f} points"},
                 rename={"decision step": "decides at", "success trend so far (per 1M)": "success trend per 1M steps"},
                 provenance=["what the reported curve did next", "basis", "source"])


def memory_display(memory: pd.DataFrame) -> Table:
    """Step 3's measured replay-buffer memory: bytes per transition and GB (1e9 B, SB3's unit) per buffer size."""
    sizes = [c for c in memory.columns if c != "B per transition"]
    return Table(memory, formats={"B per transition": with_unit("B", 0), **{c: with_unit("GB") for c in sizes}},
                 rename={"B per transition": "per transition", **{c: f"{c} transitions" for c in sizes}})


def en_dash_ranges(x: object) -> str:
    """``'62% [44%-80%]' -> '62% [44%–80%]'``: a range of numbers reads with an en dash, after which a line may
    break (Chromium keeps "[100%-100%]" on one line, which held Step 0's footprint table wider than the column)."""
    return re.sub(r"(?<=[\d%])-(?=\d)", "\u2013", str(x))


def footprint_display(table: pd.DataFrame) -> Table:
    """Step 0's footprint table (median [range] over states), flat, its ranges with en dashes."""
    return Table(table, formats={column: en_dash_ranges for column in table.columns})


def probe_display(summary: pd.DataFrame) -> Table:
    """Step 1's probe summary: held-out median error in pixels, two decimals."""
    px = with_unit("px", 2)
    return Table(summary, formats={c: px for c in summary.columns if c != "seeds"},
                 rename={"median_px (median over seeds)": "median error (median over seeds)"})


def drq_display(summary: pd.DataFrame) -> Table:
    """Step 4's noise and signal percentiles, in keypoint units (two decimals) and ratios (percent)."""
    formats = {c: (lambda x: f"{float(x):.2f}") for c in summary.columns}
    frame = summary.copy()
    ratios = [i for i in frame.index if str(i).startswith("noise/signal")]
    shown = frame.astype(object)
    for row in frame.index:
        fmt = (lambda x: f"{100 * float(x):.0f}%") if row in ratios else formats[frame.columns[0]]
        shown.loc[row] = [fmt(v) for v in frame.loc[row]]
    shown.index.name = "measured quantity"  # the experiment's long index name says which encoder: the caption does
    return Table(shown)


class Bullets:
    """A short lead-in and a bulleted list (HTML, escaped), for lists a notebook would otherwise print: printed
    output keeps its line breaks and, on a phone, is cut or scrolls; a list wraps."""

    def __init__(self, lead: str, items: Sequence[str]) -> None:
        self.lead, self.items = lead, list(items)

    def _repr_html_(self) -> str:
        items = "".join(f"<li>{html.escape(item)}</li>" for item in self.items)
        return f'<div class="pixelpush-list"><p>{html.escape(self.lead)}</p><ul>{items}</ul></div>'

    def __repr__(self) -> str:
        return "\n".join([self.lead, *(f" - {item}" for item in self.items)])


def canonical_table_markdown(data_dir: Path = DATA_DIR) -> str:
    """The canonical-choices table of ``book/data_notes.md``, computed while the book builds: every chapter number, its
    source and the alternatives."""
    lines = ["| number | canonical | source | alternatives (other sources) |", "|---|---|---|---|"]
    for name, n in chapter_numbers(data_dir).items():
        alts = "; ".join(n.alternatives) if n.alternatives else "none"
        lines.append(f"| `{name}` | {n.prose()} | `{n.source}` | {alts} |")
    return "\n".join(lines) + "\n"
