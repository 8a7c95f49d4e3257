#!/usr/bin/env bash
# The prepared GPU check (issue 14), at most about 8 minutes on one GPU. Run from the repository root on a machine
# whose Python already has a CUDA build of torch and the project's other packages (or that can `make venv`).
# Writes under $OUT (default gpu_check/): the GPU model, the cuda-marked tests, the whole-loop benchmark, and
# measured/throughput/ (commit that folder as data/measured/throughput/).
set -uo pipefail
OUT=${OUT:-gpu_check}
mkdir -p "$OUT"
PY=${PYTHON:-python3}
if [ -x .venv/bin/python ]; then PY=.venv/bin/python; fi
export MUJOCO_GL=${MUJOCO_GL:-egl}

nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader | tee "$OUT/gpu.txt"
"$PY" -c "import torch; assert torch.cuda.is_available(), 'torch sees no GPU'; print(torch.__version__, torch.cuda.get_device_name(0))" \
    | tee -a "$OUT/gpu.txt" || exit 2

timeout 150 "$PY" -m pytest -q -m cuda tests/ 2>&1 | tee "$OUT/cuda_tests.txt"
timeout 150 "$PY" -m pixelpush_lib.bench train --config step2 --device cuda --steps 1000 2>&1 | tee "$OUT/bench_train_step2_cuda.txt"
timeout 180 "$PY" -c "
from pathlib import Path
from pixelpush_lib.experiments.throughput import precompute
print(precompute(measured_dir=Path('$OUT') / 'measured'))" 2>&1 | tee "$OUT/throughput.txt"
echo "done: $(ls "$OUT")"
