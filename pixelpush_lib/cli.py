"""The ``pixelpush`` command line. Each feature module registers its own subcommand."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence


def _doctor(args: argparse.Namespace) -> int:
    """Render one frame headless and report versions: the first thing to run on a new machine."""
    import os

    import gymnasium  # noqa: E401
    import mujoco
    import stable_baselines3
    import torch

    import pixelpush_lib  # noqa: F401  (sets MUJOCO_GL before mujoco loads)
    from pixelpush_lib.env.rendering import RenderBackendError
    from pixelpush_lib.env.wrappers import make_env

    print(f"MUJOCO_GL={os.environ.get('MUJOCO_GL')}")
    for module in (mujoco, gymnasium, stable_baselines3, torch):
        print(f"{module.__name__}=={module.__version__}")
    try:
        env = make_env("pixels", seed=0)
    except RenderBackendError as error:
        print(error, file=sys.stderr)
        return 1
    obs, _ = env.reset(seed=0)
    env.close()
    print(f"rendered pixels {obs['pixels'].shape} {obs['pixels'].dtype}: headless rendering works")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="pixelpush",
        description="Pixel Push: SAC + HER on FetchPush-v4 from 84x84 pixels (the chapter's library).",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    doctor = sub.add_parser("doctor", help="check headless rendering and print package versions")
    doctor.set_defaults(func=_doctor)
    from pixelpush_lib.results.importer import add_import_command
    from pixelpush_lib.sweeps.checkpoints import add_checkpoints_command
    from pixelpush_lib.sweeps.collect import add_collect_command
    from pixelpush_lib.sweeps.reproduce import add_reproduce_command
    from pixelpush_lib.training.runs import add_train_command

    add_train_command(sub)
    add_import_command(sub)
    add_reproduce_command(sub)
    add_collect_command(sub)
    add_checkpoints_command(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not hasattr(args, "func"):
        parser.print_help()
        return 0
    return int(args.func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
