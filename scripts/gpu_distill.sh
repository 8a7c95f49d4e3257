#!/usr/bin/env bash
# The pixel students of Step 1 (issue 12) on one GPU: `python -m pixelpush_lib.experiments distill --device cuda`,
# stopped after $LIMIT seconds (default 540) so that it fits one call of a lent GPU machine. Extra arguments go to
# the experiment (for example --seeds 0 1). Run from the repository root; a bare machine gets its packages from .whl/
# and .gl/ (scripts/device_env.sh).
#
# The experiment writes data/measured/distill/ when every student has finished. Until then each finished student
# waits in data/measured/.distill.partial/, and a re-run teaches only the others. So that a stopped run loses
# nothing, this script leaves under $OUT (default gpu_distill/):
#   distill.txt                      the run's log
#   measured/distill/                the finished experiment (commit it as data/measured/distill/), or
#   partial_<encoder>_s<seed>.tgz    one archive per finished student when the run was stopped: unpack them all
#                                    with `tar -xzf FILE -C data/measured` and re-run, here or on the next GPU
#                                    machine (carry data/measured/.distill.partial), to teach the rest.
set -uo pipefail
OUT=${OUT:-gpu_distill}
LIMIT=${LIMIT:-540}
mkdir -p "$OUT"
source scripts/device_env.sh || exit 2
manifest=data/measured/distill/manifest.json
before=$(stat -c %Y "$manifest" 2>/dev/null || echo none)
timeout "$LIMIT" python3 -m pixelpush_lib.experiments distill --device "${DEVICE:-cuda}" --out data/measured "$@" 2>&1 \
    | tee "$OUT/distill.txt" | grep -v -i warn
partial=data/measured/.distill.partial
if [ -f "$manifest" ] && [ "$(stat -c %Y "$manifest")" != "$before" ]; then  # the run finished and wrote it
    mkdir -p "$OUT/measured" && cp -r data/measured/distill "$OUT/measured/"
fi
if [ -d "$partial" ]; then
    for record in "$partial"/*.json; do
        student=$(basename "$record" .json)
        [ "$student" = parameters ] && continue
        tar -czf "$OUT/partial_$student.tgz" -C data/measured ".distill.partial/parameters.json" \
            ".distill.partial/$student.json" ".distill.partial/$student.zip"
    done
fi
ls -la "$OUT"
