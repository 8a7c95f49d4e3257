"""Checks on a trained SB3 policy shared by the tests of the pixel students and of the eyes-first agent."""

from __future__ import annotations

import numpy as np
import torch as th


def actor_mean(model, obs: dict) -> np.ndarray:
    """The actor's mean action before tanh: ``predict`` squashes and clips it, so on an observation far from the
    training data every action can sit at +-1 whatever the input, and equal actions would prove nothing."""
    obs_tensor, _ = model.policy.obs_to_tensor(obs)
    with th.no_grad():
        mean, _, _ = model.actor.get_action_dist_params(obs_tensor)
    return mean.cpu().numpy()


def assert_blind_to_the_puck_position(model, reaches: tuple[str, ...] = ("desired_goal",)) -> None:
    """The policy acts the same when only ``achieved_goal`` (the puck's true position) changes, and differently
    when any key of ``reaches`` changes (the control: those inputs do reach it)."""
    obs = {}
    for i, (key, space) in enumerate(model.observation_space.spaces.items()):
        space.seed(i)  # the same observation on every run: a test that draws its input anew can pass by luck
        obs[key] = space.sample()
    moved = {**obs, "achieved_goal": obs["achieved_goal"] + 0.3}
    assert np.array_equal(actor_mean(model, obs), actor_mean(model, moved))
    assert np.array_equal(model.predict(obs, deterministic=True)[0], model.predict(moved, deterministic=True)[0])
    for key in reaches:
        changed = {**obs, key: obs[key] + 0.3}
        assert not np.array_equal(actor_mean(model, obs), actor_mean(model, changed)), f"{key} does not reach it"
