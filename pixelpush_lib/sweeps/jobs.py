"""Running one job of a sweep: lock its folder, execute its notebook through papermill (or train directly),
and record every attempt. Every launcher runs jobs through :func:`run_job`; an interrupted job resumes from its
run's last checkpoint."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import socket
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from pixelpush_lib.chapter.notebook import check_parameters, train_or_resume
from pixelpush_lib.core.files import sha256_file, utc_now, write_json_atomic
from pixelpush_lib.core.paths import NOTEBOOKS_DIR
from pixelpush_lib.sweeps.spec import (
    FAILED,
    JOB_RECORD,
    KERNEL_NAME,
    LOCK,
    ORPHAN_KERNEL_GRACE_S,
    PARTIAL,
    Job,
    SweepError,
    checkpoint_step,
    job_state,
    load_jobs,
)
from pixelpush_lib.training.run_dir import RunDir


class JobFailed(RuntimeError):
    """A job's notebook or training raised; its record and failed notebook say why."""


def _read_record(job: Job) -> dict[str, Any]:
    path = job.job_dir / JOB_RECORD
    return json.loads(path.read_text()) if path.exists() else {"job_id": job.job_id, "attempts": []}


def _update_record(job: Job, **changes: Any) -> None:
    record = _read_record(job)
    if changes.pop("new_attempt", False):
        record["attempts"].append({})
    record["attempts"][-1].update(changes)
    record["state"] = record["attempts"][-1].get("state")
    write_json_atomic(job.job_dir / JOB_RECORD, record)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@contextlib.contextmanager
def job_lock(job: Job) -> Iterator[None]:
    """Exclusive ownership of a job folder (a lock file with host and pid), released on exit.

    A lock whose process is gone on this host is stale (the job was killed): it is taken over after
    :data:`ORPHAN_KERNEL_GRACE_S`. A lock held by another host cannot be checked from here: refuse and say so.
    """
    path = job.job_dir / LOCK
    job.job_dir.mkdir(parents=True, exist_ok=True)
    me = {"host": socket.gethostname(), "pid": os.getpid(), "since": utc_now()}
    for _ in range(2):
        try:
            fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
        except FileExistsError:
            _clear_stale_lock(job, path)
            continue
        with os.fdopen(fd, "w") as handle:
            json.dump(me, handle)
        break
    else:
        raise SweepError(f"could not lock {path}")
    try:
        yield
    finally:
        path.unlink(missing_ok=True)


def _clear_stale_lock(job: Job, path: Path) -> None:
    try:
        owner = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError):
        owner = {}  # an empty lock: its writer died between create and write
    if owner and owner.get("host") != socket.gethostname():
        raise SweepError(f"job {job.job_id} is locked by {owner.get('host')} pid {owner.get('pid')} since "
                         f"{owner.get('since')} ({path}); if that job is no longer running, delete the lock file")
    if owner and _pid_alive(int(owner["pid"])):
        raise SweepError(f"job {job.job_id} is already running (pid {owner['pid']} on this host, lock {path})")
    time.sleep(ORPHAN_KERNEL_GRACE_S)
    path.unlink(missing_ok=True)


def _set_aside_unresumable(job: Job) -> str | None:
    """A run killed before its first checkpoint cannot resume: keep it under another name, start over."""
    if RunDir(job.run_dir).has_run() and checkpoint_step(job.run_dir) is None:
        target = job.job_dir / f"run.no-checkpoint-{time.strftime('%Y%m%d-%H%M%S')}"
        os.replace(job.run_dir, target)
        return target.name
    return None


@contextlib.contextmanager
def venv_kernel() -> Iterator[str]:
    """A kernelspec running *this* Python (the venv's), found first on ``JUPYTER_PATH`` while the block runs.

    A user-level ``python3`` kernelspec may point at another interpreter without ``pixelpush_lib``; a private
    name with an absolute path to ``sys.executable`` cannot.
    """
    root = Path(tempfile.mkdtemp(prefix="pixelpush-kernel-"))
    spec_dir = root / "kernels" / KERNEL_NAME
    spec_dir.mkdir(parents=True)
    (spec_dir / "kernel.json").write_text(json.dumps({
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "Python (pixelpush)", "language": "python"}))
    previous = os.environ.get("JUPYTER_PATH")
    os.environ["JUPYTER_PATH"] = os.pathsep.join(p for p in (str(root), previous) if p)
    try:
        yield KERNEL_NAME
    finally:
        if previous is None:
            os.environ.pop("JUPYTER_PATH", None)
        else:
            os.environ["JUPYTER_PATH"] = previous
        shutil.rmtree(root, ignore_errors=True)


def _execute_notebook(job: Job, device: str) -> None:
    import papermill as pm

    partial, failed = job.job_dir / PARTIAL, job.job_dir / FAILED
    try:
        with venv_kernel() as kernel:
            pm.execute_notebook(str(job.notebook), str(partial), parameters=job.parameters(device),
                                kernel_name=kernel, progress_bar=False, log_output=False,
                                cwd=str(job.notebook.parent))
    except Exception as error:  # papermill raises PapermillExecutionError and kernel/IO errors alike
        if partial.exists():
            os.replace(partial, failed)
        summary = f"{getattr(error, 'ename', type(error).__name__)}: {getattr(error, 'evalue', error)}"
        raise JobFailed(f"job {job.job_id}: notebook {job.notebook.name} failed ({summary}); "
                        f"see {failed}") from error
    os.replace(partial, job.executed)  # only a notebook that ran to its end counts as executed


def _train_direct(job: Job, device: str) -> None:
    params = check_parameters("train", job.step, job.seed, job.total_steps, job.run_dir, job.overrides, device)
    try:
        train_or_resume(params, progress_bar=False)
    except Exception as error:
        raise JobFailed(f"job {job.job_id}: training failed ({type(error).__name__}: {error})") from error


def run_job(out: Path | str, job_name: str, device: str = "auto",
            notebooks_dir: Path | str = NOTEBOOKS_DIR) -> str:
    """Run (or resume) one job of the sweep in ``out``. Returns ``finished`` or ``skipped`` (already done).

    This is the unit every launcher executes (in-process, in a GPU worker subprocess, or as a SLURM job).
    Raises :class:`JobFailed` when the notebook or training fails, :class:`SweepError` when the job is locked.
    """
    jobs = {j.job_id: j for j in load_jobs(out, notebooks_dir)}
    if job_name not in jobs:
        raise SweepError(f"no job {job_name!r} in {out}; its jobs are {', '.join(jobs)}")
    job = jobs[job_name]
    if job_state(job) == "finished":
        return "skipped"
    with job_lock(job):
        discarded = _set_aside_unresumable(job)
        _update_record(job, new_attempt=True, state="running", started_at=utc_now(), host=socket.gethostname(),
                       pid=os.getpid(), device=device, cuda_visible_devices=os.environ.get("CUDA_VISIBLE_DEVICES"),
                       slurm_job_id=os.environ.get("SLURM_JOB_ID"), from_step=checkpoint_step(job.run_dir) or 0,
                       set_aside=discarded,
                       notebook=str(job.notebook) if job.notebook else None,
                       notebook_sha256=sha256_file(job.notebook) if job.notebook else None)
        try:
            (_execute_notebook if job.notebook is not None else _train_direct)(job, device)
        except BaseException as error:  # KeyboardInterrupt included: the record must say the attempt ended
            _update_record(job, state="failed", ended_at=utc_now(), error=f"{type(error).__name__}: {error}")
            raise
        _update_record(job, state="finished", ended_at=utc_now(), to_step=checkpoint_step(job.run_dir))
    return "finished"


class JobRunner:
    """Picklable callable for submitit: runs one job; on a SLURM time limit it is requeued and resumes."""

    def __init__(self, out: str, job_name: str, device: str, notebooks_dir: str) -> None:
        self.out, self.job_name, self.device, self.notebooks_dir = out, job_name, device, notebooks_dir

    def __call__(self) -> str:
        return run_job(self.out, self.job_name, self.device, self.notebooks_dir)

    def checkpoint(self) -> Any:
        """submitit calls this on timeout/preemption: release the lock, resubmit; train resumes from its checkpoint."""
        import submitit

        (Path(self.out) / self.job_name / LOCK).unlink(missing_ok=True)
        return submitit.helpers.DelayedSubmission(JobRunner(self.out, self.job_name, self.device, self.notebooks_dir))
