"""The pretrained-checkpoint registry, ``data/checkpoints.json``, and verified downloads of its files.

``data/checkpoints.json`` lists checkpoints that exist and were evaluated (``register_checkpoint`` is the
only writer: it hashes a real model file, loads it, evaluates it and records the result). Each entry::

    name, url (http(s)://, file://, or a path relative to the registry), sha256, size_bytes,
    config, overrides, steps, success_rate, n_episodes, evaluated {at, commit, host, seed, deterministic},
    trained_by (optional: "sac_her", the default, "imitation", or "composed"), parts (only for "composed")

A ``composed`` checkpoint has no model file of its own: its file is a small JSON manifest that pins its parts (the
frozen eyes' weights and a registered state checkpoint, each by sha256), and ``parts`` repeats how each part was
trained, for a listing or a caption (:mod:`pixelpush_lib.training.pixel_agent`).

``fetch(entry)`` downloads into a cache: a temporary file, renamed only once its size and sha256 match, because
``model.zip`` holds pickled objects and an unverified file could run code. Loading and evaluating a model is
:mod:`pixelpush_lib.training.pretrained`; registering one is :mod:`pixelpush_lib.sweeps.checkpoints`.
"""

from __future__ import annotations

import hashlib
import http.client
import json
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pixelpush_lib.core.configs import get_config
from pixelpush_lib.core.files import atomic_write, sha256_file
from pixelpush_lib.core.paths import DATA_DIR, cache_dir

REGISTRY = DATA_DIR / "checkpoints.json"
DEFAULT_CACHE = cache_dir() / "checkpoints"
REGISTRY_COMMENT = (
    "Only checkpoints that exist and were evaluated are listed. Add one with `pixelpush checkpoints add "
    "MODEL_ZIP --name NAME --config CONFIG --url URL --episodes 100` (pixelpush_lib.results.registry.register_checkpoint): "
    "it hashes the file, loads it, evaluates it for the given number of episodes and records the measured "
    "success rate. Never edit entries by hand."
)
_CHUNK = 1 << 20


class CheckpointError(ValueError):
    """A checkpoint cannot be found, fetched or verified; the message names it and the fix."""


@dataclass(frozen=True)
class CheckpointEntry:
    """One registered checkpoint. ``steps``: what it trained on, environment steps for ``trained_by="sac_her"`` and
    expert labels (one per environment step the expert labelled) for ``"imitation"``; ``success_rate``: a fraction
    in [0, 1] measured over ``n_episodes`` evaluation episodes."""

    name: str
    url: str
    sha256: str
    size_bytes: int
    config: str
    steps: int
    success_rate: float
    n_episodes: int
    overrides: dict[str, Any] = field(default_factory=dict)
    evaluated: dict[str, Any] = field(default_factory=dict)
    trained_by: str = "sac_her"
    parts: dict[str, Any] = field(default_factory=dict)

    def training(self) -> str:
        """How it was trained, in words, with its budget: for a caption or a listing. A policy that reads frozen
        eyes says so, and that simulator labels trained those eyes (never the policy)."""
        if self.trained_by == "composed":
            eyes, controller = self.parts["eyes"], self.parts["controller"]
            encoder = {"manipulation": "ManipulationCNN", "nature": "NatureCNN"}.get(eyes["encoder"], eyes["encoder"])
            return (f"the state agent {controller['checkpoint']} ({controller['trained_with']} for "
                    f"{controller['steps']:,} environment steps) acting on what frozen {encoder} eyes report (seed "
                    f"{eyes['seed']}, {eyes['trained_with']}); no part of it learnt from pixels by reinforcement "
                    "learning, and it never reads the puck's true position")
        if self.trained_by == "imitation":
            return f"taught by imitation of the scripted expert (DAgger) on {self.steps:,} expert labels"
        how = f"trained by SAC + HER for {self.steps:,} environment steps"
        config = get_config(self.config, self.overrides)
        if config.obs_mode == "eyes":
            how += " from pixels, through frozen eyes that simulator labels had trained beforehand to locate the puck"
            how += (" (its policy was also fed the puck's true position, achieved_goal)" if config.policy_sees_achieved_goal
                    else " (its policy never sees the puck's true position)")
        return how


#: How a registered checkpoint can have been trained (``CheckpointEntry.trained_by``).
TRAINED_BY = ("sac_her", "imitation", "composed")
#: What a composed checkpoint's ``parts`` must say of each part.
COMPOSED_PARTS = {"eyes": ("url", "sha256", "size_bytes", "encoder", "seed", "trained_with"),
                  "controller": ("checkpoint", "sha256", "steps", "trained_with")}

# --- Registry ------------------------------------------------------------------------------------


def read_registry(registry: Path | str = REGISTRY) -> dict[str, Any]:
    """The registry file, validated (a missing file reads as an empty registry)."""
    path = Path(registry)
    if not path.exists():
        return {"schema_version": 1, "comment": REGISTRY_COMMENT, "checkpoints": []}
    try:
        payload = json.loads(path.read_text())
    except json.JSONDecodeError as error:
        raise CheckpointError(f"{path} is not valid JSON ({error}); restore it from git") from None
    if not isinstance(payload, dict) or not isinstance(payload.get("checkpoints"), list):
        raise CheckpointError(f"{path} must be an object with a 'checkpoints' list; restore it from git")
    for entry in payload["checkpoints"]:
        _entry_from_dict(entry, path)  # validates
    return payload


def _entry_from_dict(entry: dict[str, Any], path: Path) -> CheckpointEntry:
    try:
        parsed = CheckpointEntry(**entry)
    except TypeError as error:
        raise CheckpointError(f"{path}: entry {entry.get('name', '?')!r} is malformed ({error})") from None
    if len(parsed.sha256) != 64 or not 0 <= parsed.success_rate <= 1 or parsed.n_episodes < 1:
        raise CheckpointError(f"{path}: entry {parsed.name!r} needs a 64-hex sha256, a success rate in [0, 1] "
                              "and n_episodes >= 1; re-register it")
    if parsed.trained_by not in TRAINED_BY:
        raise CheckpointError(f"{path}: entry {parsed.name!r} has trained_by={parsed.trained_by!r}; it must be one of "
                              f"{', '.join(TRAINED_BY)}; re-register it with --trained-by")
    composed = parsed.trained_by == "composed"
    missing = [f"{part}.{key}" for part, keys in COMPOSED_PARTS.items() for key in keys
               if key not in (parsed.parts.get(part) or {})] if composed else []
    if missing or (parsed.parts and not composed):
        raise CheckpointError(f"{path}: entry {parsed.name!r} " + (f"lacks parts {missing}" if missing else
                              "has parts, which only a composed checkpoint has") + "; re-register it")
    return parsed


def registered_checkpoints(config: str | None = None, registry: Path | str = REGISTRY) -> list[CheckpointEntry]:
    """Registered checkpoints, all or only those of ``config`` (may be empty: then say so, see
    :func:`availability`)."""
    path = Path(registry)
    entries = [_entry_from_dict(e, path) for e in read_registry(path)["checkpoints"]]
    return [e for e in entries if config is None or e.config == config]


def availability(config: str, registry: Path | str = REGISTRY) -> str:
    """One sentence for a notebook: which checkpoints exist for ``config``, or that none is registered."""
    entries = registered_checkpoints(config, registry)
    if not entries:
        return (f"No checkpoint is registered for {config}: nobody has trained and evaluated one yet, so there is "
                f"no trained agent to watch. Train one with `pixelpush reproduce --steps {config} ...`, then "
                "register it with `pixelpush checkpoints add`.")
    return "; ".join(f"{e.name}: {e.training()}, success {e.success_rate:.0%} over {e.n_episodes} episodes"
                     for e in entries)


def get_entry(name: str, registry: Path | str = REGISTRY) -> CheckpointEntry:
    entries = {e.name: e for e in registered_checkpoints(None, registry)}
    if name not in entries:
        known = ", ".join(entries) or "none: the registry is empty"
        raise CheckpointError(f"no checkpoint named {name!r} in {registry}; registered: {known}")
    return entries[name]


# --- Download and verify -------------------------------------------------------------------------


def resolve_url(url: str, registry: Path | str = REGISTRY) -> str:
    """http(s)/file URLs as they are; a plain path is relative to the registry's folder."""
    if urllib.parse.urlparse(url).scheme in ("http", "https", "file"):
        return url
    path = Path(url)
    return (path if path.is_absolute() else Path(registry).resolve().parent / path).as_uri()


def fetch(entry: CheckpointEntry, cache_dir: Path | str = DEFAULT_CACHE, registry: Path | str = REGISTRY,
          timeout_s: float = 60.0) -> Path:
    """The verified file of ``entry`` in the cache, downloading it if needed.

    The download goes to a temporary file next to its destination and is renamed only when its size and
    sha256 match the registry; on any failure the temporary file is removed and the cache is as before.
    """
    return fetch_file(entry.name, entry.url, entry.sha256, entry.size_bytes, cache_dir, registry, timeout_s)


def fetch_file(name: str, url: str, sha256: str, size_bytes: int, cache_dir: Path | str = DEFAULT_CACHE,
               registry: Path | str = REGISTRY, timeout_s: float = 60.0) -> Path:
    """:func:`fetch` for any registered file (a checkpoint, or a part of a composed one): ``name`` names it in
    errors and in the cache, where it keeps the suffix of its URL (``.zip`` when it has none)."""
    suffix = Path(urllib.parse.urlparse(url).path).suffix or ".zip"
    target = Path(cache_dir) / sha256 / f"{name}{suffix}"
    if target.exists() and sha256_file(target) == sha256:
        return target
    try:
        with atomic_write(target, prefix=".download-") as handle:
            resolved = resolve_url(url, registry)
            digest, size = _download(resolved, handle, name, url, timeout_s)
            if (digest, size) != (sha256, size_bytes) and urllib.parse.urlparse(resolved).scheme == "file":
                raise CheckpointError(f"the file of {name!r} ({url}) is not the registered one: sha256 {digest}, "
                                      f"{size:,} bytes, against the registered {sha256}, {size_bytes:,} bytes; it "
                                      "was not loaded. It changed or is corrupt: restore it from git (`git checkout "
                                      "-- <file>`), or re-register the checkpoint")
            if size != size_bytes:
                raise CheckpointError(f"truncated download of {name!r} from {url}: got {size:,} of "
                                      f"{size_bytes:,} bytes; retry, or check the URL in the registry")
            if digest != sha256:
                raise CheckpointError(f"checksum mismatch for {name!r} from {url}: sha256 {digest} is not the "
                                      f"registered {sha256}; the file was not loaded. The file at the URL changed or "
                                      "is corrupt: re-register the checkpoint or fix the URL")
    finally:
        if target.parent.exists() and not any(target.parent.iterdir()):
            target.parent.rmdir()
    return target


def _download(url: str, handle: Any, name: str, registered_url: str, timeout_s: float) -> tuple[str, int]:
    """Stream ``url`` into ``handle``; returns (sha256, bytes). Network errors become CheckpointError."""
    digest, size = hashlib.sha256(), 0
    parsed = urllib.parse.urlparse(url)
    if parsed.scheme == "file" and not Path(urllib.request.url2pathname(parsed.path)).is_file():
        raise CheckpointError(f"the file of {name!r} is missing: {urllib.request.url2pathname(parsed.path)} (registered "
                              f"as {registered_url}). Restore it from git (`git checkout -- <file>`), or re-register "
                              "the checkpoint")
    try:
        with urllib.request.urlopen(url, timeout=timeout_s) as response:
            declared = response.headers.get("Content-Length")
            for block in iter(lambda: response.read(_CHUNK), b""):
                digest.update(block)
                handle.write(block)
                size += len(block)
    except urllib.error.HTTPError as error:
        raise CheckpointError(f"cannot download {name!r}: {url} answered HTTP {error.code} {error.reason}; "
                              "check the URL in the registry") from None
    except (urllib.error.URLError, OSError, http.client.HTTPException) as error:
        reason = getattr(error, "reason", error)
        raise CheckpointError(f"cannot download {name!r} from {url} ({reason}); check your network "
                              "connection and the URL in the registry, then retry") from None
    if declared is not None and size != int(declared):
        raise CheckpointError(f"truncated download of {name!r} from {url}: got {size:,} of {int(declared):,} "
                              "bytes (the connection closed early); retry")
    return digest.hexdigest(), size
