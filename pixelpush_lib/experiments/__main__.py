"""``python -m pixelpush_lib.experiments NAME [--quick] [--out DIR]``: re-run one live experiment and rewrite
its measured results (``data/measured/NAME/``) with provenance."""

from __future__ import annotations

import argparse
import shlex
import sys
import time
from pathlib import Path

from pixelpush_lib.core.paths import MEASURED_DIR
from pixelpush_lib.experiments import EXPERIMENTS, precompute

ON_A_DEVICE = ("distill", "distill_control")  # the experiments whose precompute takes ``device``


def _command_line(argv: list[str]) -> str:
    return shlex.join([Path(sys.executable).name, "-m", "pixelpush_lib.experiments", *argv])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m pixelpush_lib.experiments", description=__doc__.split("\n")[0])
    parser.add_argument("experiment", choices=sorted(EXPERIMENTS))
    parser.add_argument("--quick", action="store_true", help="tiny sizes (for tests); never commit its output")
    parser.add_argument("--out", type=Path, default=MEASURED_DIR, help="folder holding data/measured")
    parser.add_argument("--threads", type=int, default=1,
                        help="torch threads (1 by default: on a shared 2-core machine 2 threads ran 4x slower)")
    parser.add_argument("--device", help=f"torch device, e.g. cuda (only {', '.join(ON_A_DEVICE)}; default cpu)")
    parser.add_argument("--seeds", type=int, nargs="+", help=f"training seeds (only {', '.join(ON_A_DEVICE)}; "
                        "default: the experiment's own)")
    parser.add_argument("--encoders", nargs="+", metavar="ENCODER",
                        help="the pixel students to teach (only distill; default: every encoder, "
                        "manipulation and nature)")
    parser.add_argument("--jobs", type=int, help=f"students taught at a time, a process each, the cores split "
                        f"between them (only {', '.join(ON_A_DEVICE)}; default: as many as cores and students allow; "
                        "--jobs 1 gives one student every core)")
    args = parser.parse_args(argv)
    if args.quick and args.out == MEASURED_DIR:
        parser.error("--quick results are not the protocol's: write them elsewhere with --out DIR")
    if args.device and args.experiment not in ON_A_DEVICE:
        parser.error(f"--device {args.device}: {args.experiment} runs on the CPU; only {', '.join(ON_A_DEVICE)} "
                     "take a device")
    if args.seeds and args.experiment not in ON_A_DEVICE:
        parser.error(f"--seeds: only {', '.join(ON_A_DEVICE)} take seeds")
    if args.jobs is not None and (args.experiment not in ON_A_DEVICE or args.jobs < 1):
        parser.error(f"--jobs {args.jobs}: only {', '.join(ON_A_DEVICE)} take jobs, and at least 1")
    if args.encoders and args.experiment != "distill":
        parser.error("--encoders: only distill takes encoders (distill_control teaches the state policy)")
    options = {key: value for key, value in (("device", args.device), ("seeds", args.seeds), ("jobs", args.jobs),
                                             ("encoders", args.encoders)) if value}
    import torch

    torch.set_num_threads(max(1, args.threads))
    start = time.perf_counter()
    command = _command_line(sys.argv[1:] if argv is None else argv)
    folder = precompute(args.experiment, quick=args.quick, measured_dir=args.out, command=command, **options)
    print(f"wrote {folder} in {time.perf_counter() - start:.1f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
