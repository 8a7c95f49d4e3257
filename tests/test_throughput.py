"""Reproduce It's GPU sentence: what was measured on which card, or plainly that nothing was."""

from __future__ import annotations

import json

import pytest
import torch as th

from pixelpush_lib.results.measured import gpu_throughput_facts


def test_without_a_measurement_the_page_says_none_was_made(tmp_path):
    text = gpu_throughput_facts(tmp_path)["gpu_throughput"]
    assert text.startswith("No GPU measurement") and "scripts/gpu_check.sh" in text


def test_a_measurement_names_the_card_the_speed_and_the_hours(tmp_path):
    folder = tmp_path / "throughput"
    folder.mkdir()
    summary = {"gpu": "NVIDIA H100 80GB HBM3", "config": "step2", "ours_steps_per_s": 520.0,
               "stock_steps_per_s": 60.0, "hours_per_5m_steps": 5_000_000 / 520 / 3600, "repeats": 3, "steps": 1000}
    (folder / "throughput.json").write_text(json.dumps(summary))
    provenance = {"kind": "measured", "command": "c", "git_commit": "abc", "git_dirty": False, "machine": {},
                  "versions": {}, "date": "d", "wall_time_s": 1.0}
    (folder / "manifest.json").write_text(json.dumps({"schema_version": 1, "experiment": "throughput",
                                                      "provenance": provenance, "parameters": {},
                                                      "files": ["throughput.json"], "summary": summary}))
    facts = gpu_throughput_facts(tmp_path)
    text = facts["gpu_throughput"]
    assert "NVIDIA H100 80GB HBM3" in text and "520 env-steps/s" in text and "2.7 h per 5M steps" in text
    assert "median of 3 repeats of 1,000 steps" in text
    # the author's hours beside ours for the same 4M steps: 4e6 / 520 / 3600 = 2.1 h
    assert "about 2.1 h on one NVIDIA H100" in facts["gpu_vs_author"] and "(reported)" in facts["gpu_vs_author"]
    assert "@" not in facts["gpu_vs_author"]  # the source goes in the page's sources box, not the sentence


def test_the_committed_measurement_is_the_h100_s():
    facts = gpu_throughput_facts()
    assert facts["gpu_throughput"].startswith("Measured on one NVIDIA H100")
    assert "about 40 h" in facts["gpu_vs_author"]


@pytest.mark.skipif(th.cuda.is_available(), reason="checks the refusal on a machine without a GPU")
def test_the_throughput_experiment_refuses_to_measure_a_cpu(tmp_path):
    from pixelpush_lib.experiments.throughput import precompute

    with pytest.raises(RuntimeError, match="none is visible.*scripts/gpu_check.sh"):
        precompute(measured_dir=tmp_path)
    assert list(tmp_path.iterdir()) == []
