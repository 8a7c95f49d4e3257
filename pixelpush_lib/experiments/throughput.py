"""Training throughput of a pixel config on one GPU: how long Reproduce It takes with this project's pipeline.

``python -m pixelpush_lib.experiments throughput`` runs the whole-loop benchmark (:mod:`pixelpush_lib.training.
throughput`) on CUDA at the config's own batch size and writes ``data/measured/throughput/`` with the GPU's name.
``scripts/gpu_check.sh`` runs it on a GPU machine; without a GPU it refuses rather than measure a CPU.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import torch as th

from pixelpush_lib.core.configs import get_config
from pixelpush_lib.core.paths import MEASURED_DIR
from pixelpush_lib.experiments.store import write_measured
from pixelpush_lib.training.throughput import describe_shares, measure_train_loop


def precompute(quick: bool = False, measured_dir: Path = MEASURED_DIR,
               command: str = "python -m pixelpush_lib.experiments throughput") -> Path:
    """Measure step2 on ``cuda`` (``quick``: 1 x 200 steps, else medians of 3 x 1,000) into
    ``measured_dir/throughput/``; prints both pipelines' env-steps/s and ``ratio=`` (ours / stock) last."""
    if not th.cuda.is_available():
        raise RuntimeError("the throughput experiment measures a GPU and none is visible here "
                           "(torch.cuda.is_available() is False); run scripts/gpu_check.sh on a GPU machine")
    start = time.perf_counter()
    config = get_config("step2")
    result = measure_train_loop("step2", steps=200 if quick else 1_000, repeats=1 if quick else 3, device="cuda",
                                batch_size=config.batch_size, buffer_size=100_000)
    result["hours_per_5m_steps"] = 5_000_000 / result["ours_steps_per_s"] / 3600
    result["ratio"] = result["ours_steps_per_s"] / result["stock_steps_per_s"]
    print(f"{result['gpu']}: stock SB3 {result['stock_steps_per_s']:.1f} env-steps/s, pixelpush "
          f"{result['ours_steps_per_s']:.1f} env-steps/s ({result['hours_per_5m_steps']:.1f} h per 5M steps)")
    print(f"stock SB3: {describe_shares(result['stock_time_shares'])}")
    print(f"pixelpush: {describe_shares(result['ours_time_shares'])}")
    print(f"ratio={result['ratio']:.3f}", flush=True)
    return write_measured("throughput", {"throughput.json": lambda p: p.write_text(json.dumps(result, indent=2))},
                          {"quick": quick, "config": "step2"}, command, time.perf_counter() - start, result,
                          measured_dir)
