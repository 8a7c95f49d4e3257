"""The eyes (issue 25/26): frames as the policy gets them, labels from the simulator, training, the weights' file
checks, the wrapper that runs them in the env, and the state agent reading them."""

from __future__ import annotations

import numpy as np
import pytest
import torch as th

from pixelpush_lib.core.configs import CONFIGS, get_config
from pixelpush_lib.env.expert import PushExpert
from pixelpush_lib.env.puck_state import PUCK_POS, PUCK_ROT, PUCK_VELR, puck_labels, with_puck_estimate, \
    without_rotation
from pixelpush_lib.experiments.investigations import eyes as eyes_exp
from pixelpush_lib.experiments.store import write_measured
from pixelpush_lib.nets.eyes import EyesObservation, EyesSpec, PuckEyes, load_eyes, load_measured_eyes, save_eyes
from tests.datadir_helpers import snapshot

#: The eyes seeds the configs name (eyes_first's and eyes_first_nature's), which fake eyes must hold.
CONFIG_EYES_SEEDS = tuple(sorted({c.eyes_seed for c in CONFIGS.values() if c.eyes_seed is not None}))


def fake_measured_eyes(measured_dir, seeds=CONFIG_EYES_SEEDS, init_seed=0, channels=8):
    """A measured eyes folder with untrained weights (what the loaders and the wrapper see; no training)."""
    files, weights = {}, {}
    for encoder, stack in eyes_exp.ENCODER_STACKS.items():
        weights[encoder] = {}
        for seed in seeds:
            th.manual_seed(init_seed + seed)
            net = PuckEyes(EyesSpec(encoder, stack, channels=channels, cnn_dim=16))
            staged = measured_dir / f"{encoder}{seed}.tmp"
            sha = save_eyes(net, staged)
            name = eyes_exp.weights_file(encoder, seed)
            files[name] = lambda p, staged=staged: p.write_bytes(staged.read_bytes())
            weights[encoder][str(seed)] = {"file": name, "sha256": sha}
    summary = {"weights": weights, "best_seed_by_validation": {e: seeds[0] for e in weights}}
    write_measured("eyes", files, {"fake": True}, "test", 0.0, summary, measured_dir)
    for tmp in measured_dir.glob("*.tmp"):
        tmp.unlink()
    return measured_dir / "eyes"


@pytest.fixture
def measured(tmp_path, monkeypatch):
    """A private data/measured with fake eyes, which every default loader then reads."""
    import pixelpush_lib.core.paths as paths

    folder = tmp_path / "measured"
    fake_measured_eyes(folder)
    monkeypatch.setattr(paths, "MEASURED_DIR", folder)
    return folder


# --- frames and labels -------------------------------------------------------------------------------------------


@pytest.mark.slow
def test_collected_stacks_are_the_observations_and_labels_the_simulators():
    from pixelpush_lib.env.wrappers import make_env

    frames = eyes_exp.collect_episodes("random", 1, 123, eyes_exp.QUICK, progress=False)
    assert len(frames) == 50 and set(frames.source) == {"random"}
    env = make_env("pixels", frame_stack=4)
    obs, _ = env.reset(seed=123)
    rng = np.random.default_rng(123)  # the random source's own generator, so the same actions
    try:
        for t in range(50):
            assert np.array_equal(frames.pixels(np.array([t]), 4)[0], obs["pixels"])
            assert np.array_equal(frames.pixels(np.array([t]), 1)[0], obs["pixels"][-3:])
            np.testing.assert_allclose(frames.labels[t], puck_labels(env.unwrapped._get_obs()["observation"]))
            obs, *_ = env.step(rng.uniform(-1, 1, 4).astype(np.float32))
    finally:
        env.close()


def test_splits_never_share_an_episode():
    p = eyes_exp.PROTOCOL
    ranges = [range(seed + 1000 * k, seed + 1000 * k + n) for seed, n in
              ((p.train_seed, p.train_episodes), (p.val_seed, p.val_episodes), (p.test_seed, p.test_episodes))
              for k in range(len(eyes_exp.SOURCES))]
    seeds = [s for r in ranges for s in r]
    assert len(seeds) == len(set(seeds))


def _pushed_state():
    """A real state a few steps into an expert push, so the puck moves and the gripper with it."""
    from pixelpush_lib.env.wrappers import make_env

    env = make_env("state")
    obs, _ = env.reset(seed=5)
    expert = PushExpert()
    moving = None
    for _ in range(40):
        obs, *_ = env.step(expert(obs))
        if np.linalg.norm(puck_labels(obs["observation"])[2:]) > 1e-3:
            moving = {k: v.copy() for k, v in obs.items()}
    table_z = float(env.unwrapped.height_offset)
    env.close()
    assert moving is not None, "the expert never moved the puck"
    return moving, table_z


def test_writing_the_true_estimate_back_gives_the_state_with_rotation_zeroed():
    state, table_z = _pushed_state()
    label = puck_labels(state["observation"])
    rebuilt = with_puck_estimate(state, label[:2], label[2:], table_z)
    expected = without_rotation(state)["observation"]
    np.testing.assert_allclose(rebuilt["observation"], expected, atol=2e-3)  # the puck rests within mm of table_z
    assert np.all(rebuilt["observation"][PUCK_ROT] == 0) and np.all(rebuilt["observation"][PUCK_VELR] == 0)
    np.testing.assert_allclose(rebuilt["achieved_goal"], rebuilt["observation"][PUCK_POS])
    # A wrong estimate moves every derived entry with it, and nothing else.
    shifted = with_puck_estimate(state, label[:2] + [0.03, 0.0], None, table_z)
    delta = shifted["observation"] - state["observation"]
    assert abs(delta[3] - 0.03) < 1e-9 and abs(delta[6] - 0.03) < 1e-9
    assert np.allclose(np.delete(delta, [3, 5, 6, 8]), 0)  # z differs by the table's mm only


# --- the network and its file ------------------------------------------------------------------------------------


@pytest.mark.parametrize("encoder, stack, outputs", [("manipulation", 4, 4), ("nature", 1, 2)])
def test_eyes_report_metres_and_round_trip_through_their_file(tmp_path, encoder, stack, outputs):
    net = PuckEyes(EyesSpec(encoder, stack, channels=8, cnn_dim=16)).eval()
    pixels = np.random.default_rng(0).integers(0, 255, (3, 3 * stack, 84, 84), dtype=np.uint8)
    assert net.read(pixels).shape == (3, outputs) and net.read(pixels[0]).shape == (outputs,)
    path = tmp_path / "eyes.pt"
    sha = save_eyes(net, path)
    np.testing.assert_array_equal(load_eyes(path, sha).read(pixels), net.read(pixels))


def test_eyes_file_with_another_hash_or_shape_is_refused_by_name(tmp_path):
    path = tmp_path / "eyes.pt"
    sha = save_eyes(PuckEyes(EyesSpec("manipulation", 4, channels=8)), path)
    before = snapshot(tmp_path)
    with pytest.raises(ValueError, match=r"eyes\.pt has sha256 .* not the .* its manifest records"):
        load_eyes(path, "0" * 64)
    payload = th.load(path, weights_only=True)
    payload["spec"]["channels"] = 16  # weights of 8 channels under a spec of 16
    other = tmp_path / "other.pt"
    th.save(payload, other)
    from pixelpush_lib.core.files import sha256_file

    with pytest.raises(ValueError, match=r"other\.pt: weights do not fit"):
        load_eyes(other, sha256_file(other))
    with pytest.raises(FileNotFoundError, match="missing.pt is missing"):
        load_eyes(tmp_path / "missing.pt", sha)
    other.unlink()
    assert snapshot(tmp_path) == before


def test_measured_eyes_are_found_by_the_manifest_and_refused_when_tampered(measured):
    eyes = load_measured_eyes("manipulation")
    assert eyes.spec.frame_stack == 4 and eyes.seed == 0
    with pytest.raises(ValueError, match="no eyes of manipulation seed 3"):
        load_measured_eyes("manipulation", 3)
    target = measured / "eyes" / eyes_exp.weights_file("nature", 0)
    target.write_bytes(target.read_bytes() + b"\0")
    with pytest.raises(ValueError, match=r"eyes_nature_s0\.pt has sha256"):
        load_measured_eyes("nature")


@pytest.mark.slow
def test_training_learns_where_a_square_is():
    """On small frames whose only content is a bright square, the eyes learn its position far better than the
    learned-nothing floor in a few hundred small steps: the training loop, targets and scaling work together
    (48x48 frames keep it to seconds; ManipulationCNN + SpatialSoftmax take any frame size)."""
    rng = np.random.default_rng(0)
    n, size = 300, 48
    xy_px = rng.uniform(4, size - 4, (n, 2))
    frames = np.zeros((n, 3, size, size), np.uint8)
    for i, (x, y) in enumerate(xy_px.astype(int)):
        frames[i, :, y - 3:y + 3, x - 3:x + 3] = 255
    labels = np.zeros((n, 4))
    labels[:, :2] = 1.3 + (xy_px - size / 2) / (size / 2) * 0.15  # pixels -> metres around the table centre
    data = eyes_exp.Frames(frames, np.repeat(np.arange(n)[:, None], 4, axis=1), labels, np.ones(n),
                           np.full(n, "expert"), np.arange(n))
    split = {"train": data, "val": data, "test": data}
    protocol = eyes_exp.EyesProtocol(steps=400, batch_size=16, learning_rate=1e-2, eval_every=400, val_frames=50,
                                     channels=8)
    threads = th.get_num_threads()
    th.set_num_threads(1)  # as the experiment trains (run_one); two threads collapse beside a busy core
    try:
        eyes, curve = eyes_exp.train_eyes("manipulation", "episodes", 0, split, protocol, progress=False)
    finally:
        th.set_num_threads(threads)
    index = np.arange(n)
    learned = np.median(eyes_exp.position_errors_cm(eyes_exp.predict(eyes, data, index), data, index))
    floor = np.median(eyes_exp.position_errors_cm(eyes_exp.learned_nothing(data, data), data, index))
    assert learned < 0.3 * floor, (learned, floor)
    assert list(curve.columns) == ["step", "train_loss", "val_median_cm"]


def test_scores_split_frames_near_the_gripper_and_by_source():
    labels = np.zeros((4, 4))
    data = eyes_exp.Frames(np.zeros((4, 3, 84, 84), np.uint8), np.zeros((4, 4), int), labels,
                           np.array([0.01, 0.02, 0.2, 0.3]), np.array(["expert", "expert", "random", "random"]),
                           np.arange(4))
    estimates = np.array([[0.01, 0, 0, 0], [0.03, 0, 0, 0], [0.0, 0, 0, 0], [0.0, 0.02, 0, 0]])
    rows = {(r["quantity"], r["frames"]): r for r in eyes_exp.score(estimates, data, 0.05)}
    assert rows[("position", "near gripper")]["median_cm"] == pytest.approx(2.0)
    assert rows[("position", "away from gripper")]["median_cm"] == pytest.approx(1.0)
    assert rows[("position", "source: random")]["n"] == 2
    assert rows[("velocity (cm/step)", "all")]["median_cm"] == 0


# --- the eyes in the env, and a policy on them -------------------------------------------------------------------


@pytest.mark.slow
def test_eyes_observation_passes_both_env_checkers_and_hides_the_frames(measured):
    from gymnasium.utils.env_checker import check_env as gym_check
    from stable_baselines3.common.env_checker import check_env as sb3_check

    from pixelpush_lib.env.wrappers import make_env

    eyes = load_measured_eyes("manipulation")
    env = EyesObservation(make_env("pixels", frame_stack=4), eyes)
    try:
        gym_check(env, skip_render_check=True)
        sb3_check(env, warn=False)
        obs, _ = env.reset(seed=3)
        assert "pixels" not in obs and obs["eyes"].shape == (4,)
        frames = env.env._frames
        np.testing.assert_allclose(obs["eyes"], eyes.read(np.concatenate(frames)), rtol=1e-6)
    finally:
        env.close()


@pytest.mark.slow
def test_an_eyes_first_policy_reads_the_eyes_but_never_achieved_goal(measured):
    from pixelpush_lib.training.build import build_model

    config = get_config("eyes_first", {"n_envs": 1, "vec_env": "dummy", "batch_size": 8, "buffer_size": 1000})
    model = build_model(config, seed=0, device="cpu")
    obs = model.env.reset()
    base, _ = model.predict(obs, deterministic=True)
    moved = {k: v.copy() for k, v in obs.items()}
    moved["achieved_goal"] += 0.1
    assert np.array_equal(model.predict(moved, deterministic=True)[0], base)
    moved["eyes"] += 0.1
    assert not np.array_equal(model.predict(moved, deterministic=True)[0], base)
    assert "pixels" not in model.replay_buffer.observations  # the buffer stores what the eyes report
    model.env.close()


@pytest.mark.slow
def test_eyes_first_run_refuses_tampered_eyes_before_writing_and_other_eyes_on_resume(measured, tmp_path):
    from pixelpush_lib.training.run_dir import RunError
    from pixelpush_lib.training.runs import plan_new_run, plan_resume, train

    overrides = {"n_envs": 1, "vec_env": "dummy", "batch_size": 8, "buffer_size": 1000, "learning_starts": 50}
    run_dir = tmp_path / "run"
    train(plan_new_run(get_config("eyes_first", overrides), run_dir, seed=0, total_steps=100), progress_bar=False)
    before = snapshot(run_dir)
    fake_measured_eyes(measured.parent / "measured", init_seed=7)  # re-measured: other weights, other hash
    with pytest.raises(RunError, match="a run keeps its eyes"):
        plan_resume(run_dir, 200)
    assert snapshot(run_dir) == before
    seed = get_config("eyes_first").eyes_seed
    (measured / "eyes" / eyes_exp.weights_file("manipulation", seed)).write_bytes(b"not eyes")
    with pytest.raises(ValueError, match=rf"eyes_manipulation_s{seed}\.pt has sha256"):
        plan_new_run(get_config("eyes_first", overrides), tmp_path / "new", seed=0, total_steps=100)
    assert not (tmp_path / "new").exists()


# --- the state agent on eyes -------------------------------------------------------------------------------------


class _ConstantEyes:
    """Reports a fixed reading; ``spec`` as a single-frame pair of eyes (no velocity)."""

    def __init__(self, readings):
        self.readings = iter(readings)
        self.spec = EyesSpec("nature", 1)

    def read(self, pixels):
        return np.asarray(next(self.readings), dtype=float)


def test_single_frame_eyes_give_velocity_as_the_change_of_their_reading():
    from pixelpush_lib.experiments.investigations.state_on_eyes import eyes_view

    state, table_z = _pushed_state()
    view = eyes_view(_ConstantEyes([[1.30, 0.70], [1.31, 0.72]]), table_z)
    pixels = {"pixels": np.zeros((12, 84, 84), np.uint8)}
    first, _ = view(state, pixels, 0)
    second, xy = view(state, pixels, 1)
    grip_velp = state["observation"][20:23]
    np.testing.assert_allclose(puck_labels(first["observation"])[2:], [0, 0], atol=1e-12)
    np.testing.assert_allclose(puck_labels(second["observation"])[2:], [0.01, 0.02], atol=1e-12)
    np.testing.assert_allclose(second["observation"][14:17], np.r_[0.01, 0.02, 0] - grip_velp)
    np.testing.assert_allclose(xy, [1.31, 0.72])


def test_position_noise_has_the_asked_spread():
    from pixelpush_lib.experiments.investigations.state_on_eyes import noise_view

    state, table_z = _pushed_state()
    view = noise_view(2.0, table_z, seed=0)
    errors = [np.linalg.norm(view(state, None, 0)[1] - state["observation"][PUCK_POS][:2]) * 100 for _ in range(4000)]
    # Two independent axes of 2 cm: the error's median is 2 * sqrt(2 ln 2) = 2.35 cm.
    assert np.median(errors) == pytest.approx(2 * np.sqrt(2 * np.log(2)), rel=0.05)


@pytest.mark.parametrize("manipulation, nature, expected", [
    (0.8, 0.7, "Both encoders' eyes are good enough"),
    (0.1, 0.2, "Neither encoder's eyes are good enough"),
    (0.6, 0.1, "ManipulationCNN + SpatialSoftmax's eyes are good enough to push with and NatureCNN's are not"),
    (0.2, 0.5, "NatureCNN's eyes are good enough to push with and ManipulationCNN + SpatialSoftmax's are not"),
])
def test_the_verdict_on_the_eyes_follows_the_measured_success(manipulation, nature, expected):
    import pandas as pd

    from pixelpush_lib.results.investigations.eyes import eyes_meaning

    assert eyes_meaning(pd.Series({"manipulation": manipulation, "nature": nature}), 0.9).startswith(expected)


@pytest.mark.slow
def test_the_state_agent_plays_every_condition_and_records_the_error_it_met(measured):
    from pixelpush_lib.experiments.investigations.state_on_eyes import StateOnEyesProtocol, run

    protocol = StateOnEyesProtocol(episodes=1, noise_cm=(1.0,))
    table = run(protocol, measured, progress=False)
    eyes_per_encoder = len(CONFIG_EYES_SEEDS)  # every committed seed of each encoder
    assert list(table["condition"]) == ["true state", "rotation zeroed", "noise"] + ["eyes"] * 2 * eyes_per_encoder
    assert set(table.loc[table["condition"] == "eyes", "encoder"]) == {"manipulation", "nature"}
    truth = table.set_index("condition").loc["true state"]
    assert truth["median_error_cm"] == 0 and truth["episodes"] == 1
    noise = table.set_index("condition").loc["noise"]
    assert 0.5 < noise["median_error_cm"] < 2.5  # 1 cm per axis: median 1.18 cm, over 50 draws
    # Untrained eyes report nonsense: the agent met errors of many centimetres.
    assert (table.loc[table["condition"] == "eyes", "median_error_cm"] > 3).all()


def test_the_goal_tolerance_the_page_quotes_is_the_envs():
    from pixelpush_lib.env.wrappers import make_env
    from pixelpush_lib.results.investigations.eyes import GOAL_TOLERANCE_M

    env = make_env("state")
    assert env.unwrapped.distance_threshold == GOAL_TOLERANCE_M
    env.close()
