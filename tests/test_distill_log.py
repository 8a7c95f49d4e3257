"""The distillation run read back from its printed log (the GPU run stopped before writing its files), and what the
chapter states about the committed pixel students and their state control."""

from __future__ import annotations

import json
from dataclasses import asdict, replace

import pandas as pd
import pytest

from pixelpush_lib.core.paths import DATA_DIR, MEASURED_DIR
from pixelpush_lib.experiments.investigations.distill import STUDENT_CONFIGS, DistillSettings
from pixelpush_lib.experiments.investigations.distill_log import import_log
from pixelpush_lib.results.investigations.students import (
    PUSHES,
    STUDENT_NAMES,
    distill_facts,
    load_results,
    load_students,
    parse_distill_log,
    runs_table,
)
from pixelpush_lib.results.quoted_numbers import format_value

LINE = "[distill {e} seed {s}] round {r}: {n} labels, validation success {p}% over 20 episodes, loss 0.0{l}, {t} s"


def _log(rounds: dict[tuple[str, int], int]) -> str:
    lines = ["UserWarning: noise the parser must skip"]
    for (e, s), last in rounds.items():
        lines += [LINE.format(e=e, s=s, r=r, n=5000 + 2000 * r, p=5 * r + s, l=100 + r, t=70 * (r + 1))
                  for r in range(last + 1)]
    return "\n".join(lines)


def test_the_parser_reads_every_round_and_only_those_lines():
    curve = parse_distill_log(_log({("manipulation", 0): 2, ("nature", 0): 3}), STUDENT_CONFIGS)
    assert len(curve) == 3 + 4
    row = curve[(curve["encoder"] == "nature") & (curve["round"] == 3)].iloc[0]
    assert (row["labels"], row["success_rate"], row["train_loss"], row["elapsed_s"]) == (11000, 0.15, 0.0103, 280)
    assert row["config"] == STUDENT_CONFIGS["nature"]


@pytest.mark.parametrize("text, message", [
    ("nothing here", "no '\\[distill"),
    (LINE.format(e="resnet", s=0, r=0, n=5000, p=0, l=1, t=1), "encoder 'resnet'"),
    (LINE.format(e="nature", s=0, r=1, n=5000, p=0, l=1, t=1), r"rounds \[1\], expected 0, 1, 2"),
])
def test_the_parser_refuses_a_log_it_cannot_read_whole(text, message):
    with pytest.raises(ValueError, match=message):
        parse_distill_log(text, STUDENT_CONFIGS)


def _import(tmp_path, log_text, seeds=(0,)):
    log = tmp_path / "run.log"
    log.write_text(log_text)
    return import_log(log, "abc123", "the command", MEASURED_DIR / "throughput" / "manifest.json",
                      replace(DistillSettings(), seeds=seeds), "stopped by a test", 4, "cuda", tmp_path / "measured")


def test_an_imported_log_keeps_the_run_s_provenance_and_says_it_is_incomplete(tmp_path):
    folder = _import(tmp_path, _log({("manipulation", 0): 5, ("nature", 0): 6}))
    manifest = json.loads((folder / "manifest.json").read_text())
    throughput = json.loads((MEASURED_DIR / "throughput" / "manifest.json").read_text())
    assert manifest["provenance"]["git_commit"] == "abc123" and manifest["provenance"]["kind"] == "measured"
    assert manifest["provenance"]["machine"] == throughput["provenance"]["machine"]
    assert manifest["parameters"]["device"] == "cuda" and manifest["parameters"]["seeds"] == [0]
    assert manifest["summary"]["complete"] is False and manifest["summary"]["stopped"] == "stopped by a test"
    assert sorted(manifest["files"]) == ["curve.csv", "distill.log"]
    assert (folder / "distill.log").read_text() == (tmp_path / "run.log").read_text()
    result = load_results(folder.parent)
    assert result.tasks is None and result.common_round() == 5


def test_a_log_of_other_students_is_refused_and_nothing_is_written(tmp_path):
    (tmp_path / "measured" / "distill").mkdir(parents=True)
    (tmp_path / "measured" / "distill" / "curve.csv").write_text("kept\n")
    with pytest.raises(ValueError, match="pass the --seeds the run used"):
        _import(tmp_path, _log({("manipulation", 0): 1, ("nature", 0): 1}), seeds=(0, 1))
    assert (tmp_path / "measured" / "distill" / "curve.csv").read_text() == "kept\n"


def test_the_committed_control_pushes_on_the_students_budget():
    """The positive control: the state policy taught on exactly the pixel students' budgets pushes in every seed,
    so a pixel student that stays in the failure band fails for want of reading the puck from pixels."""
    control, students = load_results(experiment="distill_control"), load_students()
    budgets = {k: v for k, v in json.loads(json.dumps(asdict(DistillSettings()))).items()
               if k not in ("encoders", "seeds", "device")}
    for result in (control, students):
        assert {k: result.manifest["parameters"][k] for k in budgets} == budgets
    final = control.curve[control.curve["round"] == students.common_round()]["success_rate"]
    assert len(final) == 3 and final.min() > PUSHES, final


def test_the_chapter_s_facts_are_the_committed_curve_s():
    result = load_students()
    facts = distill_facts(result)
    at = result.curve[result.curve["round"] == result.common_round()]
    for encoder, rows in at.groupby("encoder"):
        mean = rows["success_rate"].mean()
        assert facts[f"distill_{encoder}_final"].startswith(format_value(mean, "fraction"))
        assert f"{100 * rows['success_rate'].min():.0f}" in facts[f"distill_{encoder}_final__range"]
    assert facts["distill_labels"] == format_value(float(at["labels"].max()), "steps")
    counts = result.curve.groupby("encoder")["seed"].nunique()
    if counts.nunique() == 1:
        assert facts["distill_seeds"] == f"{counts.iloc[0]} seeds per encoder"
    else:
        assert facts["distill_seeds"] == " and ".join(f"{n} seeds of {STUDENT_NAMES[e]}" for e, n in counts.items())
    pushing = {e for e, rows in at.groupby("encoder") if rows["success_rate"].min() > PUSHES}
    assert facts["distill_pushes"].startswith({0: "neither", 1: "only", 2: "both"}[len(pushing)])
    assert facts["distill_runs"] == f"{len(result.parts)} run" + ("s" if len(result.parts) > 1 else "")
    table = runs_table(result)
    assert list(table.index) == [f"data/measured/{part}" for part in result.parts]
    for part, manifest in result.parts.items():
        row = table.loc[f"data/measured/{part}"]
        if manifest["summary"].get("complete") is False:
            assert row["how it ended"].startswith(manifest["summary"]["stopped"])
            again = result.replaced[result.replaced["part"] == part] if len(result.replaced) else []
            assert ("taught again to the end" in row["how it ended"]) == (len(again) > 0)
            assert row["cost"].endswith("CPU time not recorded (the run stopped before it wrote it)")
        else:
            assert row["how it ended"] == "every student finished every round"
            tasks = result.tasks[result.tasks["part"] == part]
            assert row["cost"].startswith(f"{tasks['cpu_s'].sum() / 3600:.1f} CPU-hours; ")
            assert f"{tasks['wall_s'].max() / 3600:.1f} h of wall time per student" in row["cost"]


def test_the_committed_students_never_saw_the_puck_position():
    """The run's parameters: the students are the pixels-only configs, which never feed ``achieved_goal``."""
    from pixelpush_lib.core.configs import get_config

    params = load_results().manifest["parameters"]
    for encoder, config in params["student_configs"].items():
        assert config == STUDENT_CONFIGS[encoder] and not get_config(config).policy_sees_achieved_goal
    assert pd.read_csv(DATA_DIR / "measured" / "distill" / "curve.csv")["config"].isin(
        set(STUDENT_CONFIGS.values())).all()


def _second_run(tmp_path, name: str, rounds: dict[tuple[str, int], int], seeds, **budget) -> None:
    """Another run's folder next to ``tmp_path/measured/distill``, as a later run on another machine is committed."""
    other = tmp_path / name
    other.mkdir()
    log = other / "run.log"
    log.write_text(_log(rounds))
    settings = replace(DistillSettings(), seeds=seeds, **budget)
    folder = import_log(log, "def456", "the second command", MEASURED_DIR / "throughput" / "manifest.json",
                        settings, "stopped again", 2, "cpu", other / "measured")
    folder.rename(tmp_path / "measured" / name)


def test_runs_of_other_seeds_join_the_committed_students(tmp_path):
    _import(tmp_path, _log({("manipulation", 0): 5, ("nature", 0): 6}))
    _second_run(tmp_path, "distill_seed1", {("manipulation", 1): 6, ("nature", 1): 6}, (1,))
    (tmp_path / "measured" / "expert").symlink_to(MEASURED_DIR / "expert")
    joined = load_students(tmp_path / "measured")
    assert sorted(joined.parts) == ["distill", "distill_seed1"] and joined.folder.name == "distill"
    assert joined.curve.groupby("part")["seed"].unique().map(list).to_dict() == {"distill": [0],
                                                                                  "distill_seed1": [1]}
    assert joined.common_round() == 5  # the first run stopped after round 5 of ManipulationCNN
    facts = distill_facts(joined, tmp_path / "measured")
    assert facts["distill_seeds"] == "2 seeds per encoder"
    assert facts["distill_runs"] == "2 runs"
    table = runs_table(joined)
    assert table["how it ended"].to_dict() == {"data/measured/distill": "stopped by a test",
                                               "data/measured/distill_seed1": "stopped again"}
    assert table["students"].to_dict() == {"data/measured/distill": "seed 0 of ManipulationCNN's and NatureCNN's",
                                           "data/measured/distill_seed1": "seed 1 of ManipulationCNN's and NatureCNN's"}
    assert table["cost"].str.contains("CPU time not recorded").all()


def test_runs_on_other_budgets_or_with_the_same_student_are_not_joined(tmp_path):
    _import(tmp_path, _log({("manipulation", 0): 5, ("nature", 0): 6}))
    _second_run(tmp_path, "distill_more", {("manipulation", 1): 2, ("nature", 1): 2}, (1,), train_steps=100)
    with pytest.raises(ValueError, match=r"distill_more: its students were taught on other budgets"):
        load_students(tmp_path / "measured")
    (tmp_path / "measured" / "distill_more").rename(tmp_path / "elsewhere")
    _second_run(tmp_path, "distill_again", {("manipulation", 0): 2, ("nature", 0): 2}, (0,))
    with pytest.raises(ValueError, match=r"manipulation seed 0, nature seed 0 appear in more than one"):
        load_students(tmp_path / "measured")


def _finished_run(tmp_path, name: str, seed: int, encoders=tuple(STUDENT_CONFIGS)) -> None:
    """A run that taught the students of ``seed`` (``encoders``) to the end, as ``distill --seeds N [--encoders E]
    --out DIR`` writes it."""
    from pixelpush_lib.experiments.investigations.distill import manifest_parameters
    from pixelpush_lib.experiments.store import write_measured

    settings = replace(DistillSettings(), seeds=(seed,), encoders=tuple(encoders))
    configs = {e: STUDENT_CONFIGS[e] for e in encoders}
    rows = [{"encoder": e, "config": c, "seed": seed, "round": r, "labels": settings.demo_episodes * 50 + 2000 * r,
             "success_rate": 0.5, "n_episodes": 20, "train_loss": 0.01}
            for e, c in configs.items() for r in range(settings.dagger_rounds + 1)]
    tasks = [{"encoder": e, "config": c, "seed": seed, "wall_s": 3600.0, "cpu_s": 7200.0, "env_steps": 24000,
              "env_steps_per_s": 100.0, "expert_success_rate": 0.98, "expert_episodes": 100}
             for e, c in configs.items()]
    writers = {"curve.csv": lambda f: pd.DataFrame(rows).to_csv(f, index=False),
               "tasks.csv": lambda f: pd.DataFrame(tasks).to_csv(f, index=False)}
    folder = write_measured("distill", writers, manifest_parameters(settings), "the re-run", 7200.0,
                            {"jobs": 1, "cpus": 2}, tmp_path / name)
    folder.rename(tmp_path / "measured" / name)


def test_a_student_taught_again_to_the_end_replaces_the_stopped_run_s_rounds(tmp_path):
    _import(tmp_path, _log({("manipulation", 0): 5, ("nature", 0): 6, ("manipulation", 1): 2, ("nature", 1): 3}),
            seeds=(0, 1))
    _finished_run(tmp_path, "distill_seed0", 0)
    (tmp_path / "measured" / "expert").symlink_to(MEASURED_DIR / "expert")
    joined = load_students(tmp_path / "measured")
    seeds = joined.curve.groupby("part")["seed"].unique().map(list).to_dict()
    assert seeds == {"distill": [1], "distill_seed0": [0]}  # seed 0 counted once, from the run that finished it
    assert len(joined.curve[joined.curve["seed"] == 0]) == 2 * (DistillSettings().dagger_rounds + 1)
    assert set(joined.replaced["by"]) == {"distill_seed0"} and set(joined.replaced["seed"]) == {0}
    assert len(joined.replaced) == 6 + 7  # every round the stopped run taught seed 0: kept, not lost
    assert distill_facts(joined, tmp_path / "measured")["distill_seeds"] == "2 seeds per encoder"
    table = runs_table(joined)
    assert table.loc["data/measured/distill", "students"] == "seed 1 of ManipulationCNN's and NatureCNN's"
    assert table.loc["data/measured/distill", "how it ended"] == (
        "stopped by a test; seed 0 of ManipulationCNN's and NatureCNN's taught again to the end in "
        "data/measured/distill_seed0, whose rounds replace these")
    # the stopped run's cost counts everything it taught, the replaced students too: seed 0's 7 rounds of 70 s
    assert table.loc["data/measured/distill", "cost"].startswith(f"{70 * 7 / 60:.0f} minutes of wall time")
    _finished_run(tmp_path, "distill_seed0_again", 0)  # two finished runs of one student: which one counts?
    with pytest.raises(ValueError, match=r"manipulation seed 0, nature seed 0 appear in more than one .* no single"):
        load_students(tmp_path / "measured")
    assert (tmp_path / "measured" / "distill_seed0" / "curve.csv").exists()


def test_a_stopped_run_whose_every_student_was_taught_again_stays_in_the_table_with_its_cost(tmp_path):
    """Seed 0 re-taught in one run, seed 1 in one run per encoder: the stopped run keeps a row (its cost was spent)
    but no students, and the comparison moves to the last round, which every re-taught student finished."""
    _import(tmp_path, _log({("manipulation", 0): 5, ("nature", 0): 6, ("manipulation", 1): 5, ("nature", 1): 2}),
            seeds=(0, 1))
    _finished_run(tmp_path, "distill_seed0", 0)
    _finished_run(tmp_path, "distill_seed1_nature", 1, ("nature",))
    _finished_run(tmp_path, "distill_seed1_manipulation", 1, ("manipulation",))
    (tmp_path / "measured" / "expert").symlink_to(MEASURED_DIR / "expert")
    joined = load_students(tmp_path / "measured")
    assert "distill" not in set(joined.curve["part"]) and len(joined.replaced) == 6 + 7 + 6 + 3
    assert joined.common_round() == DistillSettings().dagger_rounds
    facts = distill_facts(joined, tmp_path / "measured")
    assert facts["distill_seeds"] == "2 seeds per encoder" and facts["distill_runs"] == "4 runs"
    table = runs_table(joined)
    stopped = table.loc["data/measured/distill"]
    assert stopped["students"] == "none left (every one taught again)"
    assert stopped["how it ended"] == (
        "stopped by a test; seed 0 of ManipulationCNN's and NatureCNN's taught again to the end in "
        "data/measured/distill_seed0, whose rounds replace these; seed 1 of ManipulationCNN's taught again to the "
        "end in data/measured/distill_seed1_manipulation, whose rounds replace these; seed 1 of NatureCNN's taught "
        "again to the end in data/measured/distill_seed1_nature, whose rounds replace these")
    assert stopped["cost"].startswith(f"{70 * 7 / 60:.0f} minutes of wall time")  # its longest student
    assert table.loc["data/measured/distill_seed1_nature", "students"] == "seed 1 of NatureCNN's"


def test_a_run_of_one_encoder_joins_and_the_seed_counts_say_so(tmp_path):
    _import(tmp_path, _log({("manipulation", 0): 5, ("nature", 0): 6}))
    _second_run(tmp_path, "distill_nature", {("nature", 1): 6}, (1,), encoders=("nature",))
    (tmp_path / "measured" / "expert").symlink_to(MEASURED_DIR / "expert")
    facts = distill_facts(load_students(tmp_path / "measured"), tmp_path / "measured")
    assert facts["distill_seeds"] == "1 seed of ManipulationCNN's and 2 seeds of NatureCNN's"
    assert runs_table(load_students(tmp_path / "measured"))["students"].tolist() == [
        "seed 0 of ManipulationCNN's and NatureCNN's", "seed 1 of NatureCNN's"]
    assert facts["distill_manipulation_final__range"] == "one seed"
    assert facts["distill_nature_final__range"].endswith("over 2 seeds")
