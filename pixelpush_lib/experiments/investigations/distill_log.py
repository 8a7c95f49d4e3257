"""A distillation run's printed log, made into ``data/measured/distill/`` when the run could not write its files.

The GPU run of the experiment printed one line per student and round and was stopped (by its time limit) before it
wrote ``curve.csv``, ``tasks.csv`` and the students. Its log still holds every completed round. This module
parses it (:func:`pixelpush_lib.results.investigations.students.parse_distill_log`), keeps the log beside the
curve, and records the machine, commit and versions the run had rather than this machine's::

    python -m pixelpush_lib.experiments.investigations.distill_log LOG --commit SHA --command "..." \\
        --machine-from MANIFEST --seeds 0 1 --device cuda --stopped "why it stopped"

``--machine-from`` names a manifest measured on the same machine image (its ``machine`` and ``versions`` are
copied). What the log lacks stays absent: no ``tasks.csv`` (CPU times) and no student files.
"""

from __future__ import annotations

import argparse
import json
import shutil
import time
from dataclasses import replace
from pathlib import Path

from pixelpush_lib.core.files import utc_from_timestamp
from pixelpush_lib.core.paths import MEASURED_DIR
from pixelpush_lib.experiments.investigations.distill import STUDENT_CONFIGS, DistillSettings, manifest_parameters
from pixelpush_lib.experiments.store import write_measured
from pixelpush_lib.results.investigations.students import parse_distill_log


def import_log(log: Path, commit: str, command: str, machine_from: Path, settings: DistillSettings, stopped: str,
               jobs: int, device: str, measured_dir: Path = MEASURED_DIR) -> Path:
    """Write ``measured_dir/distill/`` from ``log`` (see the module's docstring); checks everything first.
    ``device`` is the run's (``settings.device`` must be one this machine has, for the check)."""
    settings.check()
    curve = parse_distill_log(log.read_text(), STUDENT_CONFIGS)
    found = {(e, s) for e, s in zip(curve["encoder"], curve["seed"])}
    expected = {(e, s) for e in settings.encoders for s in settings.seeds}
    if found != expected:
        raise ValueError(f"{log}: students {sorted(found)} do not match the settings' {sorted(expected)}; "
                         "pass the --seeds the run used")
    other = json.loads(machine_from.read_text())["provenance"]
    provenance = {"git_commit": commit, "git_dirty": False, "machine": other["machine"],
                  "versions": other["versions"], "wall_time_s": float(curve["elapsed_s"].max()),
                  "date": utc_from_timestamp(log.stat().st_mtime),  # the log came back when the run ended
                  "imported_from_log": f"{log.name}, read on {time.strftime('%Y-%m-%d')}; machine and versions as "
                                       f"recorded by {machine_from.parent.name}'s manifest on the same machine image"}
    rounds = {f"{e}_s{s}": int(g["round"].max()) for (e, s), g in curve.groupby(["encoder", "seed"])}
    summary = {"complete": all(r == settings.dagger_rounds for r in rounds.values()), "rounds_completed": rounds,
               "stopped": stopped, "jobs": jobs, "cpus": other["machine"]["cpus"],
               "wall_s": float(curve["elapsed_s"].max())}
    parameters = {**manifest_parameters(settings), "device": device}
    writers = {"curve.csv": lambda p: curve.to_csv(p, index=False, float_format="%.5g"),
               "distill.log": lambda p: shutil.copyfile(log, p)}
    return write_measured("distill", writers, parameters, command, provenance["wall_time_s"], summary, measured_dir,
                          provenance)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m pixelpush_lib.experiments.investigations.distill_log",
                                     description=__doc__)
    parser.add_argument("log", type=Path)
    parser.add_argument("--commit", required=True, help="the commit the run's code was at")
    parser.add_argument("--command", required=True, help="the command that ran")
    parser.add_argument("--machine-from", type=Path, required=True, help="a manifest measured on the same machine")
    parser.add_argument("--seeds", type=int, nargs="+", required=True)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--jobs", type=int, required=True, help="students the run taught at a time")
    parser.add_argument("--stopped", required=True, help="why the run ended before writing its files")
    parser.add_argument("--out", type=Path, default=MEASURED_DIR)
    args = parser.parse_args(argv)
    settings = replace(DistillSettings(), seeds=tuple(args.seeds), device="cpu")
    folder = import_log(args.log, args.commit, args.command, args.machine_from, settings, args.stopped, args.jobs,
                        args.device, args.out)
    print(f"wrote {folder}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
