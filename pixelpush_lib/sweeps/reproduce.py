"""Reproduce It at scale: ``pixelpush reproduce`` plans a sweep of (step, seed) jobs, then runs or submits
every unfinished one. Re-running the same command skips finished jobs and resumes interrupted ones.

``python -m pixelpush_lib.sweeps.reproduce run-job OUT JOB`` is the worker the local GPU launcher starts.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from pixelpush_lib.core.paths import NOTEBOOKS_DIR
from pixelpush_lib.sweeps.collect import add_collect_command
from pixelpush_lib.sweeps.jobs import run_job
from pixelpush_lib.sweeps.launchers import Outcome, SlurmOptions, launch_local, launch_slurm
from pixelpush_lib.sweeps.spec import (
    Job,
    SweepError,
    SweepSpec,
    check_out_dir,
    checkpoint_step,
    job_state,
    make_spec,
    open_sweep,
    plan_jobs,
    runnable_steps,
)
from pixelpush_lib.training.run_dir import RunError
from pixelpush_lib.training.runs import parse_overrides


def describe_plan(spec: SweepSpec, out: Path, jobs: list[Job], launcher: str) -> str:
    """The dry-run text: every job, what it would do, and where it writes."""
    lines = [f"sweep {out}: {len(spec.steps)} step(s) x {len(spec.seeds)} seed(s), {spec.total_steps:,} steps each, "
             f"overrides {spec.overrides or 'none'}, launcher {launcher}"]
    for job in jobs:
        state = job_state(job)
        action = {"finished": "skip (finished)", "new": "train from step 0",
                  "interrupted": f"resume from step {checkpoint_step(job.run_dir) or 0}"}[state]
        runner = job.notebook.name if job.notebook else "pixelpush_lib.training.runs (no notebook)"
        lines.append(f"  {job.job_id:<22} {action:<28} {runner} -> {job.run_dir}")
    return "\n".join(lines)


def reproduce(steps: Sequence[str], seeds: Sequence[int], total_steps: int, out: Path | str, *,
              overrides: dict[str, Any] | None = None, launcher: str = "local", device: str = "auto",
              dry_run: bool = False, notebooks_dir: Path | str = NOTEBOOKS_DIR, gpus: Sequence[str] | None = None,
              slurm: SlurmOptions | None = None, wait: bool = False,
              echo: Callable[[str], None] = print) -> list[Outcome]:
    """Plan, then run or submit every unfinished job of the sweep (see the module docstring).

    Everything is validated before anything is written. ``gpus`` overrides GPU detection for the local launcher.
    """
    if launcher not in ("local", "slurm"):
        raise SweepError(f"--launcher {launcher!r} is not valid; use local or slurm")
    out, notebooks_dir = Path(out), Path(notebooks_dir)
    spec = make_spec(list(steps), list(seeds), total_steps, overrides)
    jobs = plan_jobs(spec, out, notebooks_dir)
    check_out_dir(spec, out)
    echo(describe_plan(spec, out, jobs, launcher))
    if dry_run:
        return [Outcome(j.job_id, "planned", job_state(j)) for j in jobs]
    open_sweep(spec, out, launcher)
    todo = [j for j in jobs if job_state(j) != "finished"]
    skipped = [Outcome(j.job_id, "skipped", "finished") for j in jobs if j not in todo]
    if launcher == "local":
        ran = launch_local(out, todo, device, notebooks_dir, gpus, echo)
    else:
        ran = launch_slurm(out, todo, device, notebooks_dir, slurm or SlurmOptions(), wait, echo)
    by_id = {o.job_id: o for o in [*skipped, *ran]}
    return [by_id[j.job_id] for j in jobs]


# --- CLI ---------------------------------------------------------------------------------------


def add_reproduce_command(subparsers: Any) -> argparse.ArgumentParser:
    """Register ``pixelpush reproduce`` (the lead wires this into ``cli.py``)."""
    parser = subparsers.add_parser(
        "reproduce", help="run the chapter notebooks in train mode for several steps and seeds (resumable)",
        description="One papermill job per (step, seed). Re-run the same command to resume an interrupted sweep.")
    parser.add_argument("--steps", nargs="+", required=True, metavar="STEP", help=f"from {', '.join(runnable_steps())}")
    parser.add_argument("--seeds", nargs="+", type=int, required=True, metavar="SEED")
    parser.add_argument("--total-steps", type=int, required=True, help="environment steps per job")
    parser.add_argument("--out", type=Path, required=True, help="sweep folder (created; re-use it to resume)")
    parser.add_argument("--launcher", choices=("local", "slurm"), default="local")
    parser.add_argument("--dry-run", action="store_true", help="print the plan, write nothing")
    parser.add_argument("--set", action="append", metavar="KEY=VALUE", help="override a config field (repeatable)")
    parser.add_argument("--device", default="auto", help="torch device inside each job: auto, cpu, cuda")
    parser.add_argument("--notebooks-dir", type=Path, default=NOTEBOOKS_DIR,
                        help="folder of the chapter notebooks (default: the repository's notebooks/)")
    slurm = parser.add_argument_group("slurm launcher (submitit)")
    slurm.add_argument("--partition", help="SLURM partition")
    slurm.add_argument("--gpus-per-job", type=int, default=1)
    slurm.add_argument("--cpus-per-job", type=int, default=8)
    slurm.add_argument("--timeout-min", type=int, default=24 * 60,
                       help="SLURM time limit per job in minutes; a job hitting it is requeued and resumes")
    slurm.add_argument("--cluster", choices=("slurm", "local", "debug"), default=None,
                       help="submitit executor (default: SLURM when available); local tries the path on one machine")
    slurm.add_argument("--wait", action="store_true", help="block until the submitted jobs end")
    parser.set_defaults(func=_reproduce_command)
    return parser


def _reproduce_command(args: argparse.Namespace) -> int:
    try:
        outcomes = reproduce(
            args.steps, args.seeds, args.total_steps, args.out, overrides=parse_overrides(args.set),
            launcher=args.launcher, device=args.device, dry_run=args.dry_run, notebooks_dir=args.notebooks_dir,
            slurm=SlurmOptions(args.partition, args.gpus_per_job, args.timeout_min, args.cpus_per_job, args.cluster),
            wait=args.wait)
    except (SweepError, RunError) as error:
        print(f"pixelpush reproduce: error: {error}", file=sys.stderr)
        return 2
    bad = [o for o in outcomes if o.state in ("failed", "locked")]
    if not args.dry_run:
        print(f"{len(outcomes) - len(bad)}/{len(outcomes)} job(s) ok; collect with: pixelpush collect {args.out} --into data/")
    return 1 if bad else 0


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m pixelpush_lib.sweeps.reproduce``: the two commands, plus ``run-job`` for GPU worker subprocesses."""
    parser = argparse.ArgumentParser(prog="python -m pixelpush_lib.sweeps.reproduce")
    sub = parser.add_subparsers(dest="command", required=True)
    add_reproduce_command(sub)
    add_collect_command(sub)
    worker = sub.add_parser("run-job", help="run one job of a sweep (used by the local GPU launcher)")
    worker.add_argument("out", type=Path)
    worker.add_argument("job")
    worker.add_argument("--device", default="auto")
    worker.add_argument("--notebooks-dir", type=Path, default=NOTEBOOKS_DIR)
    worker.set_defaults(func=lambda a: 0 if run_job(a.out, a.job, a.device, a.notebooks_dir) else 1)
    args = parser.parse_args(argv)
    return int(args.func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
