"""The eyes-first agent as a reader meets it (issue 26): registered after an evaluation, loaded through the registry,
blind to the puck's true position, and watched beside the state agent with a caption that says how it was trained."""

from __future__ import annotations

import json
from dataclasses import asdict

import pytest

from conftest import once_per_session
from policy_checks import assert_blind_to_the_puck_position
from pixelpush_lib.results.registry import registered_checkpoints

TINY = {"n_envs": 1, "vec_env": "dummy", "batch_size": 8, "buffer_size": 1000, "learning_starts": 50}


@pytest.fixture(scope="module")
def tiny_eyes_first(tmp_path_factory):
    """A real eyes-first run of 100 steps on the committed eyes, and its model.zip."""
    from pixelpush_lib.core.configs import get_config
    from pixelpush_lib.training.runs import plan_new_run, train

    def build(runs):
        run_dir = runs / "eyes_first_s0"
        train(plan_new_run(get_config("eyes_first", TINY), run_dir, seed=0, total_steps=100), device="cpu",
              progress_bar=False, checkpoint_every=100)
        return next(run_dir.glob("checkpoints/step_*/model.zip"))

    return once_per_session(tmp_path_factory, "tiny-eyes-first", build)


@pytest.mark.slow
def test_a_registered_eyes_first_agent_loads_acts_blind_to_the_puck_and_is_shown_as_trained(tiny_eyes_first, tmp_path):
    from pixelpush_lib.chapter.watching import watch_beside_the_state_agent
    from pixelpush_lib.core.paths import DATA_DIR
    from pixelpush_lib.sweeps.checkpoints import register_checkpoint
    from pixelpush_lib.training import load_pretrained

    registry = tmp_path / "checkpoints.json"
    # the state agent it is shown beside, as the committed registry lists it
    state = next(e for e in registered_checkpoints("state") if e.name == "state_s0_2m")
    state_file = (DATA_DIR / state.url).resolve().as_uri()
    registry.write_text(json.dumps({"schema_version": 1, "checkpoints": [{**asdict(state), "url": state_file}]}))
    entry = register_checkpoint(tiny_eyes_first, "eyes_first_tiny", "eyes_first", n_episodes=1, registry=registry,
                                device="cpu")
    assert entry.steps == 100 and entry.config == "eyes_first"
    agent = load_pretrained("eyes_first_tiny", registry=registry, cache_dir=tmp_path / "cache", device="cpu")
    assert_blind_to_the_puck_position(agent, reaches=("eyes", "proprio", "desired_goal"))
    html = watch_beside_the_state_agent("eyes_first", n_episodes=1, registry=registry, cache_dir=tmp_path / "cache",
                                        live=True)
    assert html.count("<figure") == 2 and "<code>state_s0_2m</code>" in html and "<code>eyes_first_tiny</code>" in html
    assert ("trained by SAC + HER for 100 environment steps from pixels, through frozen eyes that simulator labels "
            "had trained beforehand") in html


def test_without_an_eyes_first_agent_the_state_agent_is_shown_with_the_commands_that_make_one(tmp_path):
    from pixelpush_lib.chapter.watching import watch_beside_the_state_agent

    html = watch_beside_the_state_agent("eyes_first", registry=tmp_path / "empty.json")
    assert "Not registered yet, so not shown: <code>state_s0_2m</code>" in html
    assert "No checkpoint is registered for <code>eyes_first</code>" in html and "pixelpush checkpoints add" in html


def test_every_registered_eyes_first_agent_is_blind_to_the_puck_position(tmp_path):
    """The committed agents themselves (data/checkpoints.json), not a stand-in."""
    from pixelpush_lib.training import load_pretrained
    from pixelpush_lib.training.pretrained import EVAL_SEED

    entries = [e for e in registered_checkpoints() if e.config.startswith("eyes_first")]
    assert entries, "no eyes-first agent is registered: register the run's checkpoint (pixelpush checkpoints add)"
    for entry in entries:
        assert entry.n_episodes == 100 and entry.evaluated["seed"] >= EVAL_SEED  # episodes no training run saw
        agent = load_pretrained(entry.name, cache_dir=tmp_path, device="cpu")
        assert_blind_to_the_puck_position(agent, reaches=("eyes", "desired_goal"))
