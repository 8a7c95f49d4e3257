""""Watch a trained agent": a short rollout of a registered checkpoint, as HTML a notebook or the book shows.

By default the rollout is the stored video of :mod:`pixelpush_lib.experiments.videos` (rendered once, refused when
its checkpoint or the rendering code changed since); ``live=True``, or running in Colab, rolls the agent out here
instead. With no checkpoint registered for a config, one honest sentence and the commands that would make one.
"""

from __future__ import annotations

import base64
import html
import io
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PIL import Image

from pixelpush_lib.core.paths import DATA_DIR, MEASURED_DIR
from pixelpush_lib.experiments.videos import VideoSpec, stored_video
from pixelpush_lib.results.registry import REGISTRY, CheckpointEntry, CheckpointError, registered_checkpoints
from pixelpush_lib.training.pretrained import load_pretrained
from pixelpush_lib.training.watch import HEADER_PX, gif_bytes, watch

_NO_CHECKPOINT = (
    "<p>No checkpoint is registered for <code>{config}</code> yet, so there is no trained agent to watch. "
    "One is made with <code>pixelpush train --config {config} --run-dir runs/{config}_s0</code>, then "
    "<code>pixelpush checkpoints add runs/{config}_s0/checkpoints/&lt;last&gt;/model.zip --name {config}_s0 "
    "--config {config}</code> (it is evaluated over 100 episodes before it is listed).</p>"
)


def in_colab() -> bool:
    """True inside Google Colab (its kernel has imported ``google.colab``)."""
    return "google.colab" in sys.modules


def watch_registered(config: str, n_episodes: int = 5, seed: int = 10_000, registry=REGISTRY,
                     cache_dir=None, name: str | None = None, live: bool | None = None,
                     measured_dir: Path = MEASURED_DIR) -> str:
    """HTML: a registered checkpoint of ``config`` rolled out for ``n_episodes`` (an animated GIF with a caption
    naming the checkpoint, its steps, and its measured success), or a sentence if there is none.

    ``name`` picks one checkpoint (it must belong to ``config``); by default the longest-trained one is shown.
    ``live``: True rolls it out here (about 15 s per 5 episodes on a CPU core); False shows the stored video of
    ``measured_dir/videos`` (``VideoError`` if it is missing or stale); None, the default, is live in Colab only.
    """
    entries = registered_checkpoints(config, registry)
    if not entries:
        return _NO_CHECKPOINT.format(config=html.escape(config))
    if name is not None:
        chosen = [e for e in entries if e.name == name]
        if not chosen:
            raise CheckpointError(f"no checkpoint named {name!r} is registered for config {config!r} in {registry}; "
                                  f"registered for it: {', '.join(e.name for e in entries)}")
        entries = chosen
    entry = _longest_trained(entries)
    if live is None:
        live = in_colab()
    if live:
        kwargs = {} if cache_dir is None else {"cache_dir": cache_dir}
        model = load_pretrained(entry.name, registry=registry, device="cpu", **kwargs)
        rollout = watch(model, n_episodes=n_episodes, seed=seed)
        gif, successes, source = gif_bytes(rollout), rollout.successes, "rolled out live here"
    else:
        video = stored_video(VideoSpec(entry.name, n_episodes, seed), registry, measured_dir)
        gif, successes = video.gif, video.successes
        shown_path = video.path.relative_to(DATA_DIR.parent) if video.path.is_relative_to(DATA_DIR.parent) else video.path
        source = f"the stored video <code>{html.escape(str(shown_path))}</code>, rendered once from this checkpoint"
    shown = sum(successes)
    data = base64.b64encode(gif).decode("ascii")
    frame = first_frame(gif)
    height, width = frame.shape
    caption = (f"<code>{html.escape(entry.name)}</code>: {html.escape(entry.training())}; measured "
               f"success {entry.success_rate:.0%} over {entry.n_episodes} evaluation episodes "
               f"(<code>{html.escape(str((DATA_DIR / 'checkpoints.json').relative_to(DATA_DIR.parent)))}</code>). "
               f"{_shown_episodes(n_episodes)} ({source}) it succeeded in {shown}.")
    # data-caption-px: what the book's pixelpush.js needs to stack the two views where the caption would read small,
    # and what the browser test scales to the size a reader sees
    return (f'<figure class="pixelpush-rollout"><img src="data:image/gif;base64,{data}" '
            f'alt="rollout of {html.escape(entry.name)}" width="{width}" height="{height}" '
            f'data-caption-px="{caption_px(frame)}" style="max-width:100%;height:auto">'
            f"<figcaption>{caption}</figcaption></figure>")


def first_frame(gif: bytes) -> np.ndarray:
    """The GIF's first frame in grey levels, ``(height, width)`` uint8."""
    with Image.open(io.BytesIO(gif)) as image:
        return np.asarray(image.convert("L"))


def caption_px(frame: np.ndarray) -> int:
    """The height, in the GIF's pixels, of the caption text drawn in the bar above a rollout's two views
    (:func:`pixelpush_lib.training.watch.watch`), from the top of its tallest letter to the bottom of its lowest;
    ``frame``: :func:`first_frame`. 0 without a caption."""
    rows = np.flatnonzero((frame[:HEADER_PX] > 127).any(axis=1))  # light text on the black bar
    return int(rows[-1] - rows[0] + 1) if rows.size else 0


def _longest_trained(entries: Sequence[CheckpointEntry]) -> CheckpointEntry:
    """The checkpoint a watch cell shows by default: the longest trained (the better evaluated among equals)."""
    return max(entries, key=lambda e: (e.steps, e.success_rate))


def _shown_episodes(n_episodes: int) -> str:
    return "In the one episode shown here" if n_episodes == 1 else f"Of the {n_episodes} episodes shown here"


def watch_side_by_side(checkpoints: Sequence[tuple[str, str]], n_episodes: int = 3, seed: int = 10_000,
                       registry=REGISTRY, cache_dir=None, live: bool | None = None,
                       measured_dir: Path = MEASURED_DIR) -> str:
    """HTML: each registered ``(config, name)`` checkpoint rolled out on the same ``n_episodes`` (same env seed),
    one captioned GIF per checkpoint in a row that wraps on a narrow page; a sentence names those not registered.
    ``live`` as in :func:`watch_registered`."""
    registered = {entry.name for entry in registered_checkpoints(None, registry)}
    shown = [(config, name) for config, name in checkpoints if name in registered]
    missing = [f"<code>{html.escape(name)}</code> ({html.escape(config)})" for config, name in checkpoints
               if name not in registered]
    cells = [watch_registered(config, n_episodes, seed, registry, cache_dir, name, live, measured_dir)
             for config, name in shown]
    row = ('<div class="pixelpush-rollouts" style="display:flex;flex-wrap:wrap;gap:1em">'
           + "".join(f'<div style="flex:1 1 280px;min-width:0">{cell}</div>' for cell in cells) + "</div>")
    return row + (f"<p>Not registered yet, so not shown: {', '.join(missing)}.</p>" if missing else "")


def watch_beside_the_state_agent(config: str, state_name: str = "state_s0_2m", n_episodes: int = 3,
                                 seed: int = 10_000, registry=REGISTRY, cache_dir=None, live: bool | None = None,
                                 measured_dir: Path = MEASURED_DIR) -> str:
    """HTML: the longest-trained registered checkpoint of ``config`` beside the state agent ``state_name`` on the same
    episodes (:func:`watch_side_by_side`), or the state agent alone and the sentence saying how ``config``'s would be
    made when none is registered."""
    entries = registered_checkpoints(config, registry)
    if not entries:
        return (watch_side_by_side([("state", state_name)], n_episodes, seed, registry, cache_dir, live, measured_dir)
                + _NO_CHECKPOINT.format(config=html.escape(config)))
    chosen = _longest_trained(entries)
    return watch_side_by_side([("state", state_name), (config, chosen.name)], n_episodes, seed, registry, cache_dir,
                              live, measured_dir)
