"""``pixelpush checkpoints list|add``: registering a trained model after evaluating it, and listing the registry.

``register_checkpoint`` is the registry's only writer: it hashes a real model file, loads it, evaluates it and
records the measured success rate (``data/checkpoints.json``, written atomically). A composed agent (the state agent
acting on frozen eyes, :mod:`pixelpush_lib.training.pixel_agent`) has no model file: ``add`` with ``--eyes`` and
``--controller`` writes its manifest (which pins both parts by sha256) and registers that.
"""

from __future__ import annotations

import argparse
import platform
import sys
import time
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
from pixelpush_lib.training.pixel_agent import compose, load_composed
from pixelpush_lib.training.pretrained import EVAL_SEED, evaluate, load_model, load_pretrained
from pixelpush_lib.training.runs import parse_overrides


# --- Registering ---------------------------------------------------------------------------------


def register_checkpoint(model_path: Path | str, name: str, config: str, *, url: str | None = None,
                        n_episodes: int = 100, overrides: dict[str, Any] | None = None, seed: int = EVAL_SEED,
                        registry: Path | str = REGISTRY, device: str = "auto", replace: bool = False,
                        trained_by: str = "sac_her") -> CheckpointEntry:
    """Hash, load and evaluate a real ``model.zip``, then add it to the registry (atomic write).

    ``trained_by`` says how (:data:`TRAINED_BY`): ``"sac_her"`` for a training run, whose ``num_timesteps`` are
    environment steps, ``"imitation"`` for a pixel student, whose ``num_timesteps`` are the expert labels it
    learnt from, or ``"composed"`` for the state agent on eyes, whose ``model_path`` is its manifest
    (:func:`pixelpush_lib.training.pixel_agent.compose`), whose steps are its controller's, and whose entry carries
    both parts' training (``parts``).

    ``url`` is where readers download it from (default: ``model_path`` itself, relative to the registry when
    it lies under it). The success rate recorded is the one measured here over ``n_episodes``, on an env seeded
    with ``seed`` (by default :data:`EVAL_SEED`, far from the seeds a training run gives its envs).
    """

    start = time.perf_counter()
    model_path, registry = Path(model_path), Path(registry)
    if trained_by not in TRAINED_BY:
        raise CheckpointError(f"trained_by={trained_by!r} is unknown; choose from {', '.join(TRAINED_BY)}")
    payload = read_registry(registry)
    _refuse_taken(name, registry, replace)
    if not model_path.is_file():
        raise CheckpointError(f"{model_path} is not a file: pass the model.zip of a trained run")
    composed = trained_by == "composed"
    if composed:
        model = load_composed(model_path, config, overrides,
                              lambda controller: load_pretrained(controller, registry, device=device), registry)
    else:
        model = load_model(model_path, config, overrides, device)
    result = evaluate(model, n_episodes, seed=seed)
    entry = CheckpointEntry(
        name=name, url=url or _default_url(model_path, registry), sha256=sha256_file(model_path),
        size_bytes=model_path.stat().st_size, config=config, steps=int(model.num_timesteps),
        success_rate=result["success_rate"], n_episodes=n_episodes, overrides=dict(overrides or {}),
        evaluated={"at": utc_now(), "commit": git_commit(),
                   "host": platform.node(), "seed": seed, "deterministic": True, "device": device,
                   "wall_s": round(time.perf_counter() - start, 1)},
        trained_by=trained_by, parts=model.parts if composed else {})
    payload["checkpoints"] = [e for e in payload["checkpoints"] if e["name"] != name] + [asdict(entry)]
    payload.setdefault("comment", REGISTRY_COMMENT)
    registry.parent.mkdir(parents=True, exist_ok=True)
    write_json_atomic(registry, payload)
    return entry


def _refuse_taken(name: str, registry: Path, replace: bool) -> None:
    if not replace and any(e["name"] == name for e in read_registry(registry)["checkpoints"]):
        raise CheckpointError(f"{registry} already has a checkpoint named {name!r}; choose another name or replace it")


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
    add.add_argument("model", type=Path, help="a trained run's checkpoints/step_*/model.zip, or a composed agent's "
                     "manifest (.json; written there first when --eyes and --controller are given)")
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
                     help="sac_her (a training run; steps are env steps), imitation (a pixel student; steps are "
                          "expert labels) or composed (a manifest: the state agent on eyes)")
    add.add_argument("--eyes", metavar="ENCODER:SEED",
                     help="compose: the committed eyes (data/measured/eyes) the state agent acts on, e.g. "
                          "manipulation:1; with --controller, implies --trained-by composed")
    add.add_argument("--controller", metavar="NAME", help="compose: the registered state checkpoint that acts")
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
    trained_by = args.trained_by
    try:
        if (args.eyes is None) != (args.controller is None):
            raise ValueError("--eyes and --controller go together: the eyes a state agent acts on, and that agent")
        if args.eyes is not None:
            if args.model.suffix != ".json" or args.url:
                raise ValueError(f"a composed agent's manifest is a .json beside the registry (not {args.model}); "
                                 "it has no --url of its own")
            _refuse_taken(args.name, args.registry, args.replace)  # before its manifest is written
            encoder, _, seed = args.eyes.partition(":")
            compose(args.model, encoder, int(seed) if seed else None, args.controller, args.registry)
            trained_by = "composed"
        entry = register_checkpoint(args.model, args.name, args.config, url=args.url, n_episodes=args.episodes,
                                    seed=args.eval_seed,
                                    overrides=parse_overrides(args.set), registry=args.registry, device=args.device,
                                    replace=args.replace, trained_by=trained_by)
    except ValueError as error:
        print(f"pixelpush checkpoints add: error: {error}", file=sys.stderr)
        return 2
    print(f"registered {entry.name}: success {entry.success_rate:.3f} over {entry.n_episodes} episodes, "
          f"sha256 {entry.sha256}")
    return 0
