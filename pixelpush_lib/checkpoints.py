"""Pretrained checkpoints for readers without a GPU: a registry, verified downloads, evaluation, a rollout GIF.

``data/checkpoints.json`` lists checkpoints that exist and were evaluated (``register_checkpoint`` is the
only writer: it hashes a real model file, loads it, evaluates it and records the result). Each entry::

    name, url (http(s)://, file://, or a path relative to the registry), sha256, size_bytes,
    config, overrides, steps, success_rate, n_episodes, evaluated {at, commit, host, seed, deterministic}

``load_pretrained(name)`` downloads into a cache (a temporary file, renamed only once its size and sha256
match: SB3 never unzips or unpickles a file that was not verified; ``model.zip`` holds pickled objects, so an
unverified file could run code) and loads it with an environment of its config.
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import http.client
import json
import os
import platform
import sys
import tempfile
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from pixelpush_lib.provenance import git_commit, sha256_file, write_json_atomic
from pixelpush_lib.curves import DATA_DIR

REGISTRY = DATA_DIR / "checkpoints.json"
DEFAULT_CACHE = Path(os.environ.get("PIXELPUSH_CACHE", Path.home() / ".cache" / "pixelpush")) / "checkpoints"
REGISTRY_COMMENT = (
    "Only checkpoints that exist and were evaluated are listed. Add one with `pixelpush checkpoints add "
    "MODEL_ZIP --name NAME --config CONFIG --url URL --episodes 100` (pixelpush_lib.checkpoints.register_checkpoint): "
    "it hashes the file, loads it, evaluates it for the given number of episodes and records the measured "
    "success rate. Never edit entries by hand."
)
_CHUNK = 1 << 20


class CheckpointError(ValueError):
    """A checkpoint cannot be found, fetched or verified; the message names it and the fix."""


@dataclass(frozen=True)
class CheckpointEntry:
    """One registered checkpoint. ``steps``: environment steps trained; ``success_rate``: a fraction in [0, 1]
    measured over ``n_episodes`` evaluation episodes."""

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
    return "; ".join(f"{e.name}: {e.steps:,} steps, success {e.success_rate:.0%} over {e.n_episodes} episodes"
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
    target = Path(cache_dir) / entry.sha256 / f"{entry.name}.zip"
    if target.exists() and sha256_file(target) == entry.sha256:
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=".download-", suffix=".part", dir=target.parent)
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as handle:
            digest, size = _download(resolve_url(entry.url, registry), handle, entry, timeout_s)
        if size != entry.size_bytes:
            raise CheckpointError(f"truncated download of {entry.name!r} from {entry.url}: got {size:,} of "
                                  f"{entry.size_bytes:,} bytes; retry, or check the URL in the registry")
        if digest != entry.sha256:
            raise CheckpointError(f"checksum mismatch for {entry.name!r} from {entry.url}: sha256 {digest} is not "
                                  f"the registered {entry.sha256}; the file was not loaded. The file at the URL "
                                  "changed or is corrupt: re-register the checkpoint or fix the URL")
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)
        if not any(target.parent.iterdir()):
            target.parent.rmdir()
    return target


def _download(url: str, handle: Any, entry: CheckpointEntry, timeout_s: float) -> tuple[str, int]:
    """Stream ``url`` into ``handle``; returns (sha256, bytes). Network errors become CheckpointError."""
    digest, size = hashlib.sha256(), 0
    try:
        with urllib.request.urlopen(url, timeout=timeout_s) as response:
            declared = response.headers.get("Content-Length")
            for block in iter(lambda: response.read(_CHUNK), b""):
                digest.update(block)
                handle.write(block)
                size += len(block)
    except urllib.error.HTTPError as error:
        raise CheckpointError(f"cannot download {entry.name!r}: {url} answered HTTP {error.code} {error.reason}; "
                              "check the URL in the registry") from None
    except (urllib.error.URLError, OSError, http.client.HTTPException) as error:
        reason = getattr(error, "reason", error)
        raise CheckpointError(f"cannot download {entry.name!r} from {url} ({reason}); check your network "
                              "connection and the URL in the registry, then retry") from None
    if declared is not None and size != int(declared):
        raise CheckpointError(f"truncated download of {entry.name!r} from {url}: got {size:,} of {int(declared):,} "
                              "bytes (the connection closed early); retry")
    return digest.hexdigest(), size


# --- Load, evaluate, watch -----------------------------------------------------------------------


def _single_env(config_name: str, overrides: dict[str, Any] | None, seed: int = 0) -> Any:
    from pixelpush_lib.configs import get_config
    from pixelpush_lib.train import make_training_env

    config = get_config(config_name, {**(overrides or {}), "n_envs": 1, "vec_env": "dummy"})
    return make_training_env(config, seed), config


def load_model(path: Path | str, config: str, overrides: dict[str, Any] | None = None, device: str = "auto") -> Any:
    """Load an SB3 ``model.zip`` of ``config`` with a one-env VecEnv (HER needs an env at load time).

    Only call this on a file you trust or verified: SB3 unpickles parts of the zip.
    """
    from stable_baselines3 import SAC

    env, run_config = _single_env(config, overrides)
    model = SAC.load(path, env=env, device=device)
    model.pixelpush_config = run_config  # evaluate()/rollout_gif() build their envs from it
    return model


def load_pretrained(name: str, registry: Path | str = REGISTRY, cache_dir: Path | str = DEFAULT_CACHE,
                    device: str = "auto") -> Any:
    """Download (or reuse) the registered checkpoint ``name``, verify its sha256, then load it with SB3."""
    entry = get_entry(name, registry)
    path = fetch(entry, cache_dir, registry)
    return load_model(path, entry.config, entry.overrides, device)


def _env_for(model: Any, env: Any, seed: int) -> Any:
    from stable_baselines3.common.vec_env import DummyVecEnv, VecEnv

    if env is None:
        config = getattr(model, "pixelpush_config", None)
        if config is None:
            raise ValueError("pass env=...: this model was not loaded with checkpoints.load_model/load_pretrained, "
                             "so its config is unknown")
        env, _ = _single_env(config.name, {f: getattr(config, f) for f in ("frame_stack", "image_size", "camera")},
                             seed)
    elif not isinstance(env, VecEnv):
        single = env
        env = DummyVecEnv([lambda: single])
    if env.num_envs != 1:
        raise ValueError(f"evaluate with a single env, not {env.num_envs}")
    env.seed(seed)
    return env


def evaluate(model: Any, n_episodes: int = 20, env: Any = None, seed: int = 0,
             deterministic: bool = True) -> dict[str, Any]:
    """Run ``n_episodes`` full episodes (50 steps each) and count successes (``info["is_success"]`` at the end).

    Returns ``success_rate`` (fraction), ``n_episodes``, ``successes`` (per episode), ``mean_return`` (sparse
    reward, -50..0), ``seed`` and ``deterministic``.
    """
    if isinstance(n_episodes, bool) or not isinstance(n_episodes, int) or n_episodes < 1:
        raise ValueError(f"n_episodes={n_episodes!r} must be an integer >= 1")
    env = _env_for(model, env, seed)
    obs = env.reset()
    successes, returns, ret = [], [], 0.0
    while len(successes) < n_episodes:
        action, _ = model.predict(obs, deterministic=deterministic)
        obs, reward, done, infos = env.step(action)
        ret += float(reward[0])
        if done[0]:
            successes.append(bool(infos[0].get("is_success", False)))
            returns.append(ret)
            ret = 0.0
    return {"success_rate": float(np.mean(successes)), "n_episodes": n_episodes, "successes": successes,
            "mean_return": float(np.mean(returns)), "seed": seed, "deterministic": deterministic}


def _frame(env: Any, obs: dict[str, np.ndarray]) -> np.ndarray:
    frame = env.env_method("render")[0]
    if frame is None:  # no renderer: the newest stacked frame the policy saw (channels last 3)
        frame = np.moveaxis(obs["pixels"][0][-3:], 0, -1)
    return np.asarray(frame, dtype=np.uint8)


def rollout_gif(model: Any, path: Path | str, n_steps: int = 50, env: Any = None, seed: int = 0,
                fps: int = 10, scale: int = 3) -> Path:
    """Write an animated GIF of ``n_steps`` deterministic steps (the frames the policy saw, upscaled ``scale``x).

    Uses Pillow (a matplotlib dependency, so always installed). Written to a temporary file and renamed.
    """
    from PIL import Image

    env = _env_for(model, env, seed)
    obs = env.reset()
    frames = [_frame(env, obs)]
    for _ in range(n_steps):
        action, _ = model.predict(obs, deterministic=True)
        obs, _, _, _ = env.step(action)
        frames.append(_frame(env, obs))
    images = [Image.fromarray(f.repeat(scale, 0).repeat(scale, 1)) for f in frames]
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp")
    images[0].save(tmp, format="GIF", save_all=True, append_images=images[1:], duration=int(1000 / fps), loop=0)
    os.replace(tmp, path)
    return path


# --- Registering ---------------------------------------------------------------------------------


def register_checkpoint(model_path: Path | str, name: str, config: str, *, url: str | None = None,
                        n_episodes: int = 100, overrides: dict[str, Any] | None = None, seed: int = 0,
                        registry: Path | str = REGISTRY, device: str = "auto", replace: bool = False) -> CheckpointEntry:
    """Hash, load and evaluate a real ``model.zip``, then add it to the registry (atomic write).

    ``url`` is where readers download it from (default: ``model_path`` itself, relative to the registry when
    it lies under it). The success rate recorded is the one measured here over ``n_episodes``.
    """

    model_path, registry = Path(model_path), Path(registry)
    payload = read_registry(registry)
    if any(e["name"] == name for e in payload["checkpoints"]) and not replace:
        raise CheckpointError(f"{registry} already has a checkpoint named {name!r}; choose another name or replace it")
    if not model_path.is_file():
        raise CheckpointError(f"{model_path} is not a file: pass the model.zip of a trained run")
    model = load_model(model_path, config, overrides, device)
    result = evaluate(model, n_episodes, seed=seed)
    entry = CheckpointEntry(
        name=name, url=url or _default_url(model_path, registry), sha256=sha256_file(model_path),
        size_bytes=model_path.stat().st_size, config=config, steps=int(model.num_timesteps),
        success_rate=result["success_rate"], n_episodes=n_episodes, overrides=dict(overrides or {}),
        evaluated={"at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"), "commit": git_commit(),
                   "host": platform.node(), "seed": seed, "deterministic": True, "device": device})
    payload["checkpoints"] = [e for e in payload["checkpoints"] if e["name"] != name] + [asdict(entry)]
    payload.setdefault("comment", REGISTRY_COMMENT)
    registry.parent.mkdir(parents=True, exist_ok=True)
    write_json_atomic(registry, payload)
    return entry


def _default_url(model_path: Path, registry: Path) -> str:
    try:
        return str(model_path.resolve().relative_to(registry.resolve().parent))
    except ValueError:
        return model_path.resolve().as_uri()


# --- CLI -----------------------------------------------------------------------------------------


def add_checkpoints_command(subparsers: Any) -> argparse.ArgumentParser:
    """Register ``pixelpush checkpoints list|add`` (the lead wires this into ``cli.py``)."""
    parser = subparsers.add_parser("checkpoints", help="list or register pretrained checkpoints")
    sub = parser.add_subparsers(dest="checkpoints_command", required=True)
    listing = sub.add_parser("list", help="registered checkpoints")
    listing.add_argument("--config")
    listing.add_argument("--registry", type=Path, default=REGISTRY)
    listing.set_defaults(func=_list_command)
    add = sub.add_parser("add", help="evaluate a model.zip and register it (hash, steps, measured success)")
    add.add_argument("model", type=Path, help="a trained run's checkpoints/step_*/model.zip")
    add.add_argument("--name", required=True)
    add.add_argument("--config", required=True)
    add.add_argument("--url", help="where readers download it (default: the file's path)")
    add.add_argument("--episodes", type=int, default=100, help="evaluation episodes (default 100)")
    add.add_argument("--set", action="append", metavar="KEY=VALUE", help="the run's config overrides")
    add.add_argument("--registry", type=Path, default=REGISTRY)
    add.add_argument("--device", default="auto")
    add.add_argument("--replace", action="store_true")
    add.set_defaults(func=_add_command)
    return parser


def _list_command(args: argparse.Namespace) -> int:
    entries = registered_checkpoints(args.config, args.registry)
    if not entries:
        print(availability(args.config) if args.config else f"no checkpoint registered in {args.registry}")
    for e in entries:
        print(f"{e.name}\t{e.config}\t{e.steps} steps\tsuccess {e.success_rate:.3f} (n={e.n_episodes})\t{e.url}")
    return 0


def _add_command(args: argparse.Namespace) -> int:
    from pixelpush_lib.train import parse_overrides

    try:
        entry = register_checkpoint(args.model, args.name, args.config, url=args.url, n_episodes=args.episodes,
                                    overrides=parse_overrides(args.set), registry=args.registry, device=args.device,
                                    replace=args.replace)
    except ValueError as error:
        print(f"pixelpush checkpoints add: error: {error}", file=sys.stderr)
        return 2
    print(f"registered {entry.name}: success {entry.success_rate:.3f} over {entry.n_episodes} episodes, "
          f"sha256 {entry.sha256}")
    return 0
