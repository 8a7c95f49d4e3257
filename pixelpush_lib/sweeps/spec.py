"""A sweep's definition and folder: which (step, seed) jobs it trains, where each writes, what state each is in.

``pixelpush reproduce --steps step2 step0 --seeds 0 1 2 --total-steps 5000000 --out repro/`` plans one job per
(step, seed) and writes::

    repro/
      sweep.json                      the sweep definition (steps, seeds, total_steps, overrides) + invocations
      step2_s0/
        submissions.json              SLURM/submitit job ids of each submission (slurm launcher)
        job.json                      every attempt: host, pid, device/GPU, notebook sha256, from/to step, error
        run/                          the training run directory (run.json, progress.csv, checkpoints/)
        executed.ipynb                the executed notebook (only once it ran to the end)
        executed.partial.ipynb        papermill's output while it runs (renamed when it succeeds)
        executed.failed.ipynb         the output of the last failed attempt, with its traceback

``state`` has no chapter notebook (it is the baseline the notebooks compare against): its jobs train directly.
``step3`` is interpretation only and has no training job. A folder holding another sweep is refused.
"""

from __future__ import annotations

import json
import shlex
import socket
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pixelpush_lib.core.configs import CONFIGS, get_config
from pixelpush_lib.core.files import utc_now, write_json_atomic
from pixelpush_lib.core.paths import NOTEBOOKS_DIR
from pixelpush_lib.training.run_dir import RunDir

#: Step (config) -> its chapter notebook. ``*_pixels_only`` twins use their step's notebook.
STEP_NOTEBOOKS = {
    "step0": "00_baseline_gap.ipynb",
    "step1": "01_right_eyes.ipynb",
    "step2": "02_gradient_flow.ipynb",
    "step4": "04_drq_surprise.ipynb",
}
DIRECT_TRAIN_STEPS = ("state",)  # no notebook: trained with pixelpush_lib.training.runs directly
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
        sets = " ".join(f"--set {k}={format_override(v)}" for k, v in self.overrides.items())
        return (f"pixelpush reproduce --steps {' '.join(self.steps)} --seeds {' '.join(map(str, self.seeds))} "
                f"--total-steps {self.total_steps} --out {shlex.quote(str(out))}" + (f" {sets}" if sets else ""))


def format_override(value: Any) -> str:
    """A config override as ``--set KEY=VALUE`` spells it: a list comma-separated (``[32, 32]`` -> ``32,32``)."""
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
        """The papermill parameters of ``pixelpush_lib.chapter.notebook`` for this job."""
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
    return RunDir(run_dir).checkpoint_step()


def job_state(job: Job) -> str:
    """``finished``, ``interrupted`` (a run exists, not done) or ``new``."""
    step = checkpoint_step(job.run_dir)
    trained = step is not None and step >= job.total_steps
    if trained and (job.notebook is None or job.executed.is_file()):
        return "finished"
    return "interrupted" if RunDir(job.run_dir).has_run() else "new"


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
        "kind": "pixelpush-sweep", "schema_version": 1, "definition": spec.to_dict(), "created_at": utc_now(),
        "rerun_command": spec.command(out), "jobs": [job_id(s, n) for s in spec.steps for n in spec.seeds],
        "invocations": [],
    }
    manifest["invocations"].append({"at": utc_now(), "launcher": launcher, "host": socket.gethostname(),
                                    "command": " ".join(sys.argv)})
    out.mkdir(parents=True, exist_ok=True)
    write_json_atomic(out / SWEEP_MANIFEST, manifest)
    return manifest


def load_jobs(out: Path | str, notebooks_dir: Path | str = NOTEBOOKS_DIR) -> list[Job]:
    return plan_jobs(spec_of(read_sweep(out)), out, notebooks_dir)
