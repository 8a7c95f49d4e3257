import subprocess
import sys
import warnings

import numpy as np
import pytest

from pixelpush_lib.env.rendering import CAMERAS, FrameRenderer, mask_extent
from pixelpush_lib.env.wrappers import PROPRIO_INDICES, make_env


def test_pixel_observation_shapes_and_dtypes(pixel_env):
    obs, _ = pixel_env.reset(seed=1)
    assert obs["pixels"].shape == (12, 84, 84) and obs["pixels"].dtype == np.uint8
    assert obs["proprio"].shape == (10,) and obs["proprio"].dtype == np.float32
    assert obs["achieved_goal"].shape == (3,) and obs["desired_goal"].shape == (3,)
    assert pixel_env.observation_space.contains(obs)
    # A real picture, not a blank buffer: the table, the arm and the background differ.
    assert obs["pixels"].std() > 10


def test_proprio_holds_robot_state_only(pixel_env):
    """Moving only the puck must leave proprio unchanged; it carries no object information."""
    obs, _ = pixel_env.reset(seed=2)
    raw = pixel_env.unwrapped._get_obs()["observation"]
    np.testing.assert_allclose(obs["proprio"], raw[PROPRIO_INDICES].astype(np.float32))
    sim = pixel_env.unwrapped
    qpos = sim._utils.get_joint_qpos(sim.model, sim.data, "object0:joint").copy()
    qpos[:2] += 0.05
    sim._utils.set_joint_qpos(sim.model, sim.data, "object0:joint", qpos)
    sim._mujoco.mj_forward(sim.model, sim.data)
    moved = sim._get_obs()
    assert not np.allclose(moved["achieved_goal"], obs["achieved_goal"])
    np.testing.assert_allclose(moved["observation"][PROPRIO_INDICES].astype(np.float32), obs["proprio"])


def test_frame_stack_starts_with_first_frame_and_rolls(pixel_env):
    obs, _ = pixel_env.reset(seed=3)
    frames = obs["pixels"].reshape(4, 3, 84, 84)
    for k in range(1, 4):
        np.testing.assert_array_equal(frames[k], frames[0])
    action = np.array([1.0, 0.0, 0.0, 0.0], dtype=np.float32)
    step1, *_ = pixel_env.step(action)
    step2, *_ = pixel_env.step(action)
    s1, s2 = step1["pixels"].reshape(4, 3, 84, 84), step2["pixels"].reshape(4, 3, 84, 84)
    np.testing.assert_array_equal(s2[:3], s1[1:])  # oldest frame dropped, newest appended
    assert not np.array_equal(s2[3], s2[2])  # the arm moved: frames really differ


def test_frame_stack_never_crosses_episodes(pixel_env):
    pixel_env.reset(seed=4)
    for _ in range(5):
        last, *_ = pixel_env.step(pixel_env.action_space.sample())
    obs, _ = pixel_env.reset(seed=5)
    frames = obs["pixels"].reshape(4, 3, 84, 84)
    assert all(np.array_equal(frames[k], frames[0]) for k in range(4))
    assert not np.array_equal(frames[0], last["pixels"][-3:])


def test_puck_is_about_five_pixels_wide(pixel_env):
    widths = []
    for seed in range(8):
        pixel_env.reset(seed=seed)
        mask = pixel_env.renderer.geom_mask(pixel_env.unwrapped.data, "object0")
        widths.append(mask_extent(mask)[0])
    assert 3 <= np.median(widths) <= 8, widths
    assert min(widths) >= 3, widths


def test_goal_marker_never_drawn(pixel_env):
    """Moving the goal (and so the red target0 site) must not change a single pixel."""
    sim = pixel_env.unwrapped
    shown = FrameRenderer(sim.model, 84, CAMERAS["table"])
    shown._options.sitegroup[:] = 1  # positive control: the same camera with sites drawn

    def move_goal(position):
        sim.goal = np.asarray(position, dtype=np.float64)
        sim._render_callback()  # moves the target0 site to the goal, as Fetch does before rendering
        sim._mujoco.mj_forward(sim.model, sim.data)
        return pixel_env.renderer.rgb(sim.data), shown.rgb(sim.data)

    pixel_env.reset(seed=6)
    hidden_a, shown_a = move_goal([1.20, 0.65, 0.46])  # two spots on the table, in view
    hidden_b, shown_b = move_goal([1.40, 0.85, 0.46])
    shown.close()
    np.testing.assert_array_equal(hidden_a, hidden_b)
    assert (shown_a != shown_b).any(), "control: a drawn marker should move, else this test cannot fail"


def test_compute_reward_is_forwarded_and_batched(pixel_env):
    goals = np.zeros((5, 3))
    near = goals + 0.01
    far = goals + 1.0
    np.testing.assert_array_equal(pixel_env.compute_reward(near, goals, None), np.zeros(5))
    np.testing.assert_array_equal(pixel_env.compute_reward(far, goals, None), -np.ones(5))


@pytest.mark.parametrize("obs_mode, noise", [("pixels", 0.0), ("state", 0.0), ("state", 2.5)])
def test_gymnasium_and_sb3_env_checkers_pass(obs_mode, noise):
    from gymnasium.utils.env_checker import check_env as gym_check_env
    from stable_baselines3.common.env_checker import check_env as sb3_check_env

    env = make_env(obs_mode, puck_noise_median_cm=noise, seed=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        gym_check_env(env)
        sb3_check_env(env)
    env.close()


def test_state_mode_is_the_25d_baseline():
    env = make_env("state", seed=0)
    obs, _ = env.reset(seed=0)
    assert obs["observation"].shape == (25,)
    assert env.compute_reward(obs["achieved_goal"], obs["achieved_goal"], None) == 0.0
    env.close()


def test_noisy_puck_reads_the_puck_as_imprecisely_as_asked_and_keeps_the_truth_for_her_only():
    """The reading's median distance from the truth is the asked 2.5 cm; its velocity is the readings' change (zero
    on an episode's first step); rotation is unknown; achieved_goal and everything but the puck stay true; the noise
    leaves the env's own goals and puck placements alone."""
    from pixelpush_lib.env.puck_state import GRIP_POS, GRIP_VELP, PUCK_POS, PUCK_REL_POS, PUCK_ROT, PUCK_VELP_REL

    noisy, true = make_env("state", puck_noise_median_cm=2.5), make_env("state")
    errors = []
    for episode in range(4):
        obs, _ = noisy.reset(seed=episode)
        truth, _ = true.reset(seed=episode)
        np.testing.assert_array_equal(obs["desired_goal"], truth["desired_goal"])
        np.testing.assert_array_equal(obs["achieved_goal"], truth["achieved_goal"])
        first = obs["observation"]
        np.testing.assert_allclose(first[PUCK_VELP_REL][:2] + first[GRIP_VELP][:2], 0.0, atol=1e-6)  # no motion yet
        last = obs["observation"][PUCK_POS][:2]
        for _ in range(50):
            action = noisy.action_space.sample()
            obs, *_ = noisy.step(action)
            truth, *_ = true.step(action)
            state = obs["observation"]
            np.testing.assert_allclose(state[GRIP_POS], truth["observation"][GRIP_POS], atol=1e-6)
            np.testing.assert_array_equal(obs["achieved_goal"], truth["achieved_goal"])  # the truth, for HER
            np.testing.assert_allclose(state[PUCK_REL_POS], state[PUCK_POS] - state[GRIP_POS], atol=1e-6)
            world_velocity = state[PUCK_VELP_REL][:2] + state[GRIP_VELP][:2]
            np.testing.assert_allclose(world_velocity, state[PUCK_POS][:2] - last, atol=1e-6)
            assert not state[PUCK_ROT].any()
            errors.append(np.linalg.norm(state[PUCK_POS][:2] - truth["achieved_goal"][:2]))
            last = state[PUCK_POS][:2]
    assert np.median(errors) * 100 == pytest.approx(2.5, rel=0.1)  # 200 draws: about 5% standard error
    with pytest.raises(ValueError, match="obs_mode='state' only"):
        make_env("pixels", puck_noise_median_cm=2.5)
    noisy.close()
    true.close()


def test_reset_with_same_seed_gives_same_pixels(pixel_env):
    a, _ = pixel_env.reset(seed=11)
    b, _ = pixel_env.reset(seed=11)
    c, _ = pixel_env.reset(seed=12)
    np.testing.assert_array_equal(a["pixels"], b["pixels"])
    assert not np.array_equal(a["pixels"], c["pixels"])


@pytest.mark.parametrize(
    "kwargs, parameter",
    [
        ({"obs_mode": "rgb"}, "obs_mode"),
        ({"camera": "front"}, "camera"),
        ({"image_size": 16}, "image_size"),
        ({"frame_stack": 0}, "frame_stack"),
        ({"frame_stack": 2.5}, "frame_stack"),
    ],
)
def test_bad_arguments_name_the_parameter_and_allowed_values(kwargs, parameter):
    with pytest.raises(ValueError, match=parameter) as info:
        make_env(**kwargs)
    assert "allowed values" in str(info.value)


def test_other_sizes_and_stacks_render_at_that_size():
    env = make_env("pixels", frame_stack=2, image_size=64, camera="side", seed=0)
    obs, _ = env.reset(seed=0)
    assert obs["pixels"].shape == (6, 64, 64)
    assert env.render().shape == (64, 64, 3)
    env.close()


def test_missing_gl_backend_names_mujoco_gl_and_packages():
    """osmesa is not installed on these machines: the error must say what to install."""
    code = "import pixelpush_lib.env.wrappers as w; w.make_env('pixels')"
    env = {"MUJOCO_GL": "osmesa", "PATH": "/usr/bin:/bin"}
    result = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode != 0
    assert "RenderBackendError" in result.stderr
    assert "MUJOCO_GL=osmesa" in result.stderr and "libosmesa6" in result.stderr


def test_mujoco_imported_first_is_explained():
    """The common notebook mistake: `import mujoco` before pixelpush_lib, with MUJOCO_GL unset."""
    code = "import mujoco; import pixelpush_lib.env.wrappers as w; w.make_env('pixels')"
    env = {"PATH": "/usr/bin:/bin"}
    result = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode != 0
    assert "RenderBackendError" in result.stderr
    assert "mujoco was imported before pixelpush_lib" in result.stderr
