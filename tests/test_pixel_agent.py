"""The pixel-driven agent a learner can load and watch (issue 37): the registered state agent acting on what frozen
eyes report. ``load_pretrained`` returns it; it acts on the pixel env's own observation; everything it knows of the
puck comes from the eyes (never ``achieved_goal``); bad frames and a corrupt or missing eyes file are clear errors;
its registry entry says how each part was trained."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from dataclasses import asdict
from pathlib import Path

import numpy as np
import pytest

from pixelpush_lib.core.files import sha256_file
from pixelpush_lib.core.paths import DATA_DIR
from pixelpush_lib.env.puck_state import PUCK_POS, PUCK_ROT, PUCK_VELR
from pixelpush_lib.env.wrappers import PROPRIO_INDICES, make_env
from pixelpush_lib.results.measured import load_manifest
from pixelpush_lib.results.registry import CheckpointError, get_entry, registered_checkpoints
from pixelpush_lib.training import load_pretrained
from pixelpush_lib.training.pixel_agent import StateOnEyesAgent
from pixelpush_lib.training.pretrained import EVAL_SEED

NAME = "state_on_eyes_s0"


@pytest.fixture(scope="module")
def agent(tmp_path_factory) -> StateOnEyesAgent:
    return load_pretrained(NAME, cache_dir=tmp_path_factory.mktemp("cache"), device="cpu")


@pytest.fixture(scope="module")
def env():
    env = make_env("pixels", frame_stack=4)
    yield env
    env.close()


def _pushed(env, steps: int = 6, seed: int = 7):
    """An observation a few steps into an episode (the puck's velocity and the stack's frames are not all zero)."""
    obs, _ = env.reset(seed=seed)
    for _ in range(steps):
        obs, *_ = env.step(np.array([0.5, 0.5, -0.2, 0.0], dtype=np.float32))
    return obs


def test_load_pretrained_returns_the_state_agent_acting_on_eyes(agent):
    entry = get_entry(NAME)
    assert isinstance(agent, StateOnEyesAgent) and agent.pixelpush_config.name == entry.config
    assert agent.pixelpush_config.obs_mode == "pixels" and agent.num_timesteps == entry.steps == 2_000_000
    assert agent.pixels_shape == (12, 84, 84) and agent.observation_space["pixels"].shape == (12, 84, 84)


def test_it_acts_on_the_pixel_envs_own_observation_single_or_batched(agent, env):
    obs = _pushed(env)
    action, state = agent.predict(obs, deterministic=True)
    assert action.shape == (4,) and np.all(np.abs(action) <= 1) and state is None
    batched, _ = agent.predict({k: v[None] for k, v in obs.items()}, deterministic=True)  # a VecEnv's (1, ...)
    assert batched.shape == (1, 4) and np.allclose(batched[0], action, atol=1e-6)


def test_it_reads_the_puck_from_the_frames_and_never_from_achieved_goal(agent, env):
    obs = _pushed(env)
    action, _ = agent.predict(obs)
    for achieved in (obs["achieved_goal"] + [0.1, -0.08, 0.0], np.full(3, np.nan)):
        moved, _ = agent.predict({**obs, "achieved_goal": achieved})
        assert np.array_equal(moved, action), "achieved_goal changed the action: the agent read the puck's truth"
    without, _ = agent.predict({k: v for k, v in obs.items() if k != "achieved_goal"})
    assert np.array_equal(without, action)
    other = _pushed(env, steps=0, seed=8)  # another episode's frames: another puck (the rest of obs unchanged)
    elsewhere, _ = agent.predict({**obs, "pixels": other["pixels"]})
    assert not np.allclose(elsewhere, action), "the frames did not change the action: the eyes are not read"


def test_the_state_it_acts_on_is_proprio_and_what_the_eyes_report(agent, env):
    """The 25-D state of ``experiments.investigations.state_on_eyes``'s eyes condition (measured 76% with these eyes):
    the robot's entries true, the puck's the eyes' reading on the table, rotation zeroed."""
    obs = _pushed(env)
    true = env.unwrapped._get_obs()
    seen = agent.state_observation(obs)
    reading = agent.eyes.read(obs["pixels"])
    assert np.allclose(seen["observation"][PROPRIO_INDICES], true["observation"][PROPRIO_INDICES], atol=1e-6)
    assert np.allclose(seen["observation"][PUCK_POS], [*reading[:2], agent.table_z])
    assert np.array_equal(seen["achieved_goal"], seen["observation"][PUCK_POS])
    assert not seen["observation"][PUCK_ROT].any() and not seen["observation"][PUCK_VELR].any()
    assert np.array_equal(seen["desired_goal"], obs["desired_goal"])
    assert np.abs(seen["observation"][PUCK_POS][:2] - true["observation"][PUCK_POS][:2]).max() < 0.05  # eyes see it


@pytest.mark.parametrize("change, match", [
    (lambda o: {**o, "pixels": np.zeros((12, 64, 64), np.uint8)},
     r"frames of 64x64, not 84x84: render them at image_size=84.*reads \(12, 84, 84\)"),
    (lambda o: {**o, "pixels": o["pixels"][-3:]},
     r"3 channels, a stack of 1 RGB frames, not 4: stack frame_stack=4.*reads \(12, 84, 84\)"),
    (lambda o: {**o, "pixels": np.concatenate([o["pixels"], o["pixels"]])}, r"a stack of 8 RGB frames, not 4"),
    (lambda o: {**o, "pixels": np.moveaxis(o["pixels"], 0, -1)}, r"channels last; move them first"),
    (lambda o: {**o, "pixels": o["pixels"] / 255.0}, r"pixels are float64; the eyes read uint8 frames in 0..255"),
    (lambda o: {**o, "proprio": o["proprio"][:5]}, r"proprio of shape \(5,\).*expected \(10,\)"),
    (lambda o: {"observation": np.zeros(25), "achieved_goal": o["achieved_goal"], "desired_goal": o["desired_goal"]},
     r"acts on the pixel env's observation, a dict with 'pixels' \(12, 84, 84\) uint8.*make_env\('pixels', "
     r"frame_stack=4, image_size=84\)"),
])
def test_bad_input_is_a_clear_error_naming_the_expected_shape(agent, env, change, match):
    obs = _pushed(env, steps=0)
    with pytest.raises(ValueError, match=match):
        agent.predict(change(obs))


def test_the_registry_entry_says_how_each_part_was_trained_and_pins_both():
    entry = get_entry(NAME)
    assert entry.trained_by == "composed" and entry.n_episodes == 100 and entry.evaluated["seed"] >= EVAL_SEED
    assert entry.url == f"checkpoints/{NAME}.json" and sha256_file(DATA_DIR / entry.url) == entry.sha256
    eyes, controller = entry.parts["eyes"], entry.parts["controller"]
    measured = load_manifest("eyes")["summary"]["weights"][eyes["encoder"]][str(eyes["seed"])]
    assert eyes["url"] == f"measured/eyes/{measured['file']}" and eyes["sha256"] == measured["sha256"]
    assert sha256_file(DATA_DIR / eyes["url"]) == eyes["sha256"] and "simulator labels" in eyes["trained_with"]
    assert controller["sha256"] == get_entry(controller["checkpoint"]).sha256
    assert controller["checkpoint"] == "state_s0_2m" and "SAC + HER on the true" in controller["trained_with"]
    assert json.loads((DATA_DIR / entry.url).read_text())["eyes"]["sha256"] == eyes["sha256"]  # the manifest agrees
    caption = entry.training()
    assert caption.startswith("the state agent state_s0_2m (trained by SAC + HER on the true 25-D state for "
                              "2,000,000 environment steps) acting on what frozen ManipulationCNN eyes report (seed 1, "
                              "trained with simulator labels")
    assert caption.endswith("it never reads the puck's true position")


def _copied_registry(tmp_path: Path) -> Path:
    """The committed registry's composite and its controller, in ``tmp_path``, with a copy of the eyes to break."""
    entry, state = get_entry(NAME), get_entry("state_s0_2m")
    manifest = json.loads((DATA_DIR / entry.url).read_text())
    (tmp_path / "eyes.pt").write_bytes((DATA_DIR / manifest["eyes"]["url"]).read_bytes())
    manifest["eyes"]["url"] = "eyes.pt"
    (tmp_path / "agent.json").write_text(json.dumps(manifest))
    composite = {**asdict(entry), "url": "agent.json", "sha256": sha256_file(tmp_path / "agent.json"),
                 "size_bytes": (tmp_path / "agent.json").stat().st_size}
    controller = {**asdict(state), "url": (DATA_DIR / state.url).resolve().as_uri()}
    registry = tmp_path / "checkpoints.json"
    registry.write_text(json.dumps({"schema_version": 1, "checkpoints": [controller, composite]}))
    return registry


def test_a_corrupt_or_missing_eyes_file_or_another_controller_is_a_clear_error(tmp_path, monkeypatch):
    registry = _copied_registry(tmp_path)
    monkeypatch.setattr("pixelpush_lib.training.pretrained.load_model",
                        lambda *a, **k: pytest.fail("a model was loaded though a part was not the registered one"))
    eyes = tmp_path / "eyes.pt"
    eyes.write_bytes(eyes.read_bytes()[:-100] + b"\0" * 100)
    with pytest.raises(CheckpointError, match=r"the file of 'state_on_eyes_s0.eyes' \(eyes.pt\) is not the registered "
                                              r"one.*restore it from git"):
        load_pretrained(NAME, registry=registry, cache_dir=tmp_path / "cache")
    eyes.unlink()
    with pytest.raises(CheckpointError, match=r"the file of 'state_on_eyes_s0.eyes' is missing: .*eyes.pt.*Restore "
                                              "it from git"):
        load_pretrained(NAME, registry=registry, cache_dir=tmp_path / "cache")
    payload = json.loads(registry.read_text())
    payload["checkpoints"][0]["sha256"] = "1" * 64  # the controller re-registered since the agent was
    registry.write_text(json.dumps(payload))
    (tmp_path / "eyes.pt").write_bytes((DATA_DIR / get_entry(NAME).parts["eyes"]["url"]).read_bytes())
    with pytest.raises(CheckpointError, match="pins controller 'state_s0_2m' at sha256 .* re-register this agent"):
        load_pretrained(NAME, registry=registry, cache_dir=tmp_path / "cache")


def test_a_composed_entry_without_its_parts_is_refused(tmp_path):
    payload = {"schema_version": 1, "checkpoints": [{**asdict(get_entry(NAME)), "parts": {"eyes": {}}}]}
    (tmp_path / "r.json").write_text(json.dumps(payload))
    with pytest.raises(CheckpointError, match=r"lacks parts \['eyes.url'.*'controller.checkpoint'"):
        registered_checkpoints(registry=tmp_path / "r.json")


def test_the_add_command_composes_only_a_whole_agent_and_never_overwrites_a_registered_one(tmp_path, capsys):
    from pixelpush_lib.cli import main

    registry = tmp_path / "checkpoints.json"
    registry.write_text(json.dumps({"schema_version": 1, "checkpoints": [asdict(get_entry(NAME))]}))
    manifest = tmp_path / "agent.json"
    base = ["checkpoints", "add", str(manifest), "--config", "step1_pixels_only", "--registry", str(registry)]
    assert main([*base, "--name", "other", "--eyes", "manipulation:1"]) == 2
    assert "--eyes and --controller go together" in capsys.readouterr().err
    assert main([*base, "--name", NAME, "--eyes", "manipulation:1", "--controller", "state_s0_2m"]) == 2
    assert f"already has a checkpoint named {NAME!r}" in capsys.readouterr().err
    assert not manifest.exists()  # refused before its manifest was written


@pytest.mark.slow
def test_it_and_the_state_agent_load_from_a_fresh_clone_with_no_download(tmp_path):
    """A clone is what a Colab learner gets: the committed registry, manifest, eyes and state checkpoint, and a cache
    folder that does not exist yet. Where the working tree is ahead of HEAD, what it would commit is copied in. The
    state agent it composes loads there on its own too (one clone and one process for both: seconds of imports)."""
    root = DATA_DIR.parent
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "--quiet", "--no-hardlinks", str(root), str(clone)], check=True)
    for path in ("pixelpush_lib", "data/checkpoints", "data/checkpoints.json", "data/measured/eyes"):
        source, target = root / path, clone / path
        if source.is_dir():
            shutil.copytree(source, target, dirs_exist_ok=True, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(source, target)
    code = (
        "import json\n"
        "import pixelpush_lib\n"
        "from pixelpush_lib.env.wrappers import make_env\n"
        "from pixelpush_lib.training import load_pretrained\n"
        f"agent = load_pretrained({NAME!r}, cache_dir={str(tmp_path / 'cache')!r}, device='cpu')\n"
        "obs, _ = make_env('pixels', frame_stack=4).reset(seed=3)\n"
        "action, _ = agent.predict(obs)\n"
        f"state = load_pretrained('state_s0_2m', cache_dir={str(tmp_path / 'cache')!r}, device='cpu')\n"
        "print(json.dumps({'action': action.tolist(), 'state_steps': int(state.num_timesteps),\n"
        "                  'lib': pixelpush_lib.__file__}))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=clone, capture_output=True, text=True,
                         env={"PYTHONPATH": str(clone), "PATH": "/usr/bin:/bin", "MUJOCO_GL": "egl",
                              "OMP_NUM_THREADS": "1"})
    assert out.returncode == 0, out.stderr[-2000:]
    loaded = json.loads(out.stdout.strip().splitlines()[-1])
    assert len(loaded["action"]) == 4 and loaded["lib"].startswith(str(clone))
    assert loaded["state_steps"] == 2_000_000
