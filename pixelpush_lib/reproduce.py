"""Reproduce It at scale: one papermill job per (step, seed), run locally or on SLURM, resumable, collectable.

``pixelpush reproduce --steps step2 step0 --seeds 0 1 2 --total-steps 5000000 --out repro/`` plans one job per
(step, seed). A job executes that step's chapter notebook through papermill with ``mode="train"`` and writes::

    repro/
      sweep.json                      the sweep definition (steps, seeds, total_steps, overrides) + invocations
      step2_s0/
        submissions.json              SLURM/submitit job ids of each submission (slurm launcher)
        job.json                      every attempt: host, pid, device/GPU, notebook sha256, from/to step, error
        run/                          the pixelpush_lib.train run directory (run.json, progress.csv, checkpoints/)
        executed.ipynb                the executed notebook (only once it ran to the end)
        executed.partial.ipynb        papermill's output while it runs (renamed when it succeeds)
        executed.failed.ipynb         the output of the last failed attempt, with its traceback

Re-running the same command skips finished jobs (checkpoint step >= total_steps *and* ``executed.ipynb``
present) and resumes interrupted ones: the notebook's ``train_or_resume`` continues the run from its last
checkpoint. A folder holding another sweep (a different definition in ``sweep.json``) is refused.

``state`` has no chapter notebook (it is the baseline the notebooks compare against): its jobs call
``pixelpush_lib.train`` directly, through the same ``notebook.check_parameters``/``train_or_resume`` contract,
and have no executed notebook. ``step3`` is interpretation only and has no training job.

Launchers: ``local`` runs jobs one after another, or one per visible GPU in parallel (a worker subprocess per
GPU with ``CUDA_VISIBLE_DEVICES`` set); ``slurm`` submits each job through ``submitit`` (requeued from its last
checkpoint when it hits the time limit). ``pixelpush collect repro/ --into data/`` imports every finished run
into ``data/runs/`` with the importer (provenance ``imported``).
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import os
import queue
import shlex
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pixelpush_lib.provenance import sha256_file, write_json_atomic
from pixelpush_lib.configs import CONFIGS, get_config

REPO_ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS_DIR = REPO_ROOT / "notebooks"
#: Step (config) -> its chapter notebook. ``*_pixels_only`` twins use their step's notebook.
STEP_NOTEBOOKS = {
    "step0": "00_baseline_gap.ipynb",
    "step1": "01_right_eyes.ipynb",
    "step2": "02_gradient_flow.ipynb",
    "step4": "04_drq_surprise.ipynb",
}
DIRECT_TRAIN_STEPS = ("state",)  # no notebook: trained with pixelpush_lib.train directly
SWEEP_MANIFEST = "sweep.json"
JOB_RECORD = "job.json"
SUBMISSIONS = "submissions.json"
EXECUTED = "executed.ipynb"
PARTIAL = "executed.partial.ipynb"
FAILED = "executed.failed.ipynb"
LOCK = ".lock"
KERNEL_NAME = "pixelpush-python"
#: A killed job's notebook kernel outlives it by up to ~1 s (ipykernel's parent poller checks once a second);
#: a job taking over such a job's folder waits this long so the orphan never writes next to it.
ORPHAN_KERNEL_GRACE_S = 2.0


class SweepError(ValueError):
    """A sweep cannot be planned, run or collected as asked; the message names the problem and the fix."""


def _now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")


# --- The sweep definition ------------------------------------------------------------------------


def runnable_steps() -> list[str]:
    """Configs a sweep can run: every step with a notebook, its pixels-only twin, and ``state``."""
    with_notebook = [n for n in CONFIGS if n.removesuffix("_pixels_only") in STEP_NOTEBOOKS]
    return [*with_notebook, *DIRECT_TRAIN_STEPS]


def notebook_for(step: str, notebooks_dir: Path | str = NOTEBOOKS_DIR) -> Path | None:
    """The notebook a step's jobs execute (None for ``state``, which trains directly)."""
    if step in DIRECT_TRAIN_STEPS:
        return None
    if step not in runnable_steps():
        hint = " (step3 is interpretation only: it has no training job)" if step.startswith("step3") else ""
        raise SweepError(f"unknown step {step!r}{hint}; choose from {', '.join(runnable_steps())}")
    return Path(notebooks_dir) / STEP_NOTEBOOKS[step.removesuffix("_pixels_only")]


def _jsonable(value: Any) -> Any:
    return list(value) if isinstance(value, tuple) else value


@dataclass(frozen=True)
class SweepSpec:
    """What a sweep trains. ``total_steps`` counts environment steps per job (SB3's ``num_timesteps``)."""

    steps: tuple[str, ...]
    seeds: tuple[int, ...]
    total_steps: int
    overrides: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"steps": list(self.steps), "seeds": list(self.seeds), "total_steps": self.total_steps,
                "overrides": dict(self.overrides)}

    def same_as(self, other: dict[str, Any]) -> bool:
        """Same sweep regardless of the order steps and seeds were listed in."""
        return (sorted(other.get("steps", [])) == sorted(self.steps) and sorted(other.get("seeds", [])) ==
                sorted(self.seeds) and other.get("total_steps") == self.total_steps
                and other.get("overrides", {}) == self.overrides)

    def command(self, out: Path) -> str:
        sets = " ".join(f"--set {k}={_fmt_override(v)}" for k, v in self.overrides.items())
        return (f"pixelpush reproduce --steps {' '.join(self.steps)} --seeds {' '.join(map(str, self.seeds))} "
                f"--total-steps {self.total_steps} --out {shlex.quote(str(out))}" + (f" {sets}" if sets else ""))


def _fmt_override(value: Any) -> str:
    return ",".join(map(str, value)) if isinstance(value, list) else str(value)


def make_spec(steps: Sequence[str], seeds: Sequence[int], total_steps: int,
              overrides: dict[str, Any] | None = None) -> SweepSpec:
    """Validate a sweep definition; overrides are coerced to the config fields' types (``"8"`` -> ``8``)."""
    if not steps:
        raise SweepError(f"no step given: pass --steps with one or more of {', '.join(runnable_steps())}")
    for step in steps:
        notebook_for(step)  # raises for unknown steps
    _no_duplicates("--steps", list(steps))
    if not seeds:
        raise SweepError("no seed given: pass --seeds, e.g. --seeds 0 1 2")
    for seed in seeds:
        if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
            raise SweepError(f"seed {seed!r} in --seeds is not an integer >= 0")
    _no_duplicates("--seeds", list(seeds))
    if isinstance(total_steps, bool) or not isinstance(total_steps, int) or total_steps <= 0:
        raise SweepError(f"--total-steps {total_steps!r} must be a positive number of environment steps per job")
    typed: dict[str, Any] = {}
    for step in steps:
        try:
            config = get_config(step, overrides)
        except ValueError as error:
            raise SweepError(f"--set for step {step}: {error}") from None
        typed = {key: _jsonable(getattr(config, key)) for key in (overrides or {})}
    return SweepSpec(tuple(steps), tuple(int(s) for s in seeds), int(total_steps), typed)


def _no_duplicates(option: str, values: list[Any]) -> None:
    repeated = sorted({v for v in values if values.count(v) > 1}, key=str)
    if repeated:
        raise SweepError(f"{option} lists {', '.join(map(str, repeated))} more than once "
                         f"({' '.join(map(str, values))}): list each once")


# --- Jobs ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Job:
    """One (step, seed) of a sweep: its folder, notebook (None: direct training) and budget."""

    step: str
    seed: int
    total_steps: int
    overrides: dict[str, Any]
    job_dir: Path
    notebook: Path | None

    @property
    def job_id(self) -> str:
        return self.job_dir.name

    @property
    def run_dir(self) -> Path:
        return self.job_dir / "run"

    @property
    def executed(self) -> Path:
        return self.job_dir / EXECUTED

    def parameters(self, device: str) -> dict[str, Any]:
        """The papermill parameters of ``pixelpush_lib.notebook`` for this job."""
        return {"mode": "train", "config": self.step, "seed": self.seed, "total_steps": self.total_steps,
                "run_dir": str(self.run_dir.resolve()), "overrides": dict(self.overrides), "device": device}


def job_id(step: str, seed: int) -> str:
    return f"{step}_s{seed}"


def plan_jobs(spec: SweepSpec, out: Path | str, notebooks_dir: Path | str = NOTEBOOKS_DIR) -> list[Job]:
    """The sweep's jobs in command-line order (steps, then seeds); their notebooks must exist."""
    out = Path(out)
    jobs = [Job(step, seed, spec.total_steps, spec.overrides, out / job_id(step, seed), notebook_for(step, notebooks_dir))
            for step in spec.steps for seed in spec.seeds]
    missing = sorted({str(j.notebook) for j in jobs if j.notebook is not None and not j.notebook.is_file()})
    if missing:
        raise SweepError(f"notebook(s) not found: {', '.join(missing)}; pass --notebooks-dir to the folder that "
                         "holds the chapter notebooks")
    return jobs


def checkpoint_step(run_dir: Path) -> int | None:
    """Environment step of the run's latest complete checkpoint, None when it has none."""
    from pixelpush_lib.train import latest_checkpoint

    checkpoint = latest_checkpoint(run_dir)
    if checkpoint is None:
        return None
    return int(json.loads((checkpoint / "checkpoint.json").read_text())["num_timesteps"])


def job_state(job: Job) -> str:
    """``finished``, ``interrupted`` (a run exists, not done) or ``new``."""
    step = checkpoint_step(job.run_dir)
    trained = step is not None and step >= job.total_steps
    if trained and (job.notebook is None or job.executed.is_file()):
        return "finished"
    return "interrupted" if (job.run_dir / "run.json").exists() else "new"


# --- The sweep folder ----------------------------------------------------------------------------


def read_sweep(out: Path | str) -> dict[str, Any]:
    """The sweep manifest of ``out``; ``SweepError`` if ``out`` is not a sweep folder."""
    path = Path(out) / SWEEP_MANIFEST
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise SweepError(f"{path} not found: {out} is not a `pixelpush reproduce` output folder") from None
    except json.JSONDecodeError as error:
        raise SweepError(f"{path} is not valid JSON ({error}); restore it or start the sweep in a new --out") from None


def spec_of(manifest: dict[str, Any]) -> SweepSpec:
    d = manifest["definition"]
    return SweepSpec(tuple(d["steps"]), tuple(d["seeds"]), int(d["total_steps"]), dict(d["overrides"]))


def check_out_dir(spec: SweepSpec, out: Path) -> dict[str, Any] | None:
    """The existing manifest if ``out`` holds this very sweep, None if ``out`` is new or empty; else refuse."""
    if (out / SWEEP_MANIFEST).exists():
        manifest = read_sweep(out)
        if not spec.same_as(manifest["definition"]):
            recorded = spec_of(manifest)
            raise SweepError(
                f"{out} holds another sweep ({out / SWEEP_MANIFEST}: {recorded.to_dict()}); this command asks for "
                f"{spec.to_dict()}. Continue that sweep with `{recorded.command(out)}`, or choose another --out")
        return manifest
    if out.exists() and any(out.iterdir()):
        raise SweepError(f"{out} is not empty and has no {SWEEP_MANIFEST}: choose a new or empty --out folder")
    return None


def open_sweep(spec: SweepSpec, out: Path, launcher: str) -> dict[str, Any]:
    """Create or re-open the sweep folder, appending this invocation to its manifest (atomic write)."""
    manifest = check_out_dir(spec, out) or {
        "kind": "pixelpush-sweep", "schema_version": 1, "definition": spec.to_dict(), "created_at": _now(),
        "rerun_command": spec.command(out), "jobs": [job_id(s, n) for s in spec.steps for n in spec.seeds],
        "invocations": [],
    }
    manifest["invocations"].append({"at": _now(), "launcher": launcher, "host": socket.gethostname(),
                                    "command": " ".join(sys.argv)})
    out.mkdir(parents=True, exist_ok=True)
    write_json_atomic(out / SWEEP_MANIFEST, manifest)
    return manifest


def load_jobs(out: Path | str, notebooks_dir: Path | str = NOTEBOOKS_DIR) -> list[Job]:
    return plan_jobs(spec_of(read_sweep(out)), out, notebooks_dir)


# --- Running one job -----------------------------------------------------------------------------


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
    me = {"host": socket.gethostname(), "pid": os.getpid(), "since": _now()}
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
    if (job.run_dir / "run.json").exists() and checkpoint_step(job.run_dir) is None:
        target = job.job_dir / f"run.no-checkpoint-{dt.datetime.now():%Y%m%d-%H%M%S}"
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
    from pixelpush_lib.notebook import check_parameters, train_or_resume

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
        _update_record(job, new_attempt=True, state="running", started_at=_now(), host=socket.gethostname(),
                       pid=os.getpid(), device=device, cuda_visible_devices=os.environ.get("CUDA_VISIBLE_DEVICES"),
                       slurm_job_id=os.environ.get("SLURM_JOB_ID"), from_step=checkpoint_step(job.run_dir) or 0,
                       set_aside=discarded,
                       notebook=str(job.notebook) if job.notebook else None,
                       notebook_sha256=sha256_file(job.notebook) if job.notebook else None)
        try:
            (_execute_notebook if job.notebook is not None else _train_direct)(job, device)
        except BaseException as error:  # KeyboardInterrupt included: the record must say the attempt ended
            _update_record(job, state="failed", ended_at=_now(), error=f"{type(error).__name__}: {error}")
            raise
        _update_record(job, state="finished", ended_at=_now(), to_step=checkpoint_step(job.run_dir))
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


# --- Launchers -----------------------------------------------------------------------------------


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
    command = [sys.executable, "-m", "pixelpush_lib.reproduce", "run-job", str(out), job.job_id,
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
    record["submissions"].append({"at": _now(), "cluster": cluster, "id": cluster_job_id})
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


# --- The command ---------------------------------------------------------------------------------


def describe_plan(spec: SweepSpec, out: Path, jobs: list[Job], launcher: str) -> str:
    """The dry-run text: every job, what it would do, and where it writes."""
    lines = [f"sweep {out}: {len(spec.steps)} step(s) x {len(spec.seeds)} seed(s), {spec.total_steps:,} steps each, "
             f"overrides {spec.overrides or 'none'}, launcher {launcher}"]
    for job in jobs:
        state = job_state(job)
        action = {"finished": "skip (finished)", "new": "train from step 0",
                  "interrupted": f"resume from step {checkpoint_step(job.run_dir) or 0}"}[state]
        runner = job.notebook.name if job.notebook else "pixelpush_lib.train (no notebook)"
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


# --- Collect -------------------------------------------------------------------------------------


def inputs_of(config_name: str) -> str:
    """What the config's policy sees, in ``curves.INPUT_TOKENS`` (the importer's ``inputs``)."""
    config = get_config(config_name)
    if config.obs_mode == "state":
        return "state+desired_goal+achieved_goal"
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
    from pixelpush_lib.curves import DATA_DIR
    from pixelpush_lib.importer import CONFIG_TO_ARC_STEP, import_run
    from pixelpush_lib.train import PROGRESS, read_manifest

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
        log = job.run_dir / PROGRESS
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
        trained = read_manifest(job.run_dir)
        description = (f"pixelpush reproduce sweep {out.resolve()} job {job.job_id}: {job.total_steps:,} steps, "
                       f"overrides {trained['overrides'] or 'none'}, trained at commit {trained['git_commit']}")
        target = import_run(log, run_id, job.step, job.seed, force=force, data_dir=data_dir,
                            inputs=inputs_of(job.step), description=description)
        outcomes.append(Outcome(job.job_id, "imported", str(target)))
    for outcome in outcomes:
        echo(f"[{outcome.job_id}] {outcome.state}: {outcome.message}")
    return outcomes


def _jobs_without_notebook_check(out: Path) -> list[Job]:
    """Jobs of a sweep folder for collecting (no notebook needs to exist on the collecting machine)."""
    spec = spec_of(read_sweep(out))
    return [Job(s, n, spec.total_steps, spec.overrides, out / job_id(s, n), None) for s in spec.steps for n in spec.seeds]


# --- CLI -----------------------------------------------------------------------------------------


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
    from pixelpush_lib.train import RunError, parse_overrides

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


def add_collect_command(subparsers: Any) -> argparse.ArgumentParser:
    """Register ``pixelpush collect`` (the lead wires this into ``cli.py``)."""
    from pixelpush_lib.curves import DATA_DIR

    parser = subparsers.add_parser("collect", help="import the finished runs of a reproduce sweep into data/runs/")
    parser.add_argument("out", type=Path, help="the sweep folder given to `pixelpush reproduce --out`")
    parser.add_argument("--into", type=Path, default=DATA_DIR, help=f"data folder (default {DATA_DIR})")
    parser.add_argument("--force", action="store_true", help="replace runs collected earlier from another log")
    parser.add_argument("--prefix", default="repro", help="run ids are <prefix>_<step>_s<seed> (default repro)")
    parser.set_defaults(func=_collect_command)
    return parser


def _collect_command(args: argparse.Namespace) -> int:
    from pixelpush_lib.curves import DataError

    try:
        outcomes = collect(args.out, args.into, args.force, args.prefix)
    except (SweepError, DataError) as error:
        print(f"pixelpush collect: error: {error}", file=sys.stderr)
        return 2
    return 0 if any(o.state in ("imported", "unchanged") for o in outcomes) else 1


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m pixelpush_lib.reproduce``: the two commands, plus ``run-job`` for GPU worker subprocesses."""
    parser = argparse.ArgumentParser(prog="python -m pixelpush_lib.reproduce")
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
