"""The loss signature read on measured runs (pixelpush_lib.results.investigations.loss_signature): the windows
sit where the run's own onset puts them, each number is a mean of the readings inside its window, and the facts
say how the losses moved."""

from __future__ import annotations

import numpy as np

from datadir_helpers import copy_data, write_measured_run
from pixelpush_lib.results.investigations.loss_signature import (
    loss_signature,
    loss_signature_facts,
    losses_without_climb,
    losses_without_climb_facts,
)

STEPS = np.arange(10_000, 2_000_001, 10_000)


def _run(data, seed: int, onset: int | None, critic, actor) -> None:
    """A measured state run: success 2% until ``onset`` (none: never), 95% from 200K steps after it."""
    success = np.full(len(STEPS), 0.02)
    if onset is not None:
        success = np.where(STEPS >= onset, 0.6, success)
        success = np.where(STEPS >= onset + 200_000, 0.95, success)
    write_measured_run(data, "state", seed, STEPS, success, critic_loss=critic, actor_loss=actor)


def test_each_window_is_the_mean_of_the_readings_inside_it(tmp_path):
    data = copy_data(tmp_path)
    # the critic loss is its own step in units of 1M: each window's mean is the mean of its steps
    _run(data, 0, onset=1_200_000, critic=STEPS / 1e6, actor=np.ones(len(STEPS)))
    row = loss_signature("state", data).iloc[0]
    assert (row.onset_step, row.converged_step, row.last_step) == (1_200_000, 1_400_000, 2_000_000)
    assert np.isclose(row.critic_loss_start, np.mean(np.arange(10_000, 200_000, 10_000)) / 1e6)
    assert np.isclose(row.critic_loss_flat, np.mean(np.arange(900_000, 1_100_000, 10_000)) / 1e6)  # [onset-300K, -100K)
    assert np.isclose(row.critic_loss_climb, np.mean(np.arange(1_100_000, 1_400_001, 10_000)) / 1e6)
    assert np.isclose(row.critic_loss_end, np.mean(np.arange(1_810_000, 2_000_001, 10_000)) / 1e6)
    assert row.actor_loss_flat == 1.0


def test_a_run_without_an_onset_is_left_out_and_facts_say_how_the_losses_moved(tmp_path):
    data = copy_data(tmp_path)
    assert loss_signature_facts("state", data) == {}  # no measured run: nothing to state
    rising, falling = STEPS / 1e6 + 0.002, 2 - STEPS / 1e6  # + 0.002: no mean on a rounding edge
    _run(data, 0, onset=1_200_000, critic=rising, actor=rising)
    _run(data, 1, onset=1_300_000, critic=rising, actor=falling)
    _run(data, 2, onset=None, critic=falling, actor=falling)  # never climbs: no window to compare
    assert list(loss_signature("state", data)["run_id"]) == ["state_s0", "state_s1"]
    facts = loss_signature_facts("state", data)
    assert facts["own_state_sig_seeds"] == "2 seeds"
    assert facts["own_state_sig_runs"] == "data/runs/state_s0, data/runs/state_s1"
    assert facts["own_state_sig_critic_while_flat"] == "rose in every seed"
    assert facts["own_state_sig_critic_with_climb"] == "rose in every seed"
    assert facts["own_state_sig_actor_while_flat"] == "rose in 1 of 2 seeds"
    assert facts["own_state_sig_critic_start"] == "0.10"  # both seeds' start window: the mean of 10K..190K, in M
    assert facts["own_state_sig_critic_start__range"] == "2 seeds, the same to the digits shown"
    assert facts["own_state_sig_critic_flat__range"] == "1.00-1.10 over 2 seeds"
    assert facts["own_state_sig_onset_level"] == "50%" and facts["own_state_sig_window"] == "200K"


def test_a_run_that_never_climbed_is_read_in_its_first_and_last_windows(tmp_path):
    data = copy_data(tmp_path)
    assert losses_without_climb_facts("state", data) == {}  # no measured run: nothing to state
    _run(data, 0, onset=1_200_000, critic=STEPS / 1e6, actor=STEPS / 1e6)  # climbed: the signature's, not this
    _run(data, 1, onset=None, critic=STEPS / 1e6, actor=2 - STEPS / 1e6)
    steps = STEPS[STEPS <= 1_500_000]  # still training, flat so far, both losses a little lower at the end
    write_measured_run(data, "state", 2, steps, np.full(len(steps), 0.02), planned_steps=2_000_000,
                       critic_loss=np.where(steps < 1_000_000, 0.3, 0.25),
                       actor_loss=np.where(steps < 1_000_000, 0.5, 0.4))
    short = STEPS[STEPS <= 390_000]  # shorter than two windows: they would overlap, so it says nothing yet
    write_measured_run(data, "state", 3, short, np.full(len(short), 0.02), planned_steps=2_000_000,
                       critic_loss=np.ones(len(short)), actor_loss=np.ones(len(short)))
    table = losses_without_climb("state", data)
    assert list(table["run_id"]) == ["state_s1", "state_s2"]
    first = table.iloc[0]
    assert first.last_step == 2_000_000
    assert np.isclose(first.critic_loss_start, np.mean(np.arange(10_000, 200_000, 10_000)) / 1e6)
    assert np.isclose(first.critic_loss_end, np.mean(np.arange(1_810_000, 2_000_001, 10_000)) / 1e6)
    assert table.iloc[1].last_step == 1_500_000 and np.isclose(table.iloc[1].critic_loss_end, 0.25)  # its last 200K
    facts = losses_without_climb_facts("state", data)
    assert facts["own_state_noclimb_seeds"] == "2 seeds"
    assert facts["own_state_noclimb_runs"] == "data/runs/state_s1, data/runs/state_s2"
    assert facts["own_state_noclimb_critic_moved"] == "rose in 1 of 2 seeds"
    assert facts["own_state_noclimb_actor_moved"] == "fell in every seed"
    assert facts["own_state_noclimb_spread"].startswith("Over the seeds: critic loss in the start window 0.10-0.30 "
                                                         "over 2 seeds; critic loss in the end window")
    assert facts["own_state_noclimb_last_step"] == "2M" and facts["own_state_noclimb_window"] == "200K"  # the longest
