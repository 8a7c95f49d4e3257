#!/usr/bin/env bash
# One long CPU training run in the background, from a git worktree at a fixed commit: a new run, or the resume of the
# one already in its run directory (the same command after a kill -9 or a session's end).
#
# Usage: scripts/long_run.sh [--dry-run] CONFIG SEED COMMIT [RUNS_DIR]
#
#   CONFIG    a config name (`pixelpush train --help` lists them)
#   SEED      the run's seed
#   COMMIT    the commit the run is measured at; its worktree is ../wt_<commit> beside this checkout, added if missing
#   RUNS_DIR  where run directories live, outside the repository (default: ../runs); the run is RUNS_DIR/CONFIG_sSEED
#             and its output RUNS_DIR/CONFIG_sSEED.log
#
# One torch thread (two per process on two shared cores spin-wait), checkpoints every 50K steps, no progress bar.
# NICE=19 runs it at the lowest priority (a second run beside the one that matters). --dry-run prints the worktree and
# the command it would run, and changes nothing. A new machine has no run directory: the run starts from zero.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)

dry_run=0
if [ "${1:-}" = "--dry-run" ]; then dry_run=1; shift; fi
if [ $# -lt 3 ] || [ $# -gt 4 ]; then
    echo "usage: scripts/long_run.sh [--dry-run] CONFIG SEED COMMIT [RUNS_DIR]" >&2
    exit 2
fi
config=$1 seed=$2 commit=$3
runs_dir=${4:-$(dirname "$ROOT")/runs}
python=${PYTHON:-$ROOT/.venv/bin/python}

fail() { echo "long_run.sh: $1" >&2; exit 2; }
[[ $seed =~ ^[0-9]+$ ]] || fail "SEED '$seed' must be a whole number (for example 0)"
full=$(git rev-parse --verify --quiet "$commit^{commit}") ||
    fail "COMMIT '$commit' is not a commit of $ROOT: give one from \`git log\` (the run is measured at it)"
short=$(git rev-parse --short "$full")
[ -x "$python" ] || fail "no Python at $python: run \`make venv\` first, or set PYTHON"

run_dir=$runs_dir/${config}_s$seed
running=$(pgrep -f -- "(--run-dir|--resume) $run_dir( |\$)" || true)
[ -z "$running" ] || fail "$run_dir is already being trained (pid $(echo $running)): two processes would corrupt it"
# The configs of the commit the run is measured at (configs.py imports nothing of the library's).
known=$(git show "$full:pixelpush_lib/core/configs.py" | "$python" -c "
import sys, types
module = types.ModuleType('configs_at_commit'); sys.modules[module.__name__] = module
exec(sys.stdin.read(), module.__dict__); print(' '.join(module.config_names()))")
[[ " $known " == *" $config "* ]] || fail "unknown CONFIG '$config' at $short: choose from $known"
worktree=$(dirname "$ROOT")/wt_$short
if [ -d "$worktree" ] && [ "$(git -C "$worktree" rev-parse HEAD)" != "$full" ]; then
    fail "$worktree is not at $short: remove it (git worktree remove $worktree) or pass the commit it is at"
fi
if [ -f "$run_dir/run.json" ]; then
    started=$("$python" -c "import json, sys; print(json.load(open(sys.argv[1]))['segments'][0].get('git_commit', ''))" \
              "$run_dir/run.json" 2>/dev/null) ||
        fail "$run_dir/run.json is not a run's manifest: move the folder aside"
    [ -z "$started" ] || [ "$started" = "$full" ] ||
        fail "$run_dir was started at ${started:0:7}, not $short: resume it at ${started:0:7} (one run, one commit)"
    train=(train --resume "$run_dir" --no-progress-bar)
else
    train=(train --config "$config" --seed "$seed" --run-dir "$run_dir" --checkpoint-every 50000
           --no-progress-bar)
fi

if [ "$dry_run" = 1 ]; then
    if [ -d "$worktree" ]; then echo "worktree: $worktree"; else echo "worktree: $worktree (would be added at $short)"; fi
    echo "command: cd $worktree && nice -n ${NICE:-0} $python -m pixelpush_lib.cli ${train[*]} >> $run_dir.log"
    exit 0
fi
[ -d "$worktree" ] || git worktree add --detach "$worktree" "$full" >&2
mkdir -p "$runs_dir"
cd "$worktree"
OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 MUJOCO_GL=${MUJOCO_GL:-egl} \
    nohup nice -n "${NICE:-0}" "$python" -m pixelpush_lib.cli "${train[@]}" >> "$run_dir.log" 2>&1 &
echo "started (pid $!): ${train[*]}; log $run_dir.log"
