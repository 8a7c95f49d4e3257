"""Rollout videos of registered checkpoints, rendered once and kept as measured files in ``data/measured/videos/``.

``python -m pixelpush_lib.experiments videos`` renders every video of :data:`CHAPTER_VIDEOS` whose stored copy is
missing or stale and keeps the others as they are. Each video is keyed on two hashes: the sha256 of the checkpoint
(as the registry lists it) and :func:`rendering_code_hash`, the sha256 of the code that rolls the agent out and
draws the frames (:data:`RENDERING_CODE`). :func:`stored_video` refuses a video whose key no longer matches, with
the command that re-renders it, so a page never shows an agent that is not the registered one, or frames drawn by
code that has since changed. The chapter's watch cells show the stored video and roll the agent out live only when
asked (``live=True``) or in Colab (:mod:`pixelpush_lib.chapter.watching`).
"""

from __future__ import annotations

import hashlib
import json
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pixelpush_lib.core.files import git_commit, sha256_file, utc_now
from pixelpush_lib.core.paths import MEASURED_DIR
from pixelpush_lib.results.measured import MANIFEST
from pixelpush_lib.results.registry import REGISTRY, get_entry

EXPERIMENT = "videos"
COMMAND = "python -m pixelpush_lib.experiments videos"
#: The modules whose code decides a video's frames, relative to ``pixelpush_lib/``: the env the policy acts in (and,
#: for an eyes-first agent, the frozen eyes it reads through and the wrapper that builds that env), the checkpoint
#: loading and its one-env VecEnv, the state agent acting on eyes, the renderer and cameras, and the rollout and GIF
#: encoding.
RENDERING_CODE = ("env/rendering.py", "env/wrappers.py", "nets/eyes.py", "training/build.py", "training/pretrained.py",
                  "training/pixel_agent.py", "training/watch.py")
DEFAULT_SEED = 10_000  # env seeds from here on: apart from training's small seeds and evaluation's 1,000,000+


@dataclass(frozen=True)
class VideoSpec:
    """One video: ``n_episodes`` deterministic episodes of the registered checkpoint ``name`` on env seeds from
    ``seed`` on (:func:`pixelpush_lib.training.watch.watch` with its default sizes and frame rate)."""

    name: str
    n_episodes: int
    seed: int = DEFAULT_SEED

    @property
    def filename(self) -> str:
        return f"{self.name}_e{self.n_episodes}_s{self.seed}.gif"


#: What the chapter's watch cells show. Step 0: each state checkpoint over 5 episodes; Step 1: the state agent beside
#: the best registered student of each encoder (``best_registered_student``), 3 episodes each; Steps 2 and 4: the
#: state agent beside the longest-trained eyes-first checkpoint, 3 episodes each; the Investigations: the state agent
#: beside itself acting through the eyes (``state_on_eyes_s0``), 3 episodes each. A page that asks for a
#: video not listed here fails its build with the line to add.
CHAPTER_VIDEOS = (
    VideoSpec("state_s0_2m", 5),
    VideoSpec("state_s0_1m", 5),
    VideoSpec("state_s0_2m", 3),
    VideoSpec("student_manipulation_s2", 3),
    VideoSpec("student_nature_s0", 3),
    VideoSpec("eyes_first_s0_2m", 3),
    VideoSpec("state_on_eyes_s0", 3),
)


class VideoError(ValueError):
    """A stored video is missing, stale or altered; the message names the file and the command that fixes it."""


def rendering_code_hash(package_dir: Path | None = None) -> str:
    """sha256 over :data:`RENDERING_CODE` (each module's path, then its bytes with ``\\r\\n`` read as ``\\n``)."""
    root = Path(package_dir) if package_dir is not None else Path(__file__).resolve().parents[1]
    digest = hashlib.sha256()
    for relative in sorted(RENDERING_CODE):
        digest.update(relative.encode() + b"\0" + (root / relative).read_bytes().replace(b"\r\n", b"\n") + b"\0")
    return digest.hexdigest()


@dataclass(frozen=True)
class StoredVideo:
    """A fresh stored video: the GIF's bytes and what its rollout did (``successes``: one bool per episode)."""

    path: Path
    gif: bytes
    successes: list[bool]
    record: dict[str, Any]


def _records(folder: Path) -> dict[str, dict[str, Any]]:
    """filename -> record of ``folder/manifest.json`` (empty when there is no store yet)."""
    path = folder / MANIFEST
    if not path.exists():
        return {}
    try:
        return json.loads(path.read_text())["summary"]["videos"]
    except (json.JSONDecodeError, KeyError, TypeError) as error:
        raise VideoError(f"{path} is not a videos manifest ({error!r}); re-render with: {COMMAND}") from None


def _staleness(record: dict[str, Any], folder: Path, checkpoint_sha256: str, code_hash: str) -> str | None:
    """Why the stored video of ``record`` may not be shown, or None when it is fresh."""
    path = folder / record["file"]
    if record["checkpoint_sha256"] != checkpoint_sha256:
        return (f"it was rendered from checkpoint sha256 {record['checkpoint_sha256'][:12]}..., but the registry now "
                f"lists {record['checkpoint']} with sha256 {checkpoint_sha256[:12]}...")
    if record["code_sha256"] != code_hash:
        return (f"it was rendered by code hashing to {record['code_sha256'][:12]}..., but the rendering code "
                f"(pixelpush_lib/{{{','.join(RENDERING_CODE)}}}) now hashes to {code_hash[:12]}...")
    if not path.exists():
        return "the file is missing"
    if sha256_file(path) != record["gif_sha256"]:
        return "the file's sha256 differs from its manifest's (edited or truncated after rendering)"
    return None


def stored_video(spec: VideoSpec, registry: Path | str = REGISTRY, measured_dir: Path = MEASURED_DIR) -> StoredVideo:
    """The stored video of ``spec`` if it is fresh; ``VideoError`` (naming the file and the fix) if it is missing,
    stale (its checkpoint's sha256 or the rendering code's hash changed) or altered."""
    folder = Path(measured_dir) / EXPERIMENT
    record = _records(folder).get(spec.filename)
    if record is None:
        raise VideoError(f"{folder} holds no video of {spec.name} over {spec.n_episodes} episodes from env seed "
                         f"{spec.seed} ({spec.filename}): add {spec!r} to CHAPTER_VIDEOS in "
                         f"pixelpush_lib/experiments/videos.py and run `{COMMAND}`, or pass live=True to roll the "
                         "agent out here")
    why = _staleness(record, folder, get_entry(spec.name, registry).sha256, rendering_code_hash())
    if why is not None:
        raise VideoError(f"{folder / spec.filename} is stale: {why}. Re-render it with `{COMMAND}` (only stale "
                         "videos are rendered again), or pass live=True to roll the agent out here")
    path = folder / spec.filename
    return StoredVideo(path, path.read_bytes(), [bool(s) for s in record["successes"]], record)


def _render(spec: VideoSpec, registry: Path | str, path: Path) -> dict[str, Any]:
    """Roll ``spec`` out, write its GIF to ``path``, return its record (without the key hashes)."""
    import torch

    from pixelpush_lib.training.pretrained import load_pretrained
    from pixelpush_lib.training.watch import watch, write_gif

    start = time.perf_counter()
    torch.manual_seed(0)  # deterministic actions need no randomness; this only pins anything that might draw
    rollout = watch(load_pretrained(spec.name, registry=registry, device="cpu"), n_episodes=spec.n_episodes,
                    seed=spec.seed)
    write_gif(rollout, path)
    return {"successes": rollout.successes, "frames": int(rollout.frames.shape[0]),
            "frame_shape": list(rollout.frames.shape[1:]), "bytes": path.stat().st_size,
            "rendered": {"git_commit": git_commit(), "date": utc_now(),
                         "wall_time_s": round(time.perf_counter() - start, 1)}}


def precompute(quick: bool = False, measured_dir: Path = MEASURED_DIR, command: str = COMMAND,
               videos: tuple[VideoSpec, ...] | None = None, registry: Path | str = REGISTRY) -> Path:
    """Write ``measured_dir/videos/``: each of ``videos`` (default :data:`CHAPTER_VIDEOS`; ``quick``: one episode of
    the first) is kept from the old store when fresh, else rendered. The folder is replaced in one rename, so a
    failed render leaves the old store as it was."""
    import tempfile

    from pixelpush_lib.experiments.store import write_measured

    if videos is None:
        videos = (VideoSpec(CHAPTER_VIDEOS[0].name, 1),) if quick else CHAPTER_VIDEOS
    names = [spec.filename for spec in videos]
    if len(set(names)) != len(names):
        raise ValueError(f"videos lists one more than once: {names}")
    start = time.perf_counter()
    old = Path(measured_dir) / EXPERIMENT
    previous = _records(old)
    code_hash = rendering_code_hash()
    records: dict[str, dict[str, Any]] = {}
    Path(measured_dir).mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=f".{EXPERIMENT}.rendering.", dir=measured_dir) as rendered:
        sources: dict[str, Path] = {}
        for spec in videos:
            checkpoint_sha256 = get_entry(spec.name, registry).sha256
            kept = previous.get(spec.filename)
            if kept is not None and _staleness(kept, old, checkpoint_sha256, code_hash) is None:
                records[spec.filename], sources[spec.filename] = kept, old / spec.filename
                print(f"{spec.filename}: fresh, kept")
                continue
            path = sources[spec.filename] = Path(rendered) / spec.filename
            record = _render(spec, registry, path)
            records[spec.filename] = {"file": spec.filename, "checkpoint": spec.name, "n_episodes": spec.n_episodes,
                                      "seed": spec.seed, "checkpoint_sha256": checkpoint_sha256,
                                      "code_sha256": code_hash, "gif_sha256": sha256_file(path), **record}
            print(f"{spec.filename}: rendered in {record['rendered']['wall_time_s']} s ({record['bytes']:,} bytes)")
        writers = {name: (lambda target, source=source: shutil.copyfile(source, target))
                   for name, source in sources.items()}
        parameters = {"videos": [spec.__dict__ for spec in videos], "rendering_code": list(RENDERING_CODE),
                      "quick": quick}
        return write_measured(EXPERIMENT, writers, parameters, command, time.perf_counter() - start,
                              {"videos": records}, measured_dir)
