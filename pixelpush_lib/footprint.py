"""Step 0: what happens to the puck inside a CNN, measured on real frames with the puck's segmentation mask.

For each conv layer, output cell ``(i, j)`` sees an ``r x r`` window of input pixels (its receptive field, RF),
and neighbouring cells' windows start ``J`` pixels apart (``J`` = product of the strides so far). Two measures of
the puck's *footprint* at a layer, both computed from the mask, never from a nominal "5 px" width:

* **cells touched**: output cells whose RF contains at least one puck pixel (the cells that can respond to it);
* **cells owned**: distinct cells the puck's pixels map to when each pixel is given to the cell whose RF centre is
  nearest (``round((u - c0) / J)``): the puck's size measured in that layer's cells;
* **puck share of the RF**: puck pixels inside a cell's RF divided by the RF area ``r * r``, maximised over cells:
  how much of the best-placed cell's view the puck fills (padding counts as area: the kernel sees it).

NatureCNN (SB3): 8x8/4, 4x4/2, 3x3/1, no padding: 84 -> 20 -> 9 -> 7. ManipulationCNN: 3x3 with strides
2, 1, 1, 2 and padding 1: 84 -> 42 -> 42 -> 42 -> 21. Fast (about 2 s live).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from pixelpush_lib.experiments import MEASURED_DIR, write_measured
from pixelpush_lib.frames import StackedObservation, rollout_observations
from pixelpush_lib.plots import OKABE_ITO
from pixelpush_lib.rendering import mask_extent

# (kernel, stride, padding) per conv layer, as the two encoders build them.
ARCHITECTURES: dict[str, tuple[tuple[int, int, int], ...]] = {
    "NatureCNN": ((8, 4, 0), (4, 2, 0), (3, 1, 0)),
    "ManipulationCNN": ((3, 2, 1), (3, 1, 1), (3, 1, 1), (3, 2, 1)),
}


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


def layer_geometry(architecture: str, image_size: int = 84) -> list[LayerGeometry]:
    """Receptive-field arithmetic for each conv layer of ``architecture`` (a key of :data:`ARCHITECTURES`)."""
    size, rf, jump, first, out = image_size, 1, 1, 0, []
    for i, (k, s, p) in enumerate(ARCHITECTURES[architecture], start=1):
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


def footprint_rows(mask: np.ndarray, image_size: int = 84) -> list[dict[str, float | int | str]]:
    """One row per (encoder, layer) for one puck mask: map size, RF, cells touched/owned, max puck share."""
    rows = []
    for arch in ARCHITECTURES:
        for g in layer_geometry(arch, image_size):
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


def _fmt(values: pd.Series, pct: bool = False) -> str:
    f = (lambda v: f"{100 * v:.0f}%") if pct else (lambda v: f"{v:g}")  # noqa: E731
    return f"{f(values.median())} [{f(values.min())}-{f(values.max())}]"


def measure_footprint(n_states: int = 12, seed: int = 0, steps: int = 10) -> FootprintResult:
    """Footprint of the puck in real observations (``n_states`` resets of ``make_env("pixels")`` with seeds
    ``seed, seed+1, ...``, ``steps`` random actions each; states with the puck hidden are skipped)."""
    observations = [o for o in rollout_observations(n_states, seed, steps) if o.puck_mask.any()]
    frames = []
    for o in observations:
        width, height = mask_extent(o.puck_mask)
        frames += [{"seed": o.seed, "puck_pixels": int(o.puck_mask.sum()), "puck_width_px": width,
                    "puck_height_px": height, **r} for r in footprint_rows(o.puck_mask, o.pixels.shape[-1])]
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


def footprint_figure(result: FootprintResult, index: int = 0) -> Figure:
    """Top: the four stacked frames of one real observation. Bottom: the newest frame with the puck mask outlined,
    then, per NatureCNN layer and for ManipulationCNN's last layer, the puck's share of each cell's RF."""
    obs = result.observations[index]
    k = obs.pixels.shape[0] // 3
    panels = [("NatureCNN", g) for g in layer_geometry("NatureCNN")]
    panels.append(("ManipulationCNN", layer_geometry("ManipulationCNN")[-1]))
    fig = Figure(figsize=(2.1 * len(panels) + 2.1, 4.6), layout="constrained")
    axes = fig.subplots(2, len(panels) + 1)
    for t, ax in enumerate(axes[0]):
        if t < k:
            ax.imshow(obs.pixels[3 * t:3 * t + 3].transpose(1, 2, 0))
            ax.set_title(f"stack frame t-{k - 1 - t}" if t < k - 1 else "newest frame (t)", fontsize=8)
        ax.set_axis_off()
    ax = axes[1, 0]
    ax.imshow(obs.pixels[-3:].transpose(1, 2, 0))
    ax.contour(obs.puck_mask, levels=[0.5], colors=OKABE_ITO["vermillion"], linewidths=1.2)
    ax.set_title(f"puck mask: {int(obs.puck_mask.sum())} px", fontsize=8)
    ax.set_axis_off()
    for ax, (arch, g) in zip(axes[1, 1:], panels):
        share = puck_pixels_in_rf(obs.puck_mask, g) / g.rf ** 2
        ax.imshow(share, cmap="Blues", vmin=0, vmax=max(share.max(), 1e-9))
        ax.contour(owned_cells(obs.puck_mask, g), levels=[0.5], colors=OKABE_ITO["vermillion"], linewidths=1)
        ax.set_title(f"{arch} L{g.layer}: {g.size}x{g.size}\n{int((share > 0).sum())} touched, "
                     f"max share {100 * share.max():.0f}%", fontsize=8)
        ax.set_xticks([])
        ax.set_yticks([])
    fig.suptitle("measured on a real observation: puck share of each cell's receptive field "
                 "(blue; outline = cells the puck's pixels map to)", fontsize=9)
    return fig


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
