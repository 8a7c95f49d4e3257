"""SB3 SAC + HerReplayBuffer really trains on the pixel env (tiny batch, CPU)."""

import numpy as np
import pytest
from stable_baselines3 import SAC, HerReplayBuffer

from pixelpush_lib.nets.encoders import ManipulationExtractor, NatureExtractor

pytestmark = pytest.mark.slow  # SAC + HER trains on rendered pixels


@pytest.mark.parametrize("extractor, precision", [(ManipulationExtractor, "fp32"), (NatureExtractor, "fp32"),
                                                   (ManipulationExtractor, "bf16")])
def test_sac_her_trains_on_pixels(pixel_env, extractor, precision):
    # 100 steps fill the buffer with two episodes, then 10 updates: enough to move the critic. An update in bf16 takes
    # about a second on a CPU without bf16 units (ten times fp32's), so no more than that.
    model = SAC(
        "MultiInputPolicy",
        pixel_env,
        replay_buffer_class=HerReplayBuffer,
        replay_buffer_kwargs={"n_sampled_goal": 4, "goal_selection_strategy": "future"},
        policy_kwargs={"features_extractor_class": extractor, "normalize_images": False,
                       "features_extractor_kwargs": {"precision": precision}},
        batch_size=4,
        buffer_size=300,
        learning_starts=100,
        seed=0,
        device="cpu",
    )
    before = [p.detach().clone() for p in model.critic.parameters()]
    model.learn(total_timesteps=110)
    assert model.num_timesteps == 110
    assert model.replay_buffer.size() == 110
    assert model.logger.name_to_value["train/n_updates"] == 10
    assert np.isfinite(model.logger.name_to_value["train/critic_loss"])
    assert any(not np.array_equal(b, p.detach()) for b, p in zip(before, model.critic.parameters()))
    action, _ = model.predict(pixel_env.reset(seed=0)[0], deterministic=True)
    assert pixel_env.action_space.contains(action)
