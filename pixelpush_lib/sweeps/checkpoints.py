"""``pixelpush checkpoints list|add``: registering a trained model after evaluating it, and listing the registry.

``register_checkpoint`` is the registry's only writer: it hashes a real model file, loads it, evaluates it and
records the measured success rate (``data/checkpoints.json``, written atomically).
"""

from __future__ import annotations

import argparse
import platform
import sys
from dataclasses import asdict
from pathlib import Path
from typing import Any

from pixelpush_lib.core.files import git_commit, sha256_file, utc_now, write_json_atomic
from pixelpush_lib.results.registry import (
    REGISTRY,
    REGISTRY_COMMENT,
    TRAINED_BY,
    CheckpointEntry,
    CheckpointError,
    availability,
    read_registry,
    registered_checkpoints,
)
from pixelpush_lib.training.pretrained import EVAL_SEED, evaluate, load_model
from pixelpush_lib.training.runs import parse_overrides


# --- Registering ---------------------------------------------------------------------------------


def register_checkpoint(model_path: Path | str, name: str, config: str, *, url: str | None = None,
                        n_episodes: int = 100, overrides: dict[str, Any] | None = None, seed: int = EVAL_SEED,
                        registry: Path | str = REGISTRY, device: str = "auto", replace: bool = False,
                        trained_by: str = "sac_her") -> CheckpointEntry:
    """Hash, load and evaluate a real ``model.zip``, then add it to the registry (atomic write).

    ``trained_by`` says how (:data:`TRAINED_BY`): ``"sac_her"`` for a training run, whose ``num_timesteps`` are
    environment steps, or ``"imitation"`` for a pixel student, whose ``num_timesteps`` are the expert labels it
    learnt from.

    ``url`` is where readers download it from (default: ``model_path`` itself, relative to the registry when
    it lies under it). The success rate recorded is the one measured here over ``n_episodes``, on an env seeded
    with ``seed`` (by default :data:`EVAL_SEED`, far from the seeds a training run gives its envs).
    """

    model_path, registry = Path(model_path), Path(registry)
    if trained_by not in TRAINED_BY:
        raise CheckpointError(f"trained_by={trained_by!r} is unknown; choose from {', '.join(TRAINED_BY)}")
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
        evaluated={"at": utc_now(), "commit": git_commit(),
                   "host": platform.node(), "seed": seed, "deterministic": True, "device": device},
        trained_by=trained_by)
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
    add.add_argument("--eval-seed", type=int, default=EVAL_SEED,
                     help=f"env seed of the evaluation (default {EVAL_SEED:,}: unused by training runs)")
    add.add_argument("--set", action="append", metavar="KEY=VALUE", help="the run's config overrides")
    add.add_argument("--registry", type=Path, default=REGISTRY)
    add.add_argument("--device", default="auto")
    add.add_argument("--replace", action="store_true")
    add.add_argument("--trained-by", choices=TRAINED_BY, default="sac_her",
                     help="sac_her (a training run; steps are env steps) or imitation (a pixel student; steps are "
                          "expert labels)")
    add.set_defaults(func=_add_command)
    return parser


def _list_command(args: argparse.Namespace) -> int:
    entries = registered_checkpoints(args.config, args.registry)
    if not entries:
        print(availability(args.config) if args.config else f"no checkpoint registered in {args.registry}")
    for e in entries:
        print(f"{e.name}\t{e.config}\t{e.training()}\tsuccess {e.success_rate:.3f} (n={e.n_episodes})\t{e.url}")
    return 0


def _add_command(args: argparse.Namespace) -> int:
    try:
        entry = register_checkpoint(args.model, args.name, args.config, url=args.url, n_episodes=args.episodes,
                                    seed=args.eval_seed,
                                    overrides=parse_overrides(args.set), registry=args.registry, device=args.device,
                                    replace=args.replace, trained_by=args.trained_by)
    except ValueError as error:
        print(f"pixelpush checkpoints add: error: {error}", file=sys.stderr)
        return 2
    print(f"registered {entry.name}: success {entry.success_rate:.3f} over {entry.n_episodes} episodes, "
          f"sha256 {entry.sha256}")
    return 0
