"""``python -m pixelpush_lib.experiments``: options reach the experiment, and options it does not take are refused
before anything runs."""

from __future__ import annotations

import pytest

import pixelpush_lib.experiments.__main__ as cli


@pytest.fixture
def calls(monkeypatch, tmp_path):
    seen = []
    monkeypatch.setattr(cli, "precompute", lambda name, **kwargs: seen.append((name, kwargs)) or tmp_path)
    return seen


def test_device_seeds_and_jobs_reach_the_distillation(calls, tmp_path):
    assert cli.main(["distill", "--quick", "--out", str(tmp_path), "--seeds", "2", "--jobs", "1",
                     "--device", "cpu"]) == 0
    (name, kwargs), = calls
    assert name == "distill" and kwargs["jobs"] == 1 and kwargs["seeds"] == [2] and kwargs["device"] == "cpu"
    assert kwargs["command"].endswith("distill --quick --out " + str(tmp_path) + " --seeds 2 --jobs 1 --device cpu")


def test_encoders_reach_the_distillation_and_an_unknown_one_is_refused_before_anything_is_written(calls, tmp_path):
    assert cli.main(["distill", "--quick", "--out", str(tmp_path), "--encoders", "nature"]) == 0
    (name, kwargs), = calls
    assert name == "distill" and kwargs["encoders"] == ["nature"]
    from pixelpush_lib.experiments.investigations.distill import precompute

    with pytest.raises(ValueError, match="resnet"):
        precompute(quick=True, measured_dir=tmp_path / "measured", encoders=("resnet",))
    assert not (tmp_path / "measured").exists()


@pytest.mark.parametrize("argv, message", [
    (["distill_control", "--encoders", "nature"], "--encoders: only distill takes encoders"),
    (["probe", "--jobs", "2"], "--jobs 2: only distill, distill_control take jobs"),
    (["distill", "--jobs", "0"], "--jobs 0: only distill, distill_control take jobs, and at least 1"),
    (["probe", "--seeds", "1"], "--seeds: only distill, distill_control take seeds"),
    (["probe", "--device", "cuda"], "--device cuda: probe runs on the CPU"),
])
def test_options_an_experiment_does_not_take_are_refused_before_it_runs(calls, capsys, argv, message):
    with pytest.raises(SystemExit) as exit_:
        cli.main([*argv, "--quick", "--out", "elsewhere"])
    assert exit_.value.code == 2 and message in capsys.readouterr().err and not calls
