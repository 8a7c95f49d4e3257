"""Our own state agent (issue 11): its checkpoints are in the repository, act like the registry says, and the
chapter's "Watch a trained agent" shows them. That it loads from a fresh clone with no download host is tested with
the pixel-driven agent that composes it (tests/test_pixel_agent.py)."""

from __future__ import annotations

import base64
import io
import re

import numpy as np
import pytest
from PIL import Image

from pixelpush_lib.chapter.watching import watch_registered
from pixelpush_lib.core.files import sha256_file
from pixelpush_lib.core.paths import DATA_DIR
from pixelpush_lib.results.registry import CheckpointError, registered_checkpoints
from pixelpush_lib.training import evaluate, load_pretrained

STATE_NAMES = {"state_s0_2m": 2_000_000, "state_s0_1m": 1_000_000}


def test_state_checkpoints_are_registered_with_files_in_the_repository():
    entries = {e.name: e for e in registered_checkpoints("state")}
    assert set(STATE_NAMES) <= set(entries)
    for name, steps in STATE_NAMES.items():
        entry = entries[name]
        path = DATA_DIR / entry.url
        assert not re.match(r"^[a-z]+://", entry.url), "a relative url: a clone needs no download host"
        assert path.is_file() and path.stat().st_size == entry.size_bytes < 10_000_000
        assert sha256_file(path) == entry.sha256 and entry.steps == steps and entry.n_episodes == 100
        assert entry.evaluated["seed"] >= 1_000_000  # evaluation seeds no training run uses
    assert entries["state_s0_2m"].success_rate > entries["state_s0_1m"].success_rate + 0.5


@pytest.mark.slow
def test_the_final_state_agent_pushes_and_the_1m_one_does_not(tmp_path):
    # 10 unseen episodes each; the registry's 100-episode figures are 92% and 3%, so these bounds leave room.
    final = evaluate(load_pretrained("state_s0_2m", cache_dir=tmp_path, device="cpu"), n_episodes=10, seed=2_000_000)
    early = evaluate(load_pretrained("state_s0_1m", cache_dir=tmp_path, device="cpu"), n_episodes=10, seed=2_000_000)
    assert final["success_rate"] >= 0.6 and early["success_rate"] <= 0.4, (final, early)


@pytest.mark.slow
def test_watch_shows_a_rollout_of_a_registered_checkpoint(tmp_path):
    html = watch_registered("state", n_episodes=1, cache_dir=tmp_path, name="state_s0_1m", live=True)
    assert "state_s0_1m" in html and "1,000,000 environment steps" in html
    assert "In the one episode shown here (rolled out live here) it succeeded in " in html
    gif = base64.b64decode(re.search(r'src="data:image/gif;base64,([^"]+)"', html).group(1))
    with Image.open(io.BytesIO(gif)) as image:
        assert image.n_frames >= 20 and image.size[0] == 2 * 256  # the reader's view beside the policy's
        frame = np.asarray(image.convert("RGB"))
    assert frame.std() > 10  # a rendered scene, not a blank frame
    with pytest.raises(CheckpointError, match="no checkpoint named 'state_s0_3m'.*state_s0_2m"):
        watch_registered("state", cache_dir=tmp_path, name="state_s0_3m")


def test_watch_without_a_checkpoint_says_so_and_gives_the_command(tmp_path):
    empty = tmp_path / "checkpoints.json"
    html = watch_registered("step2", registry=empty)
    assert "No checkpoint is registered for <code>step2</code>" in html and "pixelpush checkpoints add" in html
    assert "<img" not in html
