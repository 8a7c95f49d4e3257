"""The scripted expert pushes the puck to the goal from the true state, and labels any state it is given."""

from __future__ import annotations

import gymnasium as gym
import numpy as np

from pixelpush_lib.env.expert import PushExpert
from pixelpush_lib.experiments.investigations.expert import run_expert
from pixelpush_lib.results.measured import load_manifest


def test_the_expert_solves_most_episodes():
    episodes = run_expert(30, seed=2_000_000)
    assert episodes["success"].mean() >= 0.85, episodes  # 99% over the 200 measured episodes
    assert episodes["final_distance_m"].median() < 0.05


def test_a_do_nothing_controller_does_not_pass_that_bar():
    # control: the bar above is not met by a controller that never moves
    class Still(PushExpert):
        def _act(self, gripper, puck, goal):
            return np.array([0, 0, 0, -1], dtype=np.float32)

    assert run_expert(30, seed=2_000_000, expert=Still())["success"].mean() < 0.3


def test_actions_are_bounded_stateless_and_batched():
    import gymnasium_robotics

    gym.register_envs(gymnasium_robotics)
    env = gym.make("FetchPush-v4")
    expert = PushExpert()
    observations = []
    obs, _ = env.reset(seed=3)
    for _ in range(20):
        observations.append(obs)
        obs, *_ = env.step(env.action_space.sample())
    env.close()
    single = np.stack([expert(o) for o in observations])
    batch = expert({k: np.stack([o[k] for o in observations]) for k in ("observation", "desired_goal")})
    assert single.shape == (20, 4) and single.dtype == np.float32
    assert np.array_equal(single, batch) and np.array_equal(single, np.stack([expert(o) for o in observations]))
    assert np.abs(single).max() <= 1.0 and (single[:, 3] == -1.0).all()  # gripper closed


def test_the_expert_pushes_towards_the_goal_when_lined_up():
    state = np.zeros(25)
    state[0:3] = [1.25, 0.75, 0.42]  # gripper 5.5 cm behind the puck, low
    state[3:6] = [1.305, 0.75, 0.425]
    action = PushExpert()({"observation": state, "desired_goal": np.array([1.45, 0.75, 0.425])})
    assert action[0] > 0.3 and abs(action[1]) < 0.05  # along +x, the line to the goal
    on_goal = PushExpert()({"observation": state, "desired_goal": state[3:6] + [0.01, 0, 0]})
    assert on_goal[2] > 0 and np.allclose(on_goal[:2], 0, atol=1e-6)  # done: lift straight up


def test_measured_expert_success_is_committed():
    manifest = load_manifest("expert")
    assert manifest["summary"]["n_episodes"] >= 200 and manifest["summary"]["success_rate"] >= 0.9
    assert manifest["provenance"]["kind"] == "measured" and not manifest["parameters"]["quick"]


def test_pixel_observations_get_the_labels_of_their_state():
    from pixelpush_lib.env.wrappers import PROPRIO_NAMES, make_env

    assert PROPRIO_NAMES[:3] == ("grip_x", "grip_y", "grip_z")  # the expert reads the gripper from proprio[0:3]
    env = make_env("pixels", frame_stack=1, image_size=32)
    expert = PushExpert()
    obs, _ = env.reset(seed=5)
    for _ in range(10):
        state_obs = env.unwrapped._get_obs()  # the same moment as FetchPush's own 25-D observation
        # proprio holds the gripper in float32: the same action up to that rounding
        assert np.allclose(expert(obs), expert(state_obs), atol=1e-4)
        obs, *_ = env.step(expert(obs))
    env.close()
