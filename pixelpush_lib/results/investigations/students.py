"""The pixel students' measurement read back (``data/measured/distill``), and what the chapter states about it.

Pure pandas, like the rest of :mod:`pixelpush_lib.results`: the facts load without the simulator.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from pixelpush_lib.core.paths import MEASURED_DIR
from pixelpush_lib.results.evidence import LOW_BAND
from pixelpush_lib.results.measured import load_manifest
from pixelpush_lib.results.own_runs import seed_mean, seed_range, seeds
from pixelpush_lib.results.quoted_numbers import format_value
from pixelpush_lib.results.registry import REGISTRY, CheckpointEntry, registered_checkpoints


@dataclass(frozen=True)
class DistillResult:
    """``data/measured/distill`` (or ``distill_control``): ``curve`` (one row per encoder, seed and round),
    ``tasks`` (one per student; ``None`` for a run read back from its log, which prints no CPU times),
    ``manifest`` (provenance, parameters, summary) and its ``folder``.

    A result joined from several runs (:func:`load_students`) keeps the first run's ``manifest`` and ``folder``,
    every run's in ``parts`` (folder name -> manifest), the folder of each row in ``curve["part"]``, and ``tasks``
    from the runs that recorded them. ``replaced`` holds the rows of students that a later run taught again to the
    end, with the folder that replaced them in ``replaced["by"]``: they are not in ``curve``."""

    curve: pd.DataFrame
    tasks: pd.DataFrame | None
    manifest: dict[str, Any]
    folder: Path
    parts: dict[str, dict[str, Any]]
    replaced: pd.DataFrame = field(default_factory=pd.DataFrame)

    def common_round(self) -> int:
        """The last round every student completed (a run stopped early ends unevenly)."""
        return int(self.curve.groupby(["encoder", "seed"])["round"].max().min())


def load_results(measured_dir: Path = MEASURED_DIR, experiment: str = "distill") -> DistillResult:
    """A committed distillation measurement, one run's folder (validated manifest)."""
    manifest = load_manifest(experiment, measured_dir)
    folder = Path(measured_dir) / experiment
    tasks = pd.read_csv(folder / "tasks.csv").assign(part=experiment) if "tasks.csv" in manifest["files"] else None
    curve = pd.read_csv(folder / "curve.csv").assign(part=experiment)
    return DistillResult(curve, tasks, manifest, folder, {experiment: manifest})


def load_students(measured_dir: Path = MEASURED_DIR) -> DistillResult:
    """Every committed run of the pixel students, joined: ``measured_dir/distill`` first, then each other folder
    whose manifest says ``"experiment": "distill"`` (seeds taught later, perhaps on another machine, by
    ``python -m pixelpush_lib.experiments distill --seeds N --out DIR``, whose ``DIR/distill`` is committed under
    another name). Runs join only when every budget and the teacher match and no student is in two of them;
    otherwise ``ValueError`` names the folders."""
    main = load_results(measured_dir)
    others = sorted(p.parent.name for p in Path(measured_dir).glob("*/manifest.json")
                    if p.parent.name != "distill" and json.loads(p.read_text()).get("experiment") == "distill")
    runs = [main, *(load_results(measured_dir, name) for name in others)]
    for run in runs[1:]:
        if budgets(run.manifest["parameters"]) != budgets(main.manifest["parameters"]):
            raise ValueError(f"{run.folder}: its students were taught on other budgets than {main.folder}'s, so "
                             "the two cannot be joined; re-run it with the same settings or move it out of "
                             f"{measured_dir}")
    curve, replaced = _one_run_per_student(runs, measured_dir)
    recorded = [run.tasks for run in runs if run.tasks is not None]
    tasks = pd.concat(recorded, ignore_index=True) if recorded else None
    return DistillResult(curve, tasks, main.manifest, main.folder, {r.folder.name: r.manifest for r in runs},
                         replaced)


def _one_run_per_student(runs: list[DistillResult], measured_dir: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Every run's rows, each student's from one run only: the joined curve, and the rows it left out.

    A student in two runs is kept from the run that finished it (a ``tasks.csv`` row: the student was taught to its
    last round and saved) when the other runs stopped before that; its rows from those runs are left out, so that
    no seed is counted twice. Any other overlap raises ``ValueError``."""
    curve = pd.concat([run.curve for run in runs], ignore_index=True)
    finished = {(t.encoder, t.seed, run.folder.name) for run in runs if run.tasks is not None
                for t in run.tasks.itertuples()}
    by: dict[tuple[str, int, str], str] = {}
    clashes = []
    for (encoder, seed), parts in curve.groupby(["encoder", "seed"])["part"].unique().items():
        if len(parts) == 1:
            continue
        keep = [p for p in parts if (encoder, seed, p) in finished]
        if len(keep) != 1:
            clashes.append(f"{encoder} seed {seed}")
            continue
        by.update({(encoder, seed, p): keep[0] for p in parts if p != keep[0]})
    if clashes:
        raise ValueError(f"{measured_dir}: {', '.join(clashes)} appear in more than one of "
                         f"{', '.join(r.folder.name for r in runs)} and no single one of them finished the student; "
                         "keep each student in one run's folder")
    replaced_by = pd.Series(list(zip(curve["encoder"], curve["seed"], curve["part"])), index=curve.index).map(by)
    left_out = replaced_by.notna()
    replaced = curve[left_out].assign(by=replaced_by[left_out])
    return curve[~left_out].reset_index(drop=True), replaced.reset_index(drop=True)


# One line per round, as experiments.investigations.distill.teach_student prints it.
LOG_LINE = re.compile(r"\[distill (?P<encoder>\w+) seed (?P<seed>\d+)\] round (?P<round>\d+): (?P<labels>\d+) labels, "
                      r"validation success (?P<percent>\d+)% over (?P<n_episodes>\d+) episodes, "
                      r"loss (?P<train_loss>[0-9.]+), (?P<elapsed_s>\d+) s$")


def parse_distill_log(text: str, configs: dict[str, str]) -> pd.DataFrame:
    """The per-round rows a distillation run printed (``curve.csv``'s columns plus ``elapsed_s``, the student's
    seconds since it started). ``configs`` maps encoder to config name. Raises ``ValueError`` when no line matches
    or a student's rounds are not 0, 1, 2, ... in order."""
    rows = []
    for line in text.splitlines():
        match = LOG_LINE.search(line.strip())
        if match:
            g = match.groupdict()
            if g["encoder"] not in configs:
                raise ValueError(f"log line names encoder {g['encoder']!r}, not one of {', '.join(configs)}: {line!r}")
            rows.append({"encoder": g["encoder"], "config": configs[g["encoder"]], "seed": int(g["seed"]),
                         "round": int(g["round"]), "labels": int(g["labels"]),
                         "success_rate": int(g["percent"]) / 100, "n_episodes": int(g["n_episodes"]),
                         "train_loss": float(g["train_loss"]), "elapsed_s": int(g["elapsed_s"])})
    if not rows:
        raise ValueError("no '[distill <encoder> seed <n>] round <r>: ...' lines in the log")
    curve = pd.DataFrame(rows)
    for (encoder, seed), run in curve.groupby(["encoder", "seed"]):
        if list(run["round"]) != list(range(len(run))):
            raise ValueError(f"log: {encoder} seed {seed} has rounds {list(run['round'])}, expected 0, 1, 2, ...")
    return curve.sort_values(["encoder", "seed", "round"], ignore_index=True)


#: Validation success (fraction) above which a student is said to push, in every seed: the chapter's failure band.
PUSHES = LOW_BAND


def _verdict(final: dict[str, pd.Series]) -> str:
    manip, nature = final["manipulation"], final["nature"]
    if manip.min() > nature.max():
        return ("ManipulationCNN's students beat NatureCNN's in every seed, so Step 0's story holds for control too, "
                "at least under imitation")
    if nature.min() > manip.max():
        return ("NatureCNN's students beat ManipulationCNN's in every seed, so under imitation Step 0's story does "
                "not carry over to control")
    return "the two encoders' seed ranges overlap, so at this budget imitation does not tell them apart"


def _meaning(pushing: set[str], control_pushes: bool | None) -> str:
    """What the outcome means for the chapter's arc, in one sentence."""
    if pushing == {"manipulation", "nature"}:
        return ("Told the right action, both pipelines' eyes see enough of the puck to push it, so what Step 0's "
                "and Step 1's agents lacked was not sight but a learning signal that reaches the encoder: "
                "Steps 2 and 3")
    if pushing == {"manipulation"}:
        return ("Only Step 1's eyes carry the puck well enough to control it, as Step 0 argued; the reported Step 1 "
                "run stayed flat all the same, so the right eyes are needed but not enough: Steps 2 and 3")
    if pushing == {"nature"}:
        return ("NatureCNN's eyes were enough for control here while ManipulationCNN's were not, which is the "
                "opposite of Step 0's argument, so that argument does not hold for control under imitation")
    if control_pushes:
        return ("The same labels and training taught the state policy to push, so what the pixel students lacked "
                "was the puck's position, which they had to learn to read from the frames: at this budget neither "
                "encoder learnt it well enough, and the experiment does not rank the two")
    return ("At this budget imitation taught neither pipeline to push, so the experiment cannot tell eyes from "
            "learning signal; it needs more labels or more training per round before it can")


STUDENT_NAMES = {"manipulation": "ManipulationCNN's", "nature": "NatureCNN's"}
BUDGET_FIELDS = ("demo_episodes", "dagger_rounds", "episodes_per_round", "train_steps", "batch_size",
                 "learning_rate", "anneal", "validation_episodes", "expert")


def budgets(parameters: dict[str, Any]) -> dict[str, Any]:
    """The parameters (as a manifest stores them) that must match for two distillation runs' students to be
    compared or joined: every budget and the teacher, not the seeds, encoders or device."""
    return {k: parameters.get(k) for k in BUDGET_FIELDS}


def control_for(result: DistillResult, measured_dir: Path = MEASURED_DIR) -> DistillResult | None:
    """The positive control (``distill_control``: the state policy taught the same way) when it ran on the same
    budgets as ``result``, else None."""
    try:
        control = load_results(measured_dir, "distill_control")
    except FileNotFoundError:
        return None
    ours, theirs = result.manifest["parameters"], control.manifest["parameters"]
    return None if budgets(ours) != budgets(theirs) else control


def _seed_list(seeds: pd.Series) -> str:
    """'seed 2' or 'seeds 0 and 1'."""
    names = [str(s) for s in sorted(seeds.unique())]
    return f"seed {names[0]}" if len(names) == 1 else f"seeds {', '.join(names[:-1])} and {names[-1]}"


def _seed_counts(curve: pd.DataFrame) -> str:
    """'3 seeds per encoder', or each encoder's count when they differ (a run of some encoders only)."""
    counts = curve.groupby("encoder")["seed"].nunique()
    plural = {n: seeds(n) for n in counts}
    if counts.nunique() == 1:
        return f"{plural[counts.iloc[0]]} per encoder"
    return " and ".join(f"{plural[n]} of {STUDENT_NAMES.get(e, e)}" for e, n in counts.items())


def _where(manifest: dict[str, Any]) -> str:
    machine = manifest["provenance"]["machine"]
    return f"one {machine['gpu']} and {machine['cpus']} CPU cores" if machine.get("gpu") else \
        f"{machine['cpus']} CPU cores"


def _part_cost(result: DistillResult, part: str, rows: pd.DataFrame) -> str:
    """What one run's students (``rows``: every round it taught) cost: CPU time when the run recorded it, else the
    wall time its log shows."""
    summary = result.parts[part]["summary"]
    tasks = None if result.tasks is None else result.tasks[result.tasks["part"] == part]
    if tasks is not None and len(tasks):
        # Each student's own times: a resumed run's students may have been taught in several processes, some at
        # once and some alone, so the run's wall time and its jobs would not describe them.
        low, high = tasks["wall_s"].min() / 3600, tasks["wall_s"].max() / 3600
        wall = f"{high:.1f} h" if f"{low:.1f}" == f"{high:.1f}" else f"{low:.1f}-{high:.1f} h"
        return (f"{tasks['cpu_s'].sum() / 3600:.1f} CPU-hours; {wall} of wall time per student, each rendering "
                f"about {tasks['env_steps_per_s'].median():.0f} frames/s")
    wall = rows.groupby(["encoder", "seed"])["elapsed_s"].max().max()
    at_once = f"{summary['jobs']} student" + ("s" if summary["jobs"] != 1 else "")
    return (f"{wall / 60:.0f} minutes of wall time with {at_once} at a time; CPU time not recorded (the run stopped "
            f"before it wrote it)")


def runs_table(result: DistillResult) -> pd.DataFrame:
    """One row per run joined in ``result`` (*measured*): its folder, its students, the machine, how it ended and
    what it cost (all it taught, including students a later run taught again)."""
    rows = []
    for part, manifest in result.parts.items():
        students = result.curve[result.curve["part"] == part]
        again = result.replaced[result.replaced["part"] == part] if len(result.replaced) else None
        ended = manifest["summary"].get("stopped", "every student finished every round")
        for by, rows_by in (again.groupby("by") if again is not None else []):
            ended += f"; {_students(rows_by)} taught again to the end in data/measured/{by}, whose rounds replace these"
        taught = pd.concat([students, again])  # concat skips None
        rows.append({"run": f"data/measured/{part}",
                     "students": _students(students) if len(students) else "none left (every one taught again)",
                     "machine": _where(manifest), "how it ended": ended,
                     "cost": _part_cost(result, part, taught)})
    return pd.DataFrame(rows).set_index("run")


def _students(rows: pd.DataFrame) -> str:
    """'seed 0 of ManipulationCNN's and NatureCNN's'."""
    encoders = " and ".join(STUDENT_NAMES.get(e, e) for e in sorted(rows["encoder"].unique()))
    return f"{_seed_list(rows['seed'])} of {encoders}"


def best_registered_student(config: str, registry: Path = REGISTRY) -> CheckpointEntry | None:
    """The registered student (``trained_by == "imitation"``) of ``config`` with the highest evaluated success
    (the later name on a tie), or None."""
    students = [e for e in registered_checkpoints(config, registry) if e.trained_by == "imitation"]
    return max(students, key=lambda e: (e.success_rate, e.name)) if students else None


def _registered_student(config: str, registry: Path) -> str:
    """The best registered student of ``config``, with its measured success, or that none is registered."""
    best = best_registered_student(config, registry)
    if best is None:
        return f"no student of {config} is registered yet"
    return (f"{best.name}, {format_value(best.success_rate, 'fraction')} (measured) over {best.n_episodes} "
            f"evaluation episodes that no round collected or validated on")


def distill_facts(result: DistillResult, measured_dir: Path = MEASURED_DIR,
                  registry: Path = REGISTRY) -> dict[str, str]:
    """What the chapter states about the pixel students, for ``{glue:text}``: budgets, each encoder's success after
    behaviour cloning and at the last round every student completed (mean and range over seeds), the state
    control's at that round, the teacher's measured success, whether the students push, which encoder wins, how
    many runs taught them (:func:`runs_table` says where and at what cost), and each encoder's best student in
    ``registry``."""
    curve, params = result.curve, result.manifest["parameters"]
    last = result.common_round()
    at = {r: curve[curve["round"] == r] for r in (0, last)}
    per_round = {r: {e: g["success_rate"] for e, g in rows.groupby("encoder")} for r, rows in at.items()}
    facts = {"distill_seeds": _seed_counts(curve),
             "distill_rounds": str(last),
             "distill_dagger_rounds": str(params["dagger_rounds"]),
             "distill_bc_labels": format_value(float(at[0]["labels"].max()), "steps"),
             "distill_labels": format_value(float(at[last]["labels"].max()), "steps"),
             "distill_episodes_per_round": str(params["episodes_per_round"]),
             "distill_validation_episodes": str(params["validation_episodes"]),
             "distill_train_steps": format_value(float(params["train_steps"]), "steps"),
             "distill_push_bar": format_value(PUSHES, "fraction"),
             "distill_verdict": _verdict(per_round[last]),
             "distill_runs": f"{len(result.parts)} run" + ("s" if len(result.parts) != 1 else "")}
    for encoder, rows in at[last].groupby("encoder"):
        facts[f"distill_{encoder}_bc"] = seed_mean(per_round[0][encoder], "fraction")
        facts[f"distill_{encoder}_bc__range"] = seed_range(per_round[0][encoder], "fraction")
        facts[f"distill_{encoder}_final"] = seed_mean(per_round[last][encoder], "fraction")
        facts[f"distill_{encoder}_final__range"] = seed_range(per_round[last][encoder], "fraction")
        facts[f"distill_{encoder}_loss"] = f"{rows['train_loss'].mean():.4f}"
        facts[f"distill_{encoder}_checkpoint"] = _registered_student(params["student_configs"][encoder], registry)
    closer, looser = at[last].groupby("encoder")["train_loss"].mean().sort_values().index
    facts["distill_fit"] = (f"{STUDENT_NAMES[closer]} students fit their training labels more closely than "
                            f"{STUDENT_NAMES[looser]}")
    matching = control_for(result, measured_dir)
    control = None if matching is None else matching.curve.loc[matching.curve["round"] == last, "success_rate"]
    measured_control = control is not None and len(control) > 0
    facts["distill_control"] = seed_mean(control, "fraction") if measured_control else "not measured on this budget"
    facts["distill_control__range"] = seed_range(control, "fraction") if measured_control else "not measured"
    pushing = [e for e, s in per_round[last].items() if s.min() > PUSHES]  # every seed, not a lucky one
    facts["distill_pushes"] = (f"both encoders' students push (success above {facts['distill_push_bar']} in "
                               f"every seed)"
                               if len(pushing) == 2 else
                               f"only {STUDENT_NAMES[pushing[0]]} students push (success above "
                               f"{facts['distill_push_bar']} in every seed)" if pushing else
                               f"neither encoder's students push (neither is above "
                               f"{facts['distill_push_bar']} in every seed)")
    control_pushes = None if control is None or not len(control) else bool(control.min() > PUSHES)
    facts["distill_meaning"] = _meaning(set(pushing), control_pushes)
    expert = load_manifest("expert", measured_dir)["summary"]
    facts["distill_expert"] = (f"{format_value(expert['success_rate'], 'fraction')} over "
                               f"{expert['n_episodes']} episodes")
    return facts
