"""The chapter's rollout videos: rendered once by ``python -m pixelpush_lib.experiments videos``, shown from
``data/measured/videos/``, refused when stale (checkpoint or rendering code changed), live in Colab or when asked."""

from __future__ import annotations

import base64
import io
import json
import re
import shutil
import sys
import types

import numpy as np
import pytest
from PIL import Image

from pixelpush_lib.chapter import watching
from pixelpush_lib.core.paths import DATA_DIR, MEASURED_DIR
from pixelpush_lib.experiments import videos
from pixelpush_lib.experiments.videos import CHAPTER_VIDEOS, VideoError, VideoSpec, stored_video
from pixelpush_lib.results.measured import load_manifest
from pixelpush_lib.training.watch import HEADER_PX


@pytest.mark.parametrize("spec", CHAPTER_VIDEOS, ids=lambda s: s.filename)
def test_every_chapter_video_is_committed_fresh(spec):
    video = stored_video(spec)
    with Image.open(io.BytesIO(video.gif)) as image:
        assert image.n_frames == video.record["frames"] and image.size == (512, 256 + 18)
    assert len(video.successes) == spec.n_episodes
    manifest = load_manifest("videos")
    assert manifest["parameters"]["quick"] is False and manifest["provenance"]["command"].endswith("experiments videos")


@pytest.fixture
def store(tmp_path):
    """A copy of the committed store and registry, to make stale."""
    measured = tmp_path / "measured"
    shutil.copytree(MEASURED_DIR / "videos", measured / "videos")
    registry = tmp_path / "checkpoints.json"
    shutil.copyfile(DATA_DIR / "checkpoints.json", registry)
    return measured, registry


def test_a_video_of_another_checkpoint_is_refused(store):
    measured, registry = store
    payload = json.loads(registry.read_text())
    entry = next(e for e in payload["checkpoints"] if e["name"] == "state_s0_1m")
    entry["sha256"] = "0" * 64  # the checkpoint was replaced (re-registered) after its video was rendered
    registry.write_text(json.dumps(payload))
    with pytest.raises(VideoError, match=r"state_s0_1m_e5_s10000.gif is stale: it was rendered from checkpoint "
                                         r"sha256 a3bab4cee6c9\.\.\., but the registry now lists state_s0_1m with "
                                         r"sha256 000000000000.*experiments videos.*live=True"):
        stored_video(VideoSpec("state_s0_1m", 5), registry, measured)
    stored_video(VideoSpec("state_s0_2m", 5), registry, measured)  # the others stay fresh


def test_a_video_drawn_by_changed_rendering_code_is_refused(store, tmp_path, monkeypatch):
    measured, registry = store
    package = tmp_path / "pixelpush_lib"
    for relative in videos.RENDERING_CODE:
        (package / relative).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(DATA_DIR.parent / "pixelpush_lib" / relative, package / relative)
    assert videos.rendering_code_hash(package) == videos.rendering_code_hash()
    with open(package / "training" / "watch.py", "a") as handle:
        handle.write("\nHEADER_PX = 20\n")  # a caption bar 2 px taller: other frames
    changed = videos.rendering_code_hash(package)
    assert changed != videos.rendering_code_hash()
    monkeypatch.setattr(videos, "rendering_code_hash", lambda: changed)
    with pytest.raises(VideoError, match=r"is stale: it was rendered by code hashing to .* but the rendering code "
                                         r"\(pixelpush_lib/\{.*training/watch.py\}\) now hashes to"):
        stored_video(VideoSpec("state_s0_2m", 3), registry, measured)


def test_an_edited_or_unlisted_video_is_refused(store):
    measured, registry = store
    with open(measured / "videos" / "state_s0_2m_e3_s10000.gif", "r+b") as handle:
        handle.seek(1000)
        handle.write(b"\0\0\0\0")
    with pytest.raises(VideoError, match="sha256 differs from its manifest's"):
        stored_video(VideoSpec("state_s0_2m", 3), registry, measured)
    with pytest.raises(VideoError, match=r"holds no video of state_s0_2m over 4 episodes.*add VideoSpec\(name="
                                         r"'state_s0_2m', n_episodes=4, seed=10000\) to CHAPTER_VIDEOS"):
        stored_video(VideoSpec("state_s0_2m", 4), registry, measured)


def test_the_watch_cell_shows_the_stored_video_and_goes_live_in_colab_or_when_asked(monkeypatch):
    html = watching.watch_registered("state", name="state_s0_1m")
    gif = base64.b64decode(re.search(r'src="data:image/gif;base64,([^"]+)"', html).group(1))
    video = stored_video(VideoSpec("state_s0_1m", 5))
    assert gif == video.gif
    assert (f"Of the 5 episodes shown here (the stored video <code>data/measured/videos/state_s0_1m_e5_s10000.gif"
            f"</code>, rendered once from this checkpoint) it succeeded in {sum(video.successes)}.") in html
    # its size and its caption's height, which the book's page needs to lay its two views out for a phone
    assert 'width="512" height="274" data-caption-px="10"' in html

    class Live(Exception):
        pass

    def live_load(*args, **kwargs):
        raise Live

    monkeypatch.setattr(watching, "load_pretrained", live_load)
    with pytest.raises(Live):
        watching.watch_registered("state", name="state_s0_1m", live=True)
    monkeypatch.setitem(sys.modules, "google.colab", types.ModuleType("google.colab"))
    with pytest.raises(Live):
        watching.watch_registered("state", name="state_s0_1m")
    assert "the stored video" in watching.watch_registered("state", name="state_s0_1m", live=False)


def test_a_caption_is_measured_from_its_top_to_its_bottom_in_the_bar_above_the_views():
    frame = np.zeros((HEADER_PX + 40, 80), np.uint8)
    assert watching.caption_px(frame) == 0
    frame[HEADER_PX:] = 255  # the views below the bar are not the caption
    frame[4:7, 10:20] = 255  # a letter's top
    frame[12:14, 30:33] = 200  # a descender
    assert watching.caption_px(frame) == 10
    frame[12:14, 30:33] = 90  # too dark to be the caption's light text
    assert watching.caption_px(frame) == 3


@pytest.mark.slow
def test_the_command_renders_what_is_missing_or_stale_and_keeps_the_rest(tmp_path, monkeypatch, capsys):
    spec = VideoSpec("state_s0_2m", 1)  # what --quick renders
    videos.precompute(quick=True, measured_dir=tmp_path, command="test")
    first = json.loads((tmp_path / "videos" / "manifest.json").read_text())["summary"]["videos"][spec.filename]
    assert stored_video(spec, measured_dir=tmp_path).successes == first["successes"]
    assert capsys.readouterr().out.count("rendered in") == 1
    videos.precompute(quick=True, measured_dir=tmp_path, command="test")
    assert "fresh, kept" in capsys.readouterr().out
    kept = json.loads((tmp_path / "videos" / "manifest.json").read_text())["summary"]["videos"][spec.filename]
    assert kept == first
    monkeypatch.setattr(videos, "rendering_code_hash", lambda: "f" * 64)
    videos.precompute(quick=True, measured_dir=tmp_path, command="test")
    assert "rendered in" in capsys.readouterr().out
    again = json.loads((tmp_path / "videos" / "manifest.json").read_text())["summary"]["videos"][spec.filename]
    assert again["code_sha256"] == "f" * 64 and again["gif_sha256"] == first["gif_sha256"]  # deterministic frames
    assert [p.name for p in tmp_path.iterdir()] == ["videos"]  # no staging or rendering folder left behind
