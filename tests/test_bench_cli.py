"""`python -m pixelpush_lib.bench NAME [--busy N]`: the busy processes start, spin and are gone afterwards."""

from __future__ import annotations

import multiprocessing

import pytest

from pixelpush_lib.bench.__main__ import _busy, main


def test_busy_processes_run_during_the_block_and_stop_after():
    with _busy(2):
        spinners = multiprocessing.active_children()
        assert len(spinners) >= 2 and all(p.is_alive() for p in spinners)
    assert not any(p.is_alive() for p in spinners)


def test_a_negative_busy_count_is_refused(capsys):
    with pytest.raises(SystemExit):
        main(["memory", "--busy", "-1"])
    assert "--busy -1" in capsys.readouterr().err


@pytest.mark.parametrize("flag", ["--steps", "--repeats", "--batch-size", "--buffer-size"])
def test_a_train_size_below_one_is_refused(capsys, flag):
    with pytest.raises(SystemExit):
        main(["train", flag, "0"])
    assert f"{flag} 0: give at least 1" in capsys.readouterr().err


def test_an_unknown_precision_is_refused(capsys):
    with pytest.raises(SystemExit):
        main(["train", "--precision", "fp16"])
    assert "fp16" in capsys.readouterr().err
