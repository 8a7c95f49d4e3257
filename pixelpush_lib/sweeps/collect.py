"""``pixelpush collect``: import every finished run of a sweep into ``data/runs/`` (provenance ``imported``).

Each import records the run's overrides and training commit, so a tiny smoke sweep can never pass for the
chapter's config. All conflicts are checked before the first import: a refused collect changes nothing.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from pixelpush_lib.core.configs import get_config
from pixelpush_lib.core.files import sha256_file, utc_now
from pixelpush_lib.core.paths import DATA_DIR
from pixelpush_lib.results.importer import CONFIG_TO_ARC_STEP, check_identity, import_run, read_progress_csv, write_run
from pixelpush_lib.results.schema import SCHEMA_VERSION, DataError, data_error
from pixelpush_lib.sweeps.launchers import Outcome
from pixelpush_lib.sweeps.spec import Job, SweepError, checkpoint_step, job_id, read_sweep, spec_of
from pixelpush_lib.training.run_dir import RunDir


def inputs_of(config_name: str, overrides: dict[str, Any] | None = None) -> str:
    """What the config's policy sees (with the run's ``overrides``: one may feed it ``achieved_goal``), in
    ``schema.INPUT_TOKENS`` (the importer's ``inputs``)."""
    config = get_config(config_name, overrides)
    if config.obs_mode == "state":  # the state may read the puck through noise (puck_noise_median_cm)
        return "state+desired_goal" + ("+achieved_goal" if config.policy_sees_achieved_goal else "")
    return "pixels+proprio+desired_goal" + ("+achieved_goal" if config.policy_sees_achieved_goal else "")


def _existing_sha(data_dir: Path, run_id: str) -> str | None:
    path = data_dir / "runs" / run_id / "manifest.json"
    if not path.exists():
        return None
    return json.loads(path.read_text()).get("provenance", {}).get("sha256", "")


def collect(out: Path | str, into: Path | str | None = None, force: bool = False, prefix: str = "repro",
            echo: Callable[[str], None] = print) -> list[Outcome]:
    """Import every finished run of the sweep in ``out`` into ``into/runs/<prefix>_<step>_s<seed>``.

    Unfinished jobs are listed and left out. A run already collected from the same log (same sha256) is left
    as is; one collected from a different log is replaced only with ``force``. All conflicts are checked
    before the first import, so a refused collect changes nothing.
    """
    out = Path(out)
    data_dir = Path(into) if into is not None else DATA_DIR
    jobs = _jobs_without_notebook_check(out)
    outcomes, todo, conflicts = [], [], []
    for job in jobs:
        run_id = f"{prefix}_{job.job_id}"
        step = checkpoint_step(job.run_dir)
        if step is None or step < job.total_steps:
            outcomes.append(Outcome(job.job_id, "unfinished", f"at step {step or 0:,} of {job.total_steps:,}; "
                                    f"re-run the sweep to finish it"))
            continue
        if job.step not in CONFIG_TO_ARC_STEP:
            outcomes.append(Outcome(job.job_id, "not importable", f"the importer has no arc step for {job.step}"))
            continue
        log = RunDir(job.run_dir).progress_path
        existing = _existing_sha(data_dir, run_id)
        if existing == sha256_file(log):
            outcomes.append(Outcome(job.job_id, "unchanged", f"data/runs/{run_id} already holds this log"))
        elif existing is not None and not force:
            conflicts.append(f"{data_dir / 'runs' / run_id} (from another log)")
        else:
            todo.append((job, run_id, log))
    if conflicts:
        raise SweepError(f"already in {data_dir}: {', '.join(conflicts)}; pass --force to replace them, or "
                         f"--prefix to import under other run ids. Nothing was imported.")
    for job, run_id, log in todo:
        # The run was trained by this project's code: say with which overrides and at which commit, so a
        # tiny smoke sweep can never pass for the chapter's config in data/.
        trained = RunDir(job.run_dir).read_manifest()
        description = (f"pixelpush reproduce sweep {out.resolve()} job {job.job_id}: {job.total_steps:,} steps, "
                       f"overrides {trained['overrides'] or 'none'}, trained at commit {trained['git_commit']}")
        target = import_run(log, run_id, job.step, job.seed, force=force, data_dir=data_dir,
                            inputs=inputs_of(job.step, job.overrides), description=description)
        outcomes.append(Outcome(job.job_id, "imported", str(target)))
    for outcome in outcomes:
        echo(f"[{outcome.job_id}] {outcome.state}: {outcome.message}")
    return outcomes


def _jobs_without_notebook_check(out: Path) -> list[Job]:
    """Jobs of a sweep folder for collecting (no notebook needs to exist on the collecting machine)."""
    spec = spec_of(read_sweep(out))
    return [Job(s, n, spec.total_steps, spec.overrides, out / job_id(s, n), None) for s in spec.steps for n in spec.seeds]


# --- One run of this project's own ---------------------------------------------------------------------------


def _wall_time_s(progress_csv: Path, up_to_step: int | None = None) -> float:
    """Seconds of training behind the logged steps (those at or before ``up_to_step``, if given): SB3's
    ``time/time_elapsed`` restarts at each resume, so the last reading of each segment is summed. A segment killed
    after its last checkpoint counts to the log row its successor kept, so time whose steps were thrown away is not
    counted."""
    log = pd.read_csv(progress_csv)
    if up_to_step is not None:
        if "time/total_timesteps" not in log:
            raise data_error(progress_csv, "no time/total_timesteps column", "collect the log SB3 wrote for this run",
                             column="time/total_timesteps")
        log = log[log["time/total_timesteps"] <= up_to_step]
    elapsed = log.get("time/time_elapsed", pd.Series(dtype=float)).dropna().to_numpy()
    if elapsed.size == 0:
        raise data_error(progress_csv, "no time/time_elapsed readings", "collect the log SB3 wrote for this run",
                         column="time/time_elapsed")
    segment_ends = np.flatnonzero(np.diff(elapsed) < 0)
    return float(elapsed[segment_ends].sum() + elapsed[-1])


def _cpu_time_s(segments: list[dict[str, Any]], step: int) -> float | None:
    """CPU seconds behind the run up to its kept checkpoint ``step``: each segment's ``cpu_s``, which training
    records at every checkpoint (its process and env subprocesses, from the segment's start). A segment killed before
    its first checkpoint is not counted, as its wall time is not. None when a segment that advanced the run has no
    record to the step the run kept of it: trained by code older than the record, or killed between writing a
    checkpoint and recording its cost (or collected in that moment)."""
    total = 0.0
    for segment, successor in zip(segments, [*segments[1:], None]):
        reached = successor["from_step"] if successor else step
        if reached <= segment["from_step"]:
            continue
        if segment.get("cpu_s_to_step") != reached:
            return None
        total += segment["cpu_s"]
    return round(total, 1)


def collect_run(run_dir: Path | str, run_id: str, force: bool = False,
                data_dir: Path | str = DATA_DIR, unfinished: bool = False) -> Path:
    """Import a finished ``pixelpush train`` run directory as a *measured* run of this project.

    Config, overrides and seed come from its manifest (``run.json``); the provenance records every segment's
    command and commit, the machine, package versions and the training's wall and CPU time. ``unfinished=True``
    imports a run still in progress up to its last checkpoint (the readings a resume keeps), marked ``in_progress``
    with its ``planned_steps``, so a page can show how far it got and say that it is not done; collect it again with
    ``force`` once it has finished. Raises :class:`DataError` when the folder is not a run, is unfinished and
    ``unfinished`` is False, or its log lacks the success metric; ``data_dir`` is then unchanged.
    """
    run = RunDir(run_dir)
    if not run.has_run():
        raise data_error(run.manifest_path, "not a pixelpush run directory (no run.json)",
                         "pass the --run-dir given to `pixelpush train`")
    manifest = run.read_manifest()
    step, planned = run.checkpoint_step(), manifest["total_steps"]
    in_progress = step is None or step < planned
    if in_progress and not (unfinished and step):
        fix = ("it has no checkpoint yet: let it train to its first one" if unfinished else
               f"finish it first: pixelpush train --resume {run.path} (or pass --unfinished to import it as in progress)")
        raise data_error(run.path, f"the run is at step {step or 0:,} of {planned:,}", fix)
    config = manifest["config_name"]
    check_identity(run_id, config, manifest["seed"], Path(data_dir))
    curve = read_progress_csv(run.progress_path)
    curve = curve[curve["step"] <= step].reset_index(drop=True)  # rows past the last checkpoint a resume would redo
    if "success_rate" not in set(curve["metric"]):
        raise data_error(run.progress_path, "the log has no rollout/success_rate values",
                         "only runs that log success can be drawn", column="rollout/success_rate")
    segments = manifest["segments"]
    commits = sorted({s["git_commit"] for s in segments})
    out = {
        "schema_version": SCHEMA_VERSION, "run_id": run_id, "arc_step": CONFIG_TO_ARC_STEP[config], "config": config,
        "seed": manifest["seed"], "inputs": inputs_of(config, manifest["overrides"]),
        "description": (f"pixelpush train --config {config} --seed {manifest['seed']}: {step:,} environment steps"
                        + (f" of {planned:,} (in progress)" if in_progress else "")
                        + f", overrides {manifest['overrides'] or 'none'}"),
        "provenance": {
            "kind": "measured", "command": " ; ".join(_readable(s["command"]) for s in segments), "config": config,
            "overrides": manifest["overrides"], "commit": ",".join(commits),
            "machine": manifest["host"], "versions": manifest["versions"], "device": manifest["device"],
            "wall_time_s": round(_wall_time_s(run.progress_path, step), 1),
            "cpu_time_s": _cpu_time_s(segments, step), "segments": len(segments),
            "total_steps": step, "planned_steps": planned, "in_progress": in_progress,
            "log_file": str(run.progress_path.resolve()), "sha256": sha256_file(run.progress_path),
            "created": utc_now(), "importer": "pixelpush_lib.sweeps.collect.collect_run",
        },
    }
    return write_run(out, curve, Path(data_dir), force)


def _readable(command: str) -> str:
    """``.../pixelpush_lib/cli.py train ...`` (how a module run records argv[0]) as the ``pixelpush train ...`` it is."""
    head, sep, rest = command.partition(" ")
    return f"pixelpush {rest}" if head.endswith("cli.py") or head.endswith("pixelpush") else command


# --- CLI ---------------------------------------------------------------------------------------------------


def add_collect_command(subparsers: Any) -> argparse.ArgumentParser:
    """Register ``pixelpush collect`` (the lead wires this into ``cli.py``)."""
    parser = subparsers.add_parser(
        "collect", help="import the finished runs of a reproduce sweep (imported), or one run of yours (measured)",
        description="A sweep folder: every finished job, provenance 'imported'. A `pixelpush train` run directory "
                    "with --run-id: that run, provenance 'measured' (command, commits, machine, wall time).")
    parser.add_argument("out", type=Path, help="a `pixelpush reproduce --out` folder, or a `pixelpush train` run dir")
    parser.add_argument("--run-id", help="run id in data/runs/ for a single run directory (e.g. state_s0)")
    parser.add_argument("--into", type=Path, default=DATA_DIR, help=f"data folder (default {DATA_DIR})")
    parser.add_argument("--force", action="store_true", help="replace runs collected earlier from another log")
    parser.add_argument("--prefix", default="repro", help="run ids are <prefix>_<step>_s<seed> (default repro)")
    parser.add_argument("--unfinished", action="store_true",
                        help="a single run still training: import it up to its last checkpoint, marked in progress")
    parser.set_defaults(func=_collect_command)
    return parser


def _collect_command(args: argparse.Namespace) -> int:
    try:
        if RunDir(args.out).has_run():
            if not args.run_id:
                raise SweepError(f"{args.out} is a single run: pass --run-id NAME for its folder under data/runs/")
            target = collect_run(args.out, args.run_id, args.force, args.into, unfinished=args.unfinished)
            print(f"imported {args.out} -> {target}")
            return 0
        if args.unfinished:
            raise SweepError(f"{args.out} is a sweep folder: --unfinished imports a single run directory still "
                             "training; a sweep's unfinished jobs are listed and left out")
        outcomes = collect(args.out, args.into, args.force, args.prefix)
    except (SweepError, DataError) as error:
        print(f"pixelpush collect: error: {error}", file=sys.stderr)
        return 2
    return 0 if any(o.state in ("imported", "unchanged") for o in outcomes) else 1
