"""Launchers: run a sweep's jobs here (one after another, or one per visible GPU in parallel) or submit them
to SLURM through submitit (a job that hits its time limit is requeued and resumes)."""

from __future__ import annotations

import json
import os
import queue
import subprocess
import sys
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pixelpush_lib.core.files import utc_now, write_json_atomic
from pixelpush_lib.sweeps.jobs import JobFailed, JobRunner, run_job
from pixelpush_lib.sweeps.spec import SUBMISSIONS, Job, SweepError, job_state


@dataclass
class Outcome:
    """What happened to one job in this invocation."""

    job_id: str
    state: str  # finished, skipped, failed, submitted, locked
    message: str = ""


def visible_gpus(device: str = "auto") -> list[str]:
    """GPU ids this process may use (``CUDA_VISIBLE_DEVICES`` if set, else torch's count); none for ``cpu``."""
    if device == "cpu":
        return []
    env = os.environ.get("CUDA_VISIBLE_DEVICES")
    if env is not None:
        return [g.strip() for g in env.split(",") if g.strip() and g.strip() != "-1"]
    import torch

    return [str(i) for i in range(torch.cuda.device_count())]


def _run_in_process(out: Path, job: Job, device: str, notebooks_dir: Path) -> Outcome:
    try:
        return Outcome(job.job_id, run_job(out, job.job_id, device, notebooks_dir))
    except JobFailed as error:
        return Outcome(job.job_id, "failed", str(error))
    except SweepError as error:
        return Outcome(job.job_id, "locked", str(error))


def _run_on_gpu(out: Path, job: Job, device: str, notebooks_dir: Path, gpu: str) -> Outcome:
    """One job in a worker subprocess that sees only ``gpu``; its output goes to ``<job>/job.log``."""
    command = [sys.executable, "-m", "pixelpush_lib.sweeps.reproduce", "run-job", str(out), job.job_id,
               "--device", device, "--notebooks-dir", str(notebooks_dir)]
    job.job_dir.mkdir(parents=True, exist_ok=True)
    with open(job.job_dir / "job.log", "a") as log:
        done = subprocess.run(command, env=dict(os.environ, CUDA_VISIBLE_DEVICES=gpu), stdout=log,
                              stderr=subprocess.STDOUT)
    if done.returncode == 0:
        return Outcome(job.job_id, "finished", f"on GPU {gpu}")
    tail = (job.job_dir / "job.log").read_text().strip().splitlines()[-1:] or ["no output"]
    return Outcome(job.job_id, "failed", f"on GPU {gpu}: {tail[0]} (log: {job.job_dir / 'job.log'})")


def launch_local(out: Path, jobs: list[Job], device: str, notebooks_dir: Path,
                 gpus: Sequence[str] | None = None, echo: Callable[[str], None] = print) -> list[Outcome]:
    """Jobs one after another, or one per GPU in parallel when two or more GPUs are visible."""
    gpus = visible_gpus(device) if gpus is None else list(gpus)
    if len(gpus) <= 1:
        outcomes = []
        for job in jobs:
            echo(f"[{job.job_id}] running ({job_state(job)})")
            outcomes.append(_run_in_process(out, job, device, notebooks_dir))
            echo(f"[{job.job_id}] {outcomes[-1].state} {outcomes[-1].message}".rstrip())
        return outcomes
    pending: queue.Queue[Job] = queue.Queue()
    for job in jobs:
        pending.put(job)
    results: dict[str, Outcome] = {}

    def worker(gpu: str) -> None:
        while True:
            try:
                job = pending.get_nowait()
            except queue.Empty:
                return
            echo(f"[{job.job_id}] running on GPU {gpu}")
            results[job.job_id] = _run_on_gpu(out, job, device, notebooks_dir, gpu)
            echo(f"[{job.job_id}] {results[job.job_id].state} {results[job.job_id].message}".rstrip())

    threads = [threading.Thread(target=worker, args=(g,), daemon=True) for g in gpus]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return [results[j.job_id] for j in jobs]


@dataclass(frozen=True)
class SlurmOptions:
    """submitit parameters. ``cluster="local"`` runs the same code path with submitit's local executor."""

    partition: str | None = None
    gpus_per_job: int = 1
    timeout_min: int = 24 * 60
    cpus_per_job: int = 8
    cluster: str | None = None  # None: auto-detect (SLURM when available); "local" or "debug" for testing


def launch_slurm(out: Path, jobs: list[Job], device: str, notebooks_dir: Path, options: SlurmOptions,
                 wait: bool = False, echo: Callable[[str], None] = print) -> list[Outcome]:
    """Submit one submitit job per (step, seed); with ``wait`` block until all end and report each."""
    if not jobs:
        return []
    try:
        import submitit
    except ImportError:
        raise SweepError("--launcher slurm needs submitit: pip install 'pixelpush-lib[cluster]'") from None
    executor = submitit.AutoExecutor(folder=str(out / ".submitit" / "%j"), cluster=options.cluster)
    params: dict[str, Any] = {"timeout_min": options.timeout_min, "gpus_per_node": options.gpus_per_job,
                              "cpus_per_task": options.cpus_per_job, "name": "pixelpush"}
    if options.partition:
        params["slurm_partition"] = options.partition
    executor.update_parameters(**params)
    submitted = []
    with executor.batch():
        for job in jobs:
            submitted.append((job, executor.submit(JobRunner(str(out), job.job_id, device, str(notebooks_dir)))))
    outcomes = []
    for job, handle in submitted:
        echo(f"[{job.job_id}] submitted as {executor.cluster} job {handle.job_id}")
        _record_submission(job, executor.cluster, handle.job_id)
        outcomes.append(Outcome(job.job_id, "submitted", f"{executor.cluster} job {handle.job_id}"))
    if not wait:
        return outcomes
    return [_wait_for(job, handle, echo) for job, handle in submitted]


def _record_submission(job: Job, cluster: str, cluster_job_id: str) -> None:
    """Submissions go to their own file: the job itself may already be writing ``job.json``."""
    path = job.job_dir / SUBMISSIONS
    job.job_dir.mkdir(parents=True, exist_ok=True)
    record = json.loads(path.read_text()) if path.exists() else {"job_id": job.job_id, "submissions": []}
    record["submissions"].append({"at": utc_now(), "cluster": cluster, "id": cluster_job_id})
    write_json_atomic(path, record)


def _wait_for(job: Job, handle: Any, echo: Callable[[str], None]) -> Outcome:
    try:
        state = handle.result()
    except Exception as error:  # submitit re-raises the job's exception (or FailedJobError) here
        outcome = Outcome(job.job_id, "failed", f"{type(error).__name__}: {str(error).strip().splitlines()[-1:]}")
    else:
        outcome = Outcome(job.job_id, state, f"job {handle.job_id}")
    echo(f"[{job.job_id}] {outcome.state} {outcome.message}")
    return outcome
