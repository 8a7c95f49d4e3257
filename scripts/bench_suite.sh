#!/usr/bin/env bash
# `make bench-suite`: the full suite's wall time on a fresh clone of this checkout's HEAD, as `make test` runs it.
#
# Clones HEAD into a temporary folder (no _build, no caches, no runs), points this checkout's .venv at the clone
# (PYTHONPATH: the clone's pixelpush_lib and data are the ones imported and read, in the test process and in every
# notebook kernel it starts) and times `pytest` with the Makefile's arguments. Prints the time, the tally, the
# commit, the cores and their model (the same commit's suite differs between two 2-core machines by more than a
# change does: compare times of one machine only), and the load average before and after (another job on the cores
# slows the suite; say so when quoting it). Usage: scripts/bench_suite.sh [extra pytest args]
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
PY="$ROOT/.venv/bin/python"
PYTEST_ARGS=${PYTEST_ARGS:-}
commit=$(git rev-parse --short HEAD)
if [ -n "$(git status --porcelain --untracked-files=no)" ]; then
    echo "note: the working tree has uncommitted changes; the clone measures HEAD ($commit) without them"
fi
clone=$(mktemp -d "${TMPDIR:-/tmp}/pixelpush-suite.XXXXXX")
trap 'rm -rf "$clone"' EXIT
git clone --quiet --no-hardlinks "$ROOT" "$clone"
git -C "$clone" checkout --quiet "$commit"
load_before=$(cut -d' ' -f1-3 /proc/loadavg)
SECONDS=0
set +e
# shellcheck disable=SC2086  # PYTEST_ARGS is a list of arguments
(cd "$clone" && PYTHONPATH="$clone" PIXELPUSH_GIT_COMMIT="$(git -C "$ROOT" rev-parse HEAD)" \
    "$PY" -m pytest -p no:cacheprovider $PYTEST_ARGS "$@" 2>&1 | tee "$clone/suite.log" | tail -n 60)
status=$?
set -e
seconds=$SECONDS
tally=$(grep -E "^=+ .*(passed|failed).* in " "$clone/suite.log" | tail -n 1 | sed -E 's/^=+ //; s/ =+$//')
cpu=$(grep -m1 "model name" /proc/cpuinfo | cut -d: -f2 | xargs || true)
echo "suite: ${seconds} s of pytest on a fresh clone at ${commit}, $(nproc) cores of ${cpu:-an unknown CPU}" \
    "(${tally}); load average" \
    "${load_before} before, $(cut -d' ' -f1-3 /proc/loadavg) after; pytest args: ${PYTEST_ARGS:-none} $*"
exit "$status"
