#!/usr/bin/env bash
# The prepared GPU check (issue 14), about 7 minutes on one GPU. Run from the repository root (a clean checkout at a
# commit, or a copy of one with PIXELPUSH_GIT_COMMIT naming it) on a machine whose python3 has a CUDA build of torch.
# A bare machine without network gets the other packages from .whl/ and .gl/ (scripts/device_env.sh).
# Writes under $OUT (default gpu_check/): gpu_check.txt (GPU model, the cuda-marked tests, the whole-loop benchmark
# in float32 and in bf16) and measured/throughput/ (the float32 one: commit it as data/measured/throughput/).
set -uo pipefail
OUT=${OUT:-gpu_check}
mkdir -p "$OUT"
source scripts/device_env.sh || exit 2
{
    echo "== GPU"
    nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
    python3 -c "import torch; assert torch.cuda.is_available(), 'torch sees no GPU'; print('torch', torch.__version__, torch.cuda.get_device_name(0))" || exit 2
    echo "== cuda-marked tests"
    timeout 240 python3 -m pytest -q -p no:cacheprovider -m cuda tests/
    echo "== whole-loop benchmark, step2 on cuda (measured into $OUT/measured/throughput)"
    timeout 300 python3 -m pixelpush_lib.experiments throughput --out "$OUT/measured"
    echo "== the same loop with bf16 convolutions (printed only: --precision bf16 against stock SB3)"
    timeout 180 python3 -m pixelpush_lib.bench train --device cuda --precision bf16 --steps 1000 --batch-size 256 \
        --buffer-size 100000
    echo "== done"
} 2>&1 | tee "$OUT/gpu_check.txt"
