"""Step 3: buffer memory measured in code, and stop rules replayed on the reported Step 2 curve."""

from dataclasses import replace

import pytest

from pixelpush_lib.chapter.figures.measurements import stop_rules_figure
from pixelpush_lib.experiments.patience import (
    STOP_RULES,
    _share_text,
    budget_ratio,
    bytes_per_transition,
    memory_table,
    patience_facts,
    replay_stop_rules,
    step2_loss_table,
)
from pixelpush_lib.results.quoted_numbers import chapter_numbers


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


def test_patience_facts_are_what_step_3_states():
    """The facts Step 3 glues, computed from data/ and a real measurement; each checked against its source."""
    numbers = chapter_numbers()
    facts = patience_facts(numbers, capacity=400)
    expected_keys = {f"phase{p}_{m}_v" for p in (1, 2, 3) for m in ("critic", "actor")} | {
        "q_always_failing_v", "her_k", "her_relabelled", "step4_actor_high", "budget_ratio", "quoted_stops",
        "quoted_rules", "quoted_verdict", "sb3_1m_gb", "frame_1m_gb", "frame_500k_gb", "buffer_ratio"}
    assert set(facts.glued) == expected_keys
    assert (facts.glued["her_k"], facts.glued["her_relabelled"]) == ("8", "89%")  # Step 2: k = 8, 8/9 relabelled
    assert not facts.glued["phase1_critic_v"].endswith("loss")
    assert facts.glued["buffer_ratio"].endswith("%") and 0 < float(facts.glued["buffer_ratio"][:-1]) < 20
    quoted = facts.stop_rules[facts.stop_rules["kind"] == "quoted"]
    assert facts.glued["quoted_rules"] == str(len(quoted)) and int(facts.glued["quoted_stops"]) <= len(quoted)
    stops = int((quoted["decision"] == "STOP").sum())
    assert facts.glued["quoted_verdict"] == _share_text(stops, len(quoted))
    # the budget rule compares the author's two runs, even where a project run replaced one of the numbers
    state, pixel = (numbers[name].reported or numbers[name] for name in ("state_onset_step", "step2_onset_step"))
    low = pixel.value / (state.high if state.high is not None else state.value)
    assert facts.glued["budget_ratio"].startswith(f"{low:.1f}")


def test_budget_ratio_is_a_ratio_or_a_range():
    base = replace(chapter_numbers()["state_onset_step"], reported=None)
    point = {"state_onset_step": replace(base, value=500_000, low=None, high=None),
             "step2_onset_step": replace(base, value=2_000_000, low=None, high=None)}
    assert budget_ratio(point) == "4.0"
    ranged = dict(point, state_onset_step=replace(base, value=500_000, low=400_000, high=1_000_000))
    assert budget_ratio(ranged) == "2.0 to 5.0"


def test_a_share_of_rules_reads_as_words():
    assert [_share_text(h, t) for h, t in ((2, 2), (3, 3), (1, 1), (0, 2), (1, 3), (0, 1))] == [
        "Both rules", "All 3 rules", "The one rule", "None of the 2 rules", "1 of the 3 rules", "Not the one rule"]
