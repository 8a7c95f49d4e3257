"""Step 3: buffer memory measured in code, and stop rules replayed on the reported Step 2 curve."""

import pytest

from pixelpush_lib.numbers import chapter_numbers
from pixelpush_lib.patience import (STOP_RULES, bytes_per_transition, memory_table, replay_stop_rules,
                                    step2_loss_table, stop_rules_figure)


def test_memory_per_transition_and_costs():
    per = bytes_per_transition(400)
    sb3, ours = per.loc["SB3 HerReplayBuffer"], per.loc["FrameHerReplayBuffer"]
    assert sb3["pixel_bytes"] == 2 * 12 * 84 * 84  # obs + next_obs, 4-stacked RGB
    assert ours["bytes"] / sb3["bytes"] < 0.2
    table = memory_table(per)
    warning = chapter_numbers()["sb3_memory_warning_gb"].value
    assert table.loc["SB3 HerReplayBuffer", "1M"] == pytest.approx(warning, rel=0.01)
    assert table.loc["SB3 HerReplayBuffer", "500K"] == pytest.approx(table.loc["SB3 HerReplayBuffer", "1M"] / 2)


def test_loss_table_phases():
    losses = step2_loss_table().set_index("step")
    assert losses.loc[2_000_000, "phase"] == 1
    assert losses.loc[2_200_000, "phase"] == 2
    assert losses.loc[4_400_000, "phase"] == 3


def test_stop_rule_replay_says_what_is_quoted_and_what_happened():
    table = replay_stop_rules()
    assert len(table) == len(STOP_RULES)
    assert set(table["kind"]) == {"quoted", "hypothetical"}
    assert table.iloc[0]["decision"] == "STOP"  # the author's kill, replayed on Step 2, stops it in Phase 1
    assert all("onset 2.2M" in text for text in table["what the reported curve did next"])
    assert stop_rules_figure().axes[0].get_title().startswith("reported")
