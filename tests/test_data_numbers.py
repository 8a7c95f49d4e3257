"""chapter_numbers(): computed from data/, canonical by the written rule, alternatives kept, prose formatting."""

from __future__ import annotations

import csv
import re

import pytest
from datadir_helpers import copy_data

from pixelpush_lib.core.paths import DATA_DIR
from pixelpush_lib.results.quoted_numbers import chapter_numbers, format_value

EXPECTED = {"state_success_2m", "state_onset_step", "step2_onset_step", "step2_success_2m", "step2_success_4m",
            "step0_band", "step1_success_2m", "step4_success_final", "step4_final_step", "pixel_transition_bytes",
            "sb3_memory_warning_gb", "drq_noise_coord", "phase1_success", "phase2_critic", "phase3_actor"}


def test_every_number_has_provenance():
    numbers = chapter_numbers()
    assert EXPECTED <= set(numbers)
    for name, n in numbers.items():
        assert n.name == name and n.unit and n.provenance in ("reported", "measured", "imported")
        if n.provenance == "reported":
            assert "@" in n.source and ":" in n.source, f"{name}: source '{n.source}' lacks file:line@commit"
        else:  # project runs of data/runs (one, or the seeds of a mean), and the author's figure they replaced
            runs = re.findall(r"data/runs/([\w.-]+)", n.source)
            assert runs, f"{name}: source '{n.source}' names no run in data/runs"
            for run_id in runs:
                assert (DATA_DIR / "runs" / run_id / "manifest.json").is_file(), f"{name}: no data/runs/{run_id}"
            assert n.reported is not None and n.reported.provenance == "reported"
        assert n.value is not None or n.low is not None or n.high is not None


def test_canonical_rule_picks_the_dated_log_and_keeps_alternatives():
    n = chapter_numbers()
    assert n["drq_noise_coord"].source.startswith("tasks/critic_encoder_status.md:581")
    assert any("0.42" in a for a in n["drq_noise_coord"].alternatives)
    assert n["step2_success_2m"].source.startswith("tasks/critic_encoder_status.md:385")
    assert any("tutorials/ch09_pixel_push.md:327" in a for a in n["step2_success_2m"].alternatives)
    assert n["step1_success_2m"].source.startswith("tasks/pixel_push_encoder_research.md")
    assert any("tutorials/ch09_pixel_push.md:243" in a for a in n["step1_success_2m"].alternatives)


def test_numbers_are_read_from_data_at_call_time(tmp_path):
    data = copy_data(tmp_path)
    path = data / "reported" / "facts.csv"
    rows = list(csv.DictReader(open(path, newline="")))
    for r in rows:
        if r["fact"] == "sb3_memory_warning_gb":
            r["value"] = "170.5"
    with open(path, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    assert chapter_numbers(data)["sb3_memory_warning_gb"].value == 170.5


@pytest.mark.parametrize("args, text", [
    ((0.96, "fraction"), "96%"), ((0.103, "fraction"), "10.3%"), ((None, "fraction", 0.05, 0.08), "5-8%"),
    ((None, "fraction", 0.95, None), "95%+"), ((2_200_000, "steps"), "2.2M"), ((169344, "B"), "169,344 B"),
    ((169.62, "GB"), "169.6 GB"), ((83, "GB"), "83 GB"),
    ((None, "loss", -0.7, -0.2), "-0.7 to -0.2 loss"), ((1_000_000, "steps", 1_000_000, 1_500_000), "1M-1.5M"),
])
def test_prose_format(args, text):
    assert format_value(*args) == text


def test_canonical_table_lists_every_chapter_number_with_its_source():
    """book/data_notes.md renders this table at build time; every glued number must appear in it."""
    from pixelpush_lib.chapter.tables import canonical_table_markdown
    from pixelpush_lib.results.quoted_numbers import chapter_numbers

    table = canonical_table_markdown()
    for name, number in chapter_numbers().items():
        assert f"`{name}`" in table and number.source.split("@")[0] in table, name


def test_provenance_summary_says_all_or_a_mix():
    from pixelpush_lib.results.quoted_numbers import provenance_summary

    numbers = chapter_numbers()
    assert provenance_summary(numbers, ["step0_band", "step2_success_4m"]) == "all reported"
    assert numbers["state_success_2m"].provenance == "measured"
    assert provenance_summary(numbers, ["step0_band", "state_success_2m"]) == "a mix: measured, reported"
