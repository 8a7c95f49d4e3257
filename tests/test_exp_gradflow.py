"""Step 2: the encoder-gradient table on one real batch shows SB3's routing is the reverse of DrQ-v2's."""

from pixelpush_lib.chapter.figures.measurements import gradient_flow_figure


def test_gradient_table_pattern(gradflow_table):
    table = gradflow_table  # conftest: measure_gradient_flow at the quick sizes, once per session
    shared = table.loc[("SB3 shared extractor", "shared encoder")]
    assert shared["critic loss"] == 0 and shared["actor loss"] > 0
    assert shared["optimizer"] == "actor" and shared["learns from"] == "actor loss"
    ours = table.loc[("CriticEncoderPolicy (DrQ-v2)", "shared encoder")]
    assert ours["critic loss"] > 0 and ours["actor loss"] == 0
    assert ours["optimizer"] == "critic" and ours["learns from"] == "critic loss"
    actor_copy = table.loc[("SB3 separate (default)", "actor's encoder")]
    critic_copy = table.loc[("SB3 separate (default)", "critic's encoder")]
    assert actor_copy["critic loss"] == 0 and actor_copy["actor loss"] > 0
    assert critic_copy["critic loss"] > 0 and critic_copy["learns from"] == "critic loss"
    assert "measured" in gradient_flow_figure(table).axes[0].get_title()
