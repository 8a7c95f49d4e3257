"""Step 0: what happens to the puck inside a CNN, measured on real frames with the puck's segmentation mask.

For each conv layer, output cell ``(i, j)`` sees an ``r x r`` window of input pixels (its receptive field, RF),
and neighbouring cells' windows start ``J`` pixels apart (``J`` = product of the strides so far). Two measures of
the puck's *footprint* at a layer, both computed from the mask, never from a nominal "5 px" width:

* **cells touched**: output cells whose RF contains at least one puck pixel (the cells that can respond to it);
* **cells owned**: distinct cells the puck's pixels map to when each pixel is given to the cell whose RF centre is
  nearest (``round((u - c0) / J)``): the puck's size measured in that layer's cells;
* **puck share of the RF**: puck pixels inside a cell's RF divided by the RF area ``r * r``, maximised over cells:
  how much of the best-placed cell's view the puck fills (padding counts as area: the kernel sees it).

The layer geometry is the encoders' own (``nets.encoders.NATURE_LAYERS``, ``MANIPULATION_LAYERS``): NatureCNN
maps 84 -> 20 -> 9 -> 7, ManipulationCNN 84 -> 42 -> 42 -> 42 -> 21. Fast (about 2 s live).
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from pixelpush_lib.core.paths import MEASURED_DIR
from pixelpush_lib.env.rendering import mask_extent
from pixelpush_lib.experiments.scenes import StackedObservation, rollout_observations
from pixelpush_lib.experiments.store import write_measured
from pixelpush_lib.nets.encoders import MANIPULATION_LAYERS, NATURE_LAYERS, ConvLayer

ARCHITECTURES = {"NatureCNN": NATURE_LAYERS, "ManipulationCNN": MANIPULATION_LAYERS}


@dataclass(frozen=True)
class LayerGeometry:
    """One conv layer seen from the input: map side ``size``, RF side ``rf``, cell spacing ``jump`` (px), and
    ``first``, the input coordinate of the first pixel of cell 0's RF (negative inside the padding)."""

    layer: int
    size: int
    rf: int
    jump: int
    first: int

    def rf_span(self, i: int) -> tuple[int, int]:
        """Input pixels ``[lo, hi]`` (inclusive, unclipped) seen by cell ``i`` along one axis."""
        lo = self.first + i * self.jump
        return lo, lo + self.rf - 1

    @property
    def centre0(self) -> float:
        return self.first + (self.rf - 1) / 2


def layer_geometry(architecture: str | Sequence[ConvLayer], image_size: int = 84) -> list[LayerGeometry]:
    """Receptive-field arithmetic for each conv layer of ``architecture``: a key of :data:`ARCHITECTURES`, or the
    layers themselves as ``(kernel, stride, padding)`` tuples (an encoder of the reader's own, Step 0's exercise)."""
    layers = ARCHITECTURES[architecture] if isinstance(architecture, str) else architecture
    size, rf, jump, first, out = image_size, 1, 1, 0, []
    for i, (k, s, p) in enumerate(layers, start=1):
        size = (size + 2 * p - k) // s + 1
        first -= p * jump
        rf += (k - 1) * jump
        jump *= s
        out.append(LayerGeometry(i, size, rf, jump, first))
    return out


def puck_pixels_in_rf(mask: np.ndarray, geom: LayerGeometry) -> np.ndarray:
    """``(size, size)`` count of puck pixels inside each cell's RF (an integral image over the mask)."""
    s = mask.shape[0]
    integral = np.pad(mask.astype(np.int64).cumsum(0).cumsum(1), ((1, 0), (1, 0)))
    spans = np.array([geom.rf_span(i) for i in range(geom.size)])
    lo, hi = np.clip(spans[:, 0], 0, s), np.clip(spans[:, 1] + 1, 0, s)  # half-open, clipped to the image
    return integral[hi][:, hi] - integral[lo][:, hi] - integral[hi][:, lo] + integral[lo][:, lo]


def owned_cells(mask: np.ndarray, geom: LayerGeometry) -> np.ndarray:
    """Boolean ``(size, size)``: cells that are the nearest RF centre of at least one puck pixel."""
    rows, cols = np.nonzero(mask)
    owned = np.zeros((geom.size, geom.size), dtype=bool)
    cell = lambda u: np.clip(np.rint((u - geom.centre0) / geom.jump).astype(int), 0, geom.size - 1)  # noqa: E731
    owned[cell(rows), cell(cols)] = True
    return owned


def footprint_rows(
    mask: np.ndarray, image_size: int = 84, architectures: Mapping[str, Sequence[ConvLayer]] = ARCHITECTURES,
) -> list[dict[str, float | int | str]]:
    """One row per (encoder, layer) for one puck mask: map size, RF, cells touched/owned, max puck share.
    ``architectures``: encoder name -> its ``(kernel, stride, padding)`` layers (the chapter's two by default)."""
    rows = []
    for arch, layers in architectures.items():
        for g in layer_geometry(layers, image_size):
            counts = puck_pixels_in_rf(mask, g)
            rows.append({"encoder": arch, "layer": g.layer, "map": f"{g.size}x{g.size}", "rf_px": g.rf,
                         "jump_px": g.jump, "cells_touched": int((counts > 0).sum()),
                         "cells_owned": int(owned_cells(mask, g).sum()),
                         "max_puck_share": float(counts.max() / g.rf ** 2)})
    return rows


@dataclass
class FootprintResult:
    """``per_state``: one row per (state, encoder, layer); ``table``: median and min-max over states;
    ``observations``: the real stacked observations used (puck visible)."""

    per_state: pd.DataFrame
    table: pd.DataFrame
    observations: list[StackedObservation]


def _median_and_range(values: pd.Series, pct: bool = False) -> tuple[str, str]:
    """The median over states and their min-max, formatted: ``('62%', '44%-80%')`` or ``('6', '4-9')``."""
    f = (lambda v: f"{100 * v:.0f}%") if pct else (lambda v: f"{v:g}")  # noqa: E731
    return f(values.median()), f"{f(values.min())}-{f(values.max())}"


def _fmt(values: pd.Series, pct: bool = False) -> str:
    """``'median [min-max]'``, for the table."""
    median, spread = _median_and_range(values, pct)
    return f"{median} [{spread}]"


def measure_footprint(n_states: int = 12, seed: int = 0, steps: int = 10,
                      architectures: Mapping[str, Sequence[ConvLayer]] = ARCHITECTURES) -> FootprintResult:
    """Footprint of the puck in real observations (``n_states`` resets of ``make_env("pixels")`` with seeds
    ``seed, seed+1, ...``, ``steps`` random actions each; states with the puck hidden are skipped), through each of
    ``architectures`` (encoder name -> layers; the chapter's NatureCNN and ManipulationCNN by default)."""
    observations = [o for o in rollout_observations(n_states, seed, steps) if o.puck_mask.any()]
    frames = []
    for o in observations:
        width, height = mask_extent(o.puck_mask)
        frames += [{"seed": o.seed, "puck_pixels": int(o.puck_mask.sum()), "puck_width_px": width,
                    "puck_height_px": height, **r}
                   for r in footprint_rows(o.puck_mask, o.pixels.shape[-1], architectures)]
    per_state = pd.DataFrame(frames)
    group = per_state.groupby(["encoder", "layer"], sort=False)
    table = pd.DataFrame({
        "map": group["map"].first(), "RF (px)": group["rf_px"].first(), "cell spacing (px)": group["jump_px"].first(),
        "cells touched": group["cells_touched"].apply(_fmt), "cells owned": group["cells_owned"].apply(_fmt),
        "max puck share of an RF": group["max_puck_share"].apply(lambda v: _fmt(v, pct=True)),
    })
    return FootprintResult(per_state, table, observations)


def puck_summary(result: FootprintResult) -> dict[str, str]:
    """Puck size in the input frames: pixels, width and height, median [min-max] over states."""
    first = result.per_state.drop_duplicates("seed")
    return {k: _fmt(first[c]) for k, c in (("puck pixels", "puck_pixels"), ("width (px)", "puck_width_px"),
                                            ("height (px)", "puck_height_px"))}


def footprint_facts(result: FootprintResult) -> dict[str, str]:
    """What Step 0 states about the puck's footprint, for ``{glue:text}``: ``footprint_states``, ``puck_width_px``,
    ``puck_pixels``, and per layer ``{nature|manip}_l{layer}_{share|owned|map}``. Each measured count or share is
    the median over states, for a sentence; its ``__range`` twin (min-max over states) is for the sources box."""
    facts = {"footprint_states": str(result.per_state["seed"].nunique())}
    first = result.per_state.drop_duplicates("seed")
    for key in ("puck_width_px", "puck_pixels"):
        facts[key], facts[f"{key}__range"] = _median_and_range(first[key])
    for (encoder, layer), rows in result.per_state.groupby(["encoder", "layer"], sort=False):
        tag = f"{'nature' if encoder == 'NatureCNN' else 'manip'}_l{layer}"
        facts[f"{tag}_map"] = rows["map"].iloc[0]
        facts[f"{tag}_share"], facts[f"{tag}_share__range"] = _median_and_range(rows["max_puck_share"], pct=True)
        facts[f"{tag}_owned"], facts[f"{tag}_owned__range"] = _median_and_range(rows["cells_owned"])
    return facts


def precompute(quick: bool = False, measured_dir: Path = MEASURED_DIR,
               command: str = "python -m pixelpush_lib.experiments footprint") -> Path:
    """Freeze the live measurement into ``measured_dir/footprint/`` (per_state.csv, table.csv)."""
    start = time.perf_counter()
    params = {"n_states": 3 if quick else 12, "seed": 0, "steps": 10, "quick": quick}
    result = measure_footprint(params["n_states"], params["seed"], params["steps"])
    writers = {"per_state.csv": lambda p: result.per_state.to_csv(p, index=False, float_format="%.4f"),
               "table.csv": lambda p: result.table.to_csv(p)}
    return write_measured("footprint", writers, params, command, time.perf_counter() - start,
                          {"puck": puck_summary(result)}, measured_dir)
