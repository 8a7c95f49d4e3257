"""Mixed precision against float32 on Step 1's probe: the experiment runs both alike and the page's sentence
reads the measured numbers."""

import pandas as pd
import pytest

from conftest import once_per_session
from pixelpush_lib.experiments import EXPERIMENTS, precision
from pixelpush_lib.results.measured import load_manifest, precision_facts


@pytest.fixture(scope="module")
def quick_folder(tmp_path_factory):
    return once_per_session(tmp_path_factory, "precision-quick",
                            lambda out: precision.precompute(quick=True, measured_dir=out))


def test_quick_run_trains_each_seed_in_both_precisions(quick_folder):
    assert EXPERIMENTS["precision"] == "precision"
    table = pd.read_csv(quick_folder / precision.TABLE)
    assert sorted(table["precision"]) == ["bf16", "fp32"]  # QUICK has one seed
    assert (table["median_px"] > 0).all() and (table["train_s"] > 0).all()
    # The same seed, frames and batches: the two runs differ only by arithmetic, so not bit for bit.
    assert table.loc[0, "median_px"] != table.loc[1, "median_px"]
    manifest = load_manifest("precision", quick_folder.parent)
    assert manifest["parameters"]["cpu_bf16"] in ("amx_bf16", "avx512_bf16", "none")
    by_precision = table.set_index("precision")
    speedup = by_precision.loc["fp32", "train_s"] / by_precision.loc["bf16", "train_s"]
    assert manifest["summary"]["bf16_speedup"] == pytest.approx(speedup, rel=0.01)  # the table keeps 4 decimals


def test_the_sentence_reads_the_measured_summary(quick_folder):
    summary = load_manifest("precision", quick_folder.parent)["summary"]
    sentence = precision_facts(quick_folder.parent)["precision_result"]
    assert f"{summary['bf16_speedup']:.1f} times as fast" in sentence
    lo, hi = summary["range_px"]["fp32"]
    assert f"to {summary['median_px']['bf16']:.2f} px (" in sentence
    assert f"against {summary['median_px']['fp32']:.2f} px ({lo:.2f} to {hi:.2f} px) in float32" in sentence


def test_without_a_measurement_the_page_says_none_was_made(tmp_path):
    assert precision_facts(tmp_path)["precision_result"].startswith("No measurement of bf16")


def test_the_committed_measurement_is_the_full_protocol_on_both_precisions():
    table = precision.load_table()
    assert table.groupby("precision")["seed"].apply(sorted).to_dict() == {"bf16": [0, 1, 2], "fp32": [0, 1, 2]}
    assert load_manifest("precision")["parameters"]["quick"] is False
