"""Measured results of the live experiments: where they live, their manifests, and the command that rebuilds them.

``python -m pixelpush_lib.experiments NAME [--quick]`` re-runs one experiment and rewrites
``data/measured/NAME/`` atomically (a complete new folder replaces the old one in one rename). Each folder holds
its result files and a ``manifest.json`` with provenance kind ``measured``: the exact command, the parameters,
the git commit (and whether the tree was dirty), the machine, package versions, the date and the wall time.

Experiments that are precomputed (slow on 2 CPU cores): ``probe`` (Step 1), ``drq_noise`` (Step 4, needs the
probe's trained encoder). The others are fast enough to run live in the notebooks; ``footprint``, ``gradflow``
and ``memory`` are also listed here so their numbers can be frozen the same way.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shlex
import shutil
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

MEASURED_DIR = Path(__file__).resolve().parent.parent / "data" / "measured"
MANIFEST = "manifest.json"
REQUIRED_FIELDS = ("schema_version", "experiment", "provenance", "parameters", "files")
REQUIRED_PROVENANCE = ("kind", "command", "git_commit", "git_dirty", "machine", "versions", "date", "wall_time_s")


def provenance_record(command: str, wall_time_s: float) -> dict[str, Any]:
    """What a measured result must carry (git commit + dirty flag, machine, versions, date, command)."""
    from pixelpush_lib.provenance import environment_record

    env = environment_record("cpu")
    commit = env["git_commit"]
    return {
        "kind": "measured",
        "command": command,
        "git_commit": commit.removesuffix("+dirty"),
        "git_dirty": commit.endswith("+dirty"),
        "machine": env["host"],
        "versions": env["versions"],
        "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "wall_time_s": round(wall_time_s, 1),
    }


def write_measured(experiment: str, writers: dict[str, Callable[[Path], None]], parameters: dict[str, Any],
                   command: str, wall_time_s: float, summary: dict[str, Any] | None = None,
                   measured_dir: Path = MEASURED_DIR) -> Path:
    """Write ``measured_dir/experiment/`` atomically: each ``writers[filename](path)`` writes one file into a
    staging folder, then ``manifest.json``, then the folder replaces the old one. Returns the folder."""
    measured_dir.mkdir(parents=True, exist_ok=True)
    final = measured_dir / experiment
    staged = measured_dir / f".{experiment}.staging"
    shutil.rmtree(staged, ignore_errors=True)
    staged.mkdir()
    for name, write in writers.items():
        write(staged / name)
    manifest = {"schema_version": 1, "experiment": experiment, "provenance": provenance_record(command, wall_time_s),
                "parameters": parameters, "files": sorted(writers), "summary": summary or {}}
    (staged / MANIFEST).write_text(json.dumps(manifest, indent=2, default=str) + "\n")
    old = measured_dir / f".{experiment}.old"
    shutil.rmtree(old, ignore_errors=True)
    if final.exists():
        os.replace(final, old)
    os.replace(staged, final)
    shutil.rmtree(old, ignore_errors=True)
    return final


def load_manifest(experiment: str, measured_dir: Path = MEASURED_DIR) -> dict[str, Any]:
    """The validated manifest of ``measured_dir/experiment`` (``FileNotFoundError`` names the rebuild command)."""
    path = measured_dir / experiment / MANIFEST
    if not path.exists():
        raise FileNotFoundError(f"{path} is missing; rebuild it with: python -m pixelpush_lib.experiments {experiment}")
    manifest = json.loads(path.read_text())
    validate_manifest(manifest, measured_dir / experiment)
    return manifest


def validate_manifest(manifest: dict[str, Any], folder: Path) -> None:
    """Raise ``ValueError`` unless the manifest has every provenance field and its files exist."""
    missing = [k for k in REQUIRED_FIELDS if k not in manifest]
    missing += [f"provenance.{k}" for k in REQUIRED_PROVENANCE if k not in manifest.get("provenance", {})]
    if missing:
        raise ValueError(f"{folder / MANIFEST}: missing {missing}")
    if manifest["provenance"]["kind"] != "measured":
        raise ValueError(f"{folder / MANIFEST}: provenance.kind must be 'measured'")
    absent = [name for name in manifest["files"] if not (folder / name).exists()]
    if absent:
        raise ValueError(f"{folder / MANIFEST}: listed files missing: {absent}")


def _command_line() -> str:
    return shlex.join([Path(sys.executable).name, "-m", "pixelpush_lib.experiments", *sys.argv[1:]])


def main(argv: list[str] | None = None) -> int:
    from pixelpush_lib import drq_noise, footprint, gradflow, patience, probe

    builders: dict[str, Callable[..., Path]] = {
        "footprint": footprint.precompute, "probe": probe.precompute, "gradflow": gradflow.precompute,
        "memory": patience.precompute, "drq_noise": drq_noise.precompute,
    }
    parser = argparse.ArgumentParser(prog="python -m pixelpush_lib.experiments", description=__doc__.split("\n")[0])
    parser.add_argument("experiment", choices=sorted(builders))
    parser.add_argument("--quick", action="store_true", help="tiny sizes (for tests); never commit its output")
    parser.add_argument("--out", type=Path, default=MEASURED_DIR, help="folder holding data/measured")
    parser.add_argument("--threads", type=int, default=1,
                        help="torch threads (1 by default: on a shared 2-core machine 2 threads ran 4x slower)")
    args = parser.parse_args(argv)
    if args.quick and args.out == MEASURED_DIR:
        parser.error("--quick results are not the protocol's: write them elsewhere with --out DIR")
    import torch

    torch.set_num_threads(max(1, args.threads))
    start = time.perf_counter()
    folder = builders[args.experiment](quick=args.quick, measured_dir=args.out, command=_command_line())
    print(f"wrote {folder} in {time.perf_counter() - start:.1f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
