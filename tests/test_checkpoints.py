"""Pretrained checkpoints: a checkpoint trained tiny here, registered, served from a loopback HTTP server,
downloaded into a cache and verified before SB3 touches it; bad downloads leave nothing behind."""

from __future__ import annotations

import functools
import json
import socket
import threading
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from pixelpush_lib.core.configs import get_config
from pixelpush_lib.core.files import sha256_file
from pixelpush_lib.results.registry import CheckpointError, availability, fetch, read_registry, registered_checkpoints
from pixelpush_lib.sweeps.checkpoints import register_checkpoint
from pixelpush_lib.training import RunDir, evaluate, load_model, load_pretrained, plan_new_run, rollout_gif, train

TINY = {"n_envs": 1, "learning_starts": 150, "batch_size": 8, "buffer_size": 1000, "cnn_channels": 8,
        "image_size": 48, "frame_stack": 2, "net_arch": "32,32"}
EPISODES = 2  # 100 environment steps: enough to test the counting, not a measurement


class _Handler(SimpleHTTPRequestHandler):
    """Serves a folder; ``/truncated/<file>`` promises the whole file and sends half of it, then hangs up."""

    def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
        if not self.path.startswith("/truncated/"):
            return super().do_GET()
        data = (Path(self.directory) / self.path.removeprefix("/truncated/")).read_bytes()
        self.send_response(200)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data[: len(data) // 2])
        self.close_connection = True

    def log_message(self, *args) -> None:
        pass


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """(model.zip trained 200 steps, base URL of a loopback server over its folder)."""
    root = tmp_path_factory.mktemp("ckpt")
    plan = plan_new_run(get_config("step2", TINY), root / "run", seed=0, total_steps=200)
    train(plan, device="cpu", progress_bar=False)
    model_zip = RunDir(root / "run").latest_checkpoint() / "model.zip"
    public = root / "public"
    public.mkdir()
    (public / "model.zip").write_bytes(model_zip.read_bytes())
    server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_Handler, directory=str(public)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield public / "model.zip", f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


@pytest.fixture(scope="module")
def registry(served, tmp_path_factory):
    model_zip, base = served
    path = tmp_path_factory.mktemp("registry") / "checkpoints.json"
    register_checkpoint(model_zip, "tiny_step2", "step2", url=f"{base}/model.zip", n_episodes=EPISODES,
                           overrides=TINY, registry=path, device="cpu")
    return path


def _cache_files(cache: Path) -> list[str]:
    return sorted(str(p.relative_to(cache)) for p in cache.rglob("*")) if cache.exists() else []


def test_committed_registry_lists_only_evaluated_checkpoints():
    entries = registered_checkpoints()
    for entry in entries:  # none today; any future entry must carry its measurement
        assert entry.n_episodes >= 1 and entry.evaluated.get("commit") and len(entry.sha256) == 64
    assert "checkpoints add" in read_registry()["comment"]
    if not registered_checkpoints("step2"):
        assert availability("step2").startswith("No checkpoint is registered for step2")


def test_register_records_hash_steps_and_measured_success(served, registry):
    model_zip, _ = served
    (entry,) = registered_checkpoints("step2", registry)
    assert entry.sha256 == sha256_file(model_zip) and entry.size_bytes == model_zip.stat().st_size
    assert entry.steps == 200 and entry.n_episodes == EPISODES and 0 <= entry.success_rate <= 1
    assert entry.evaluated["deterministic"] and entry.evaluated["commit"]
    assert entry.trained_by == "sac_her"
    assert "tiny_step2: trained by SAC + HER for 200 environment steps" in availability("step2", registry)
    assert registered_checkpoints("step4", registry) == []
    with pytest.raises(CheckpointError, match="already has a checkpoint named 'tiny_step2'"):
        register_checkpoint(model_zip, "tiny_step2", "step2", registry=registry, n_episodes=1, overrides=TINY)


def test_load_pretrained_over_http_then_evaluate_and_gif(served, registry, tmp_path):

    model_zip, _ = served
    cache = tmp_path / "cache"
    model = load_pretrained("tiny_step2", registry=registry, cache_dir=cache, device="cpu")
    (entry,) = registered_checkpoints(None, registry)
    assert _cache_files(cache) == [entry.sha256, f"{entry.sha256}/tiny_step2.zip"]
    direct = load_model(model_zip, "step2", TINY, device="cpu")
    obs = model.get_env().reset()
    assert np.array_equal(model.predict(obs, deterministic=True)[0], direct.predict(obs, deterministic=True)[0])

    result = evaluate(model, n_episodes=EPISODES)
    assert result["n_episodes"] == EPISODES == len(result["successes"])
    assert result["success_rate"] == pytest.approx(np.mean(result["successes"]))
    assert result["success_rate"] == entry.success_rate  # same seed, deterministic policy: same measurement
    gif = rollout_gif(model, tmp_path / "agent.gif", n_steps=5)
    with Image.open(gif) as image:
        assert image.n_frames == 6 and image.size == (48 * 3, 48 * 3)

    # the cached copy is reused (no server needed) and re-verified
    again = fetch(entry, cache, registry)
    assert again.read_bytes() == model_zip.read_bytes()


def test_file_url_and_relative_path(served, tmp_path):
    model_zip, _ = served
    local = tmp_path / "reg" / "models" / "m.zip"
    local.parent.mkdir(parents=True)
    local.write_bytes(model_zip.read_bytes())
    registry = tmp_path / "reg" / "checkpoints.json"
    entry = register_checkpoint(local, "rel", "step2", n_episodes=1, overrides=TINY, registry=registry, device="cpu")
    assert entry.url == "models/m.zip"
    load_pretrained("rel", registry=registry, cache_dir=tmp_path / "c1", device="cpu")
    payload = json.loads(registry.read_text())
    payload["checkpoints"][0]["url"] = local.as_uri()
    registry.write_text(json.dumps(payload))
    load_pretrained("rel", registry=registry, cache_dir=tmp_path / "c2", device="cpu")


def _variant(registry: Path, tmp_path: Path, **changes) -> Path:
    payload = json.loads(registry.read_text())
    payload["checkpoints"][0].update(changes)
    out = tmp_path / "variant.json"
    out.write_text(json.dumps(payload))
    return out


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.parametrize("case, match", [
    ("checksum", "checksum mismatch for 'tiny_step2'.*was not loaded"),
    ("truncated", "truncated download of 'tiny_step2'.*got [0-9,]+ of [0-9,]+ bytes"),
    ("unreachable", "cannot download 'tiny_step2' from http://127.0.0.1:[0-9]+/model.zip.*check your network"),
    ("missing", "HTTP 404"),
])
def test_bad_downloads_are_refused_and_leave_nothing(served, registry, tmp_path, monkeypatch, case, match):
    _, base = served
    changes = {"checksum": {"sha256": "0" * 64},
               "truncated": {"url": f"{base}/truncated/model.zip"},
               "unreachable": {"url": f"http://127.0.0.1:{_closed_port()}/model.zip"},
               "missing": {"url": f"{base}/nothing.zip"}}[case]
    variant = _variant(registry, tmp_path, **changes)

    def never(*args, **kwargs):
        raise AssertionError("SB3 was asked to load an unverified file")

    monkeypatch.setattr("pixelpush_lib.training.pretrained.load_model", never)
    cache = tmp_path / "cache"
    with pytest.raises(CheckpointError, match=match):
        load_pretrained("tiny_step2", registry=variant, cache_dir=cache)
    assert _cache_files(cache) == []  # no partial file, no empty folder


def test_unknown_name_and_broken_registry(registry, tmp_path):
    with pytest.raises(CheckpointError, match="no checkpoint named 'nope'.*registered: tiny_step2"):
        load_pretrained("nope", registry=registry, cache_dir=tmp_path)
    with pytest.raises(CheckpointError, match="no checkpoint named 'x'.*none: the registry is empty"):
        load_pretrained("x", registry=tmp_path / "absent.json", cache_dir=tmp_path)
    broken = tmp_path / "broken.json"
    broken.write_text("{not json")
    with pytest.raises(CheckpointError, match="not valid JSON"):
        registered_checkpoints(registry=broken)
    bad = _variant(registry, tmp_path, success_rate=37.0)  # a percentage where a fraction belongs
    with pytest.raises(CheckpointError, match="success rate in \\[0, 1\\]"):
        registered_checkpoints(registry=bad)
    unknown = _variant(registry, tmp_path, trained_by="magic")
    with pytest.raises(CheckpointError, match="'tiny_step2' has trained_by='magic'.*sac_her, imitation"):
        registered_checkpoints(registry=unknown)


def test_a_student_is_registered_as_taught_by_imitation_and_its_steps_are_labels(served, tmp_path):
    """A pixel student's num_timesteps count expert labels, not environment steps of RL: the registry, the
    listing and the watch caption say which."""
    model_zip, _ = served
    registry = tmp_path / "checkpoints.json"
    with pytest.raises(CheckpointError, match="trained_by='dagger' is unknown; choose from sac_her, imitation"):
        register_checkpoint(model_zip, "student", "step2", n_episodes=1, overrides=TINY, registry=registry,
                            device="cpu", trained_by="dagger")
    assert not registry.exists()  # refused before anything was written
    entry = register_checkpoint(model_zip, "student", "step2", n_episodes=1, overrides=TINY, registry=registry,
                                device="cpu", trained_by="imitation")
    assert registered_checkpoints("step2", registry) == [entry] and entry.trained_by == "imitation"
    assert availability("step2", registry).startswith(
        "student: taught by imitation of the scripted expert (DAgger) on 200 expert labels, success")


def test_a_caption_says_how_an_eyes_first_policy_was_trained_and_what_it_saw():
    from pixelpush_lib.results.registry import CheckpointEntry

    entry = CheckpointEntry("e", "e.zip", "0" * 64, 1, "eyes_first", 1_000_000, 0.1, 100)
    assert entry.training() == ("trained by SAC + HER for 1,000,000 environment steps from pixels, through frozen eyes "
                                "that simulator labels had trained beforehand to locate the puck (its policy never sees "
                                "the puck's true position)")
    fed = CheckpointEntry("e", "e.zip", "0" * 64, 1, "eyes_first", 1_000_000, 0.1, 100,
                          overrides={"policy_sees_achieved_goal": True})
    assert fed.training().endswith("(its policy was also fed the puck's true position, achieved_goal)")
    state = CheckpointEntry("s", "s.zip", "0" * 64, 1, "state", 2_000_000, 0.9, 100)
    assert state.training() == "trained by SAC + HER for 2,000,000 environment steps"
