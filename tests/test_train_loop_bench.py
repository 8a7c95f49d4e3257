"""`python -m pixelpush_lib.bench train` on a few steps: both pipelines run, and the time is split by phase."""

from __future__ import annotations

import time

import pytest

from pixelpush_lib.bench.__main__ import main
from pixelpush_lib.training.throughput import PHASES, PhaseTimer, describe_shares


def test_phase_timer_sums_the_wall_time_inside_each_wrapped_call():
    timer = PhaseTimer()
    nap = timer.wrap("envs", lambda seconds: time.sleep(seconds) or "woke")
    assert nap(0.02) == "woke" and nap(0.01) == "woke"
    assert timer.seconds["envs"] == pytest.approx(0.03, abs=0.02) and timer.seconds["updates"] == 0.0
    failing = timer.wrap("updates", lambda: 1 / 0)
    with pytest.raises(ZeroDivisionError):
        failing()
    assert timer.seconds["updates"] > 0  # counted even when the call raises
    assert describe_shares({"envs": 0.25, "updates": 0.5}) == "envs 25%, updates 50%, the rest 25% of the time"


@pytest.mark.slow
def test_bench_train_runs_both_pipelines_and_prints_the_ratio_last(capsys):
    # step2's 4 envs: 200 steps collected (one episode each, the least a config allows), then 24 timed
    assert main(["train", "--steps", "24", "--repeats", "1", "--batch-size", "4", "--buffer-size", "2000",
                 "--learning-starts", "200"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[-1].startswith("ratio=") and float(lines[-1].split("=")[1]) > 0
    stock, ours = (next(line for line in lines if line.startswith(prefix)) for prefix in ("stock SB3", "pixelpush step2"))
    for line in (stock, ours):
        assert all(f"{phase} " in line for phase in PHASES) and "the rest" in line
    assert "fp32 convs" in ours and "1 x 24 steps after learning_starts=200" in lines[-4]
