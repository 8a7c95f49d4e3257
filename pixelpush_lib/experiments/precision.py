"""Mixed precision against float32: does ``conv_precision="bf16"`` train faster without blurring where the puck is?

Protocol: Step 1's probe (:mod:`pixelpush_lib.experiments.probe`, its :data:`~probe.PROTOCOL`: the same frames,
seeds, Adam steps and batch order), ManipulationCNN + SpatialSoftmax only, trained once per seed with its
convolutions in float32 and once in bfloat16 mixed precision (``nets.encoders.run_convs``). The two precisions
take turns going first, seed by seed, so drift in the machine's load and one-off warm-up costs reach both alike.

Reported per precision and seed: the held-out localisation error in pixels (median and 90th percentile) and the
wall time of the whole training run (its periodic held-out evaluations included). A policy's encoder is the same
convolutions; sub-pixel localisation is what bfloat16's 8 significant bits could cost, and what Step 1 needs.
How much faster bf16 runs depends on the processor: CPUs with AMX or AVX-512 BF16 and tensor-core GPUs run it
natively, others emulate it and can be slower (``parameters.cpu_bf16`` records which this machine was).
"""

from __future__ import annotations

import statistics
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np
import pandas as pd
import torch as th

from pixelpush_lib.core.configs import CONV_PRECISIONS
from pixelpush_lib.core.paths import MEASURED_DIR
from pixelpush_lib.experiments import probe
from pixelpush_lib.experiments.store import write_measured
from pixelpush_lib.results.measured import load_manifest

TABLE = "precision.csv"


def cpu_bf16_support() -> str:
    """Which native bfloat16 instructions this machine's CPU offers ("amx_bf16", "avx512_bf16" or "none")."""
    try:
        flags = next((line.split(":", 1)[1].split() for line in Path("/proc/cpuinfo").read_text().splitlines()
                      if line.startswith("flags")), [])
    except OSError:
        flags = []
    return next((flag for flag in ("amx_bf16", "avx512_bf16") if flag in flags), "none")


def run_precision(quick: bool = False) -> pd.DataFrame:
    """One row per (seed, precision): ``median_px``, ``p90_px`` and ``train_s``."""
    protocol = probe.QUICK if quick else probe.PROTOCOL
    train, test = probe.probe_data(protocol)
    rows = []
    for i, seed in enumerate(protocol.seeds):
        for precision in CONV_PRECISIONS[::1 if i % 2 == 0 else -1]:  # who goes first (and warms up) alternates
            start = time.perf_counter()
            model, _ = probe.train_probe("manipulation", train, test, seed, protocol, precision)
            train_s = time.perf_counter() - start
            errors = probe.localisation_errors_px(model, test)
            rows.append({"precision": precision, "seed": seed, "median_px": float(np.median(errors)),
                         "p90_px": float(np.percentile(errors, 90)), "train_s": train_s})
            print(f"seed {seed} {precision}: median {rows[-1]['median_px']:.3f} px, {train_s:.1f} s", flush=True)
    return pd.DataFrame(rows)


def summarise(table: pd.DataFrame) -> dict[str, object]:
    """Per precision: the median over seeds of the median error (px) and its range; bf16's speed-up (float32 time
    over bfloat16 time, median over seeds)."""
    by_seed = table.pivot_table(index="seed", columns="precision", values=["median_px", "train_s"])
    speedups = by_seed["train_s"]["fp32"] / by_seed["train_s"]["bf16"]
    return {"median_px": {p: float(by_seed["median_px"][p].median()) for p in CONV_PRECISIONS},
            "range_px": {p: [float(by_seed["median_px"][p].min()), float(by_seed["median_px"][p].max())]
                         for p in CONV_PRECISIONS},
            "bf16_speedup": float(statistics.median(speedups)), "seeds": int(len(by_seed))}


def precompute(quick: bool = False, measured_dir: Path = MEASURED_DIR,
               command: str = "python -m pixelpush_lib.experiments precision") -> Path:
    """Run the protocol and write ``measured_dir/precision/`` (precision.csv and the summary)."""
    start = time.perf_counter()
    table = run_precision(quick)
    protocol = probe.QUICK if quick else probe.PROTOCOL
    params = {**asdict(protocol), "encoder": "manipulation", "precisions": list(CONV_PRECISIONS), "quick": quick,
              "torch_threads": th.get_num_threads(), "cpu_bf16": cpu_bf16_support()}
    writers = {TABLE: lambda p: table.to_csv(p, index=False, float_format="%.4f")}
    return write_measured("precision", writers, params, command, time.perf_counter() - start, summarise(table),
                          measured_dir)


def load_table(measured_dir: Path = MEASURED_DIR) -> pd.DataFrame:
    """The measured table (validated manifest first)."""
    load_manifest("precision", measured_dir)
    return pd.read_csv(Path(measured_dir) / "precision" / TABLE)
