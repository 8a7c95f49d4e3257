"""scripts/long_run.sh: a long run starts, or resumes when its run directory holds one, from a worktree at a fixed
commit; bad input, a resume at another commit and a run already being trained are refused before anything is
started or added."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time

import pytest

from pixelpush_lib.core.paths import REPO_ROOT

SCRIPT = REPO_ROOT / "scripts" / "long_run.sh"


def _git(*args: str) -> str:
    return subprocess.run(["git", "-C", str(REPO_ROOT), *args], capture_output=True, text=True, check=True).stdout.strip()


HEAD = _git("rev-parse", "--short", "HEAD")


def long_run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["bash", str(SCRIPT), *args], capture_output=True, text=True,
                          env={**os.environ, "PYTHON": sys.executable})


def a_started_run(runs, name: str, commit: str):
    (runs / name).mkdir(parents=True)
    (runs / name / "run.json").write_text(json.dumps({"segments": [{"git_commit": commit}]}))
    return runs / name


def test_a_new_run_is_started_and_an_existing_one_resumed(tmp_path):
    new = long_run("--dry-run", "state_step2_settings", "2", HEAD, str(tmp_path))
    assert new.returncode == 0, new.stderr
    assert f"wt_{HEAD}" in new.stdout
    assert (f"train --config state_step2_settings --seed 2 --run-dir {tmp_path}/state_step2_settings_s2 "
            "--checkpoint-every 50000 --no-progress-bar") in new.stdout
    a_started_run(tmp_path, "state_step2_settings_s2", _git("rev-parse", "HEAD"))
    again = long_run("--dry-run", "state_step2_settings", "2", HEAD, str(tmp_path))
    assert f"train --resume {tmp_path}/state_step2_settings_s2 --no-progress-bar" in again.stdout, again.stderr
    assert "--config" not in again.stdout  # a resume keeps the run's own config


def test_a_run_is_resumed_only_at_the_commit_it_was_started_at(tmp_path):
    run_dir = a_started_run(tmp_path, "state_s0", "0" * 40)
    refused = long_run("--dry-run", "state", "0", HEAD, str(tmp_path))
    assert refused.returncode == 2 and f"{run_dir} was started at 0000000, not {HEAD}" in refused.stderr


@pytest.mark.parametrize("args, message", [
    (("nope", "0", HEAD), "unknown CONFIG 'nope' at .*: choose from state "),
    (("state", "x", HEAD), "SEED 'x' must be a whole number"),
    (("state", "0", "not-a-commit"), "COMMIT 'not-a-commit' is not a commit"),
])
def test_bad_input_is_refused_by_name_and_nothing_is_made(tmp_path, args, message):
    worktrees = _git("worktree", "list")
    refused = long_run(*args, str(tmp_path / "runs"))  # not a dry run: a refusal must come before any change
    assert refused.returncode == 2 and re.search(message, refused.stderr), refused.stderr
    assert not (tmp_path / "runs").exists() and _git("worktree", "list") == worktrees


def test_a_run_directory_without_a_readable_manifest_is_refused(tmp_path):
    (tmp_path / "state_s0").mkdir()
    (tmp_path / "state_s0" / "run.json").write_text("{")
    refused = long_run("--dry-run", "state", "0", HEAD, str(tmp_path))
    assert refused.returncode == 2 and f"{tmp_path}/state_s0/run.json is not a run's manifest" in refused.stderr


def test_a_run_already_being_trained_is_not_started_twice(tmp_path):
    run_dir = tmp_path / "state_s0"
    # a stand-in for the training process: the script recognises one by its command line
    trainer = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)", "--resume", str(run_dir)])
    try:
        time.sleep(0.2)
        refused = long_run("--dry-run", "state", "0", HEAD, str(tmp_path))
    finally:
        trainer.kill()
        trainer.wait()
    assert refused.returncode == 2 and f"{run_dir} is already being trained (pid {trainer.pid})" in refused.stderr
    assert long_run("--dry-run", "state", "0", HEAD, str(tmp_path)).returncode == 0  # once it has ended
