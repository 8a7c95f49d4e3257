"""Pixel students distilled from the scripted expert: the label store, the training step, the experiment's files,
its refusals of bad input, and that a student never reads the puck's true position."""

from __future__ import annotations

import json
from dataclasses import asdict, replace

import numpy as np
import pandas as pd
import pytest
import torch as th

from conftest import once_per_session
from policy_checks import assert_blind_to_the_puck_position
from pixelpush_lib.core.configs import get_config
from pixelpush_lib.core.paths import DATA_DIR
from pixelpush_lib.env.expert import PushExpert
from pixelpush_lib.env.wrappers import make_env
from pixelpush_lib.replay.labelled import LabelStore
from pixelpush_lib.experiments.investigations.distill import (
    QUICK,
    STUDENT_CONFIGS,
    DistillSettings,
    best_students,
    build_student,
    load_student,
    precompute,
    train_student,
)
from pixelpush_lib.experiments.investigations.expert import run_episodes


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory):
    return once_per_session(tmp_path_factory, "distill-quick",
                            lambda out: precompute(quick=True, measured_dir=out, command="pytest quick"))


def test_stored_labels_rebuild_the_observations_the_env_gave():
    env = make_env("pixels", frame_stack=4, image_size=32)
    store = LabelStore(capacity=3 * 50, image_size=32)
    seen = []

    class Recorder(PushExpert):
        def __call__(self, obs):
            seen.append({k: v.copy() for k, v in obs.items()})
            return super().__call__(obs)

    successes = run_episodes(env, 3, first_seed=7, expert=Recorder(), store=store)
    env.close()
    assert store.size == 150 and len(successes) == 3
    indices = np.array([0, 1, 3, 49, 50, 52, 149])  # first steps of an episode repeat its first frame, as the env does
    rebuilt = store.observations(indices, frame_stack=4)
    for i, index in enumerate(indices):
        assert np.array_equal(rebuilt["pixels"][i], seen[index]["pixels"])
        assert np.allclose(rebuilt["proprio"][i], seen[index]["proprio"])
        assert np.allclose(rebuilt["desired_goal"][i], seen[index]["desired_goal"])
    assert np.array_equal(store.actions[:150], np.stack([PushExpert()(o) for o in seen]))


def test_training_fits_the_expert_labels():
    config = get_config("step0_pixels_only", {"n_envs": 1, "vec_env": "dummy"})
    env = make_env("pixels", frame_stack=1, image_size=84)
    store = LabelStore(capacity=100, image_size=84)
    run_episodes(env, 2, first_seed=11, expert=PushExpert(), store=store)
    model = build_student(config, env, seed=0)
    settings = replace(QUICK, train_steps=40, batch_size=32)
    optimizer = th.optim.Adam(model.policy.actor.parameters(), lr=1e-3)
    rng = np.random.default_rng(0)
    first = train_student(model, store, 1, replace(settings, train_steps=1), optimizer, rng)
    later = train_student(model, store, 1, settings, optimizer, rng)
    env.close()
    assert later < 0.6 * first, (first, later)


def test_quick_run_writes_curve_tasks_students_and_provenance(quick_run):
    manifest = json.loads((quick_run / "manifest.json").read_text())
    assert manifest["provenance"]["kind"] == "measured" and manifest["provenance"]["command"] == "pytest quick"
    curve = pd.read_csv(quick_run / "curve.csv")
    assert set(curve["encoder"]) == set(STUDENT_CONFIGS)
    assert (curve.groupby("encoder")["labels"].apply(lambda s: s.is_monotonic_increasing)).all()
    assert curve["labels"].max() == QUICK.labels_per_student()  # same label budget for every student
    assert curve["success_rate"].between(0, 1).all()
    tasks = pd.read_csv(quick_run / "tasks.csv")
    assert (tasks["env_steps_per_s"] > 0).all() and (tasks["cpu_s"] > 0).all()
    for encoder in STUDENT_CONFIGS:
        student = load_student(quick_run / f"student_{encoder}.zip", encoder)
        assert student.num_timesteps == QUICK.labels_per_student()


def test_best_student_is_the_highest_final_score():
    curve = pd.DataFrame({"encoder": ["a"] * 4, "seed": [0, 0, 1, 1], "round": [0, 1, 0, 1],
                          "success_rate": [0.9, 0.2, 0.1, 0.5]})
    assert best_students(curve) == {"a": 1}


def test_a_student_never_reads_the_puck_position(quick_run):
    for encoder in STUDENT_CONFIGS:
        assert_blind_to_the_puck_position(load_student(quick_run / f"student_{encoder}.zip", encoder))


def test_a_registered_student_loads_acts_blind_to_the_puck_and_is_shown_as_taught(quick_run, tmp_path):
    """The path a reader takes: register the student (evaluated), load it through the registry, watch it."""
    from pixelpush_lib.chapter.watching import watch_side_by_side
    from pixelpush_lib.sweeps.checkpoints import register_checkpoint
    from pixelpush_lib.training import load_pretrained

    registry = tmp_path / "checkpoints.json"
    entry = register_checkpoint(quick_run / "student_nature.zip", "student_nature_s0", STUDENT_CONFIGS["nature"],
                                n_episodes=1, registry=registry, device="cpu", trained_by="imitation")
    assert entry.steps == QUICK.labels_per_student() and entry.trained_by == "imitation"
    student = load_pretrained("student_nature_s0", registry=registry, cache_dir=tmp_path / "cache", device="cpu")
    assert_blind_to_the_puck_position(student)
    html = watch_side_by_side([(STUDENT_CONFIGS["nature"], "student_nature_s0"),
                               (STUDENT_CONFIGS["manipulation"], "student_manipulation_s0")], n_episodes=1,
                              registry=registry, cache_dir=tmp_path / "cache", live=True)
    assert html.count("<figure") == 1 and "flex-wrap" in html
    assert html.endswith("<p>Not registered yet, so not shown: <code>student_manipulation_s0</code> "
                         "(step1_pixels_only).</p>")
    labels = QUICK.labels_per_student()
    assert f"taught by imitation of the scripted expert (DAgger) on {labels:,} expert labels" in html


def test_a_student_registered_under_the_other_encoder_s_config_is_refused(quick_run, tmp_path):
    from pixelpush_lib.sweeps.checkpoints import register_checkpoint

    registry = tmp_path / "checkpoints.json"
    registry.write_text('{"schema_version": 1, "checkpoints": []}')
    student, wrong = quick_run / "student_nature.zip", STUDENT_CONFIGS["manipulation"]
    with pytest.raises(ValueError, match=r"student_nature\.zip does not fit config 'step1_pixels_only' "
                                         r"\(Observation spaces do not match.*\); pass the config"):
        register_checkpoint(student, "wrong", wrong, n_episodes=1, registry=registry, device="cpu")
    # With the frame stack overridden to fit, the spaces match and only the encoder gives it away.
    with pytest.raises(ValueError, match=r"student_nature\.zip was saved with encoder NatureExtractor.*but config "
                                         r"'step1_pixels_only' builds ManipulationExtractor.*pass the config"):
        register_checkpoint(student, "wrong", wrong, n_episodes=1, registry=registry, device="cpu",
                            overrides={"frame_stack": get_config(STUDENT_CONFIGS["nature"]).frame_stack})
    assert registry.read_text() == '{"schema_version": 1, "checkpoints": []}'


def test_each_encoder_s_registered_student_is_evaluated_on_unseen_episodes_and_blind_to_the_puck(tmp_path):
    """The committed students (issue 12) in data/checkpoints.json: each a file in the repository,
    evaluated over 100 episodes whose first seed no round collected or validated on, and acting the same when only
    ``achieved_goal`` changes."""
    import re

    from pixelpush_lib.experiments.investigations.distill import COLLECT_SEED_STRIDE, VALIDATION_SEED
    from pixelpush_lib.results.registry import registered_checkpoints
    from pixelpush_lib.results.investigations.students import load_students
    from pixelpush_lib.training import load_pretrained
    from pixelpush_lib.training.build import EPISODE_STEPS

    from pixelpush_lib.results.investigations.students import best_registered_student

    students = [e for e in registered_checkpoints() if e.trained_by == "imitation"]
    assert {e.config for e in students} == set(STUDENT_CONFIGS.values())  # a student of each encoder
    for config in STUDENT_CONFIGS.values():  # the one the chapter shows: the best evaluated of its config
        ours = [e for e in students if e.config == config]
        assert best_registered_student(config) in ours
        assert best_registered_student(config).success_rate == max(e.success_rate for e in ours)
    assert best_registered_student("state") is None  # the state agent was not taught by imitation
    joined = load_students()
    labels = DistillSettings().labels_per_student()
    for entry in students:
        assert not re.match(r"^[a-z]+://", entry.url) and (DATA_DIR / entry.url).is_file()
        assert entry.n_episodes == 100 and entry.steps == labels == joined.curve["labels"].max()
        first = entry.evaluated["seed"]
        used = [(VALIDATION_SEED, VALIDATION_SEED + DistillSettings().validation_episodes)]
        used += [(COLLECT_SEED_STRIDE * (s + 1), COLLECT_SEED_STRIDE * (s + 1) + labels // EPISODE_STEPS)
                 for s in joined.curve["seed"].unique()]
        assert all(not lo <= first + k < hi for lo, hi in used for k in range(entry.n_episodes))
        student = load_pretrained(entry.name, cache_dir=tmp_path, device="cpu")
        assert_blind_to_the_puck_position(student)


def test_a_student_file_of_the_other_encoder_is_refused(quick_run):
    with pytest.raises(ValueError, match=r"student_nature\.zip is not a manipulation student"):
        load_student(quick_run / "student_nature.zip", "manipulation")
    with pytest.raises(ValueError, match="unknown encoder 'resnet'"):
        load_student(quick_run / "student_nature.zip", "resnet")


@pytest.mark.parametrize("bad, message", [
    ({"encoders": ("manipulation", "resnet")}, r"encoders=.*choose from manipulation, nature"),
    ({"demo_episodes": 1, "batch_size": 64}, r"demo_episodes=1 gives 50 labels, fewer than one batch.*>= 2"),
    ({"train_steps": 0}, r"train_steps=0 must be at least 1"),
])
def test_bad_settings_are_refused_before_anything_is_written(tmp_path, bad, message):
    existing = tmp_path / "distill"
    existing.mkdir()
    (existing / "curve.csv").write_text("kept\n")
    with pytest.raises(ValueError, match=message):
        precompute(measured_dir=tmp_path, settings=replace(DistillSettings(), **bad))
    assert [p.name for p in tmp_path.iterdir()] == ["distill"]
    assert (existing / "curve.csv").read_text() == "kept\n"


def test_facts_and_figure_state_what_the_curve_holds(quick_run):
    import shutil

    from pixelpush_lib.chapter.figures import distill_figure, distill_sources
    from pixelpush_lib.results.investigations.students import PUSHES, distill_facts, load_results

    measured = quick_run.parent
    shutil.copytree(DATA_DIR / "measured" / "expert", measured / "expert", dirs_exist_ok=True)
    result = load_results(measured)
    facts = distill_facts(result, measured)
    final = result.curve[result.curve["round"] == result.curve["round"].max()].set_index("encoder")["success_rate"]
    for encoder in STUDENT_CONFIGS:
        assert facts[f"distill_{encoder}_final"] == f"{100 * final[encoder]:.0f}%"
    assert facts["distill_labels"] == f"{QUICK.labels_per_student()}"
    assert facts["distill_seeds"] == "1 seed per encoder"
    pushing = set(final[final > PUSHES].index)
    opening = {0: "neither", 1: "only", 2: "both"}[len(pushing)]
    assert facts["distill_pushes"].startswith(opening)
    assert ("cannot tell" in facts["distill_meaning"]) == (not pushing)
    sources = distill_sources(result)._repr_html_()
    assert "<details" in sources and "Where these numbers come from" in sources
    assert "data/measured/distill</td>" in sources and "every student finished every round" in sources
    fig = distill_figure(result, measured)
    lines = [ln for ln in fig.axes[0].get_lines() if len(ln.get_xdata()) > 2 or ln.get_marker() == "o"]
    assert len(lines) == len(STUDENT_CONFIGS) * len(QUICK.seeds)  # one line per student, through its rounds


@pytest.mark.slow
def test_a_stopped_run_keeps_its_finished_students_and_a_rerun_teaches_only_the_rest(tmp_path, monkeypatch):
    import pixelpush_lib.experiments.investigations.distill as distill_module

    real, taught = distill_module._teach_in_worker, []

    def stopped_at_nature(args):
        taught.append(args[:2])
        if args[0] == "nature":
            raise RuntimeError("stopped")  # as a time limit would, after ManipulationCNN's student finished
        return real(args)

    (tmp_path / "distill").mkdir()
    (tmp_path / "distill" / "curve.csv").write_text("kept\n")
    monkeypatch.setattr(distill_module, "_teach_in_worker", stopped_at_nature)
    with pytest.raises(RuntimeError, match="stopped"):
        precompute(quick=True, measured_dir=tmp_path, command="pytest")
    partial = tmp_path / ".distill.partial"
    assert (partial / "manipulation_s0.json").exists() and (partial / "manipulation_s0.zip").exists()
    assert not (partial / "nature_s0.json").exists()
    assert not list(partial.glob("*.rounds"))  # a finished student's saved rounds are dropped once it is kept
    assert (tmp_path / "distill" / "curve.csv").read_text() == "kept\n"  # the committed result is untouched

    taught.clear()
    monkeypatch.setattr(distill_module, "_teach_in_worker", lambda args: (taught.append(args[:2]), real(args))[1])
    folder = precompute(quick=True, measured_dir=tmp_path, command="pytest")
    assert taught == [("nature", 0)]
    curve = pd.read_csv(folder / "curve.csv")
    assert set(curve["encoder"]) == set(STUDENT_CONFIGS) and not partial.exists()
    load_student(folder / "student_manipulation.zip", "manipulation")  # the kept student made it into the result


def test_students_kept_from_other_settings_are_not_reused(tmp_path, monkeypatch):
    import pixelpush_lib.experiments.investigations.distill as distill_module

    partial = tmp_path / ".distill.partial"
    partial.mkdir()
    (partial / "parameters.json").write_text(json.dumps({**asdict(QUICK), "train_steps": 999}))
    (partial / "manipulation_s0.json").write_text("{}")
    taught = []

    class Stopped(Exception):
        pass

    def first_student_only(args):
        taught.append(args[:2])
        raise Stopped  # as a stop would, once the run has chosen which students to teach

    # Teaching itself is tested above; here only which students the run starts on, so it stops at the first.
    monkeypatch.setattr(distill_module, "_teach_in_worker", first_student_only)
    with pytest.raises(Stopped):
        precompute(quick=True, measured_dir=tmp_path, command="pytest")
    assert taught == [("manipulation", 0)]  # the student kept from other settings is taught again, first
    assert json.loads((partial / "parameters.json").read_text())["train_steps"] == QUICK.train_steps
    assert not (partial / "manipulation_s0.json").exists()
