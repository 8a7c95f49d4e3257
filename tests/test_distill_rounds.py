"""A distillation student stopped between rounds resumes from its last saved round and ends as if never stopped;
saved rounds of another student, other budgets or a damaged file are never silently used."""

from __future__ import annotations

import shutil
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch as th
from stable_baselines3 import SAC

from conftest import once_per_session
from pixelpush_lib.experiments.investigations.distill import QUICK, teach_student
from pixelpush_lib.experiments.investigations.distill_rounds import progress_dir
from pixelpush_lib.replay.labelled import LabelStore

SETTINGS = replace(QUICK, encoders=("nature",), dagger_rounds=2)


class Stopped(Exception):
    pass


def stop_after_round(n: int, messages: list[str]):
    def log(message: str) -> None:
        messages.append(message)
        if f"round {n}:" in message:
            raise Stopped  # as a killed process would, once round n is saved
    return log


def weights(path) -> dict[str, th.Tensor]:
    return SAC.load(path, device="cpu").policy.state_dict()


@pytest.fixture(scope="module")
def never_stopped(tmp_path_factory):
    save_to = tmp_path_factory.mktemp("straight") / "nature_s0.zip"
    return teach_student("nature", 0, SETTINGS, save_to, log=lambda _: None), save_to


@pytest.fixture(scope="module")
def saved_round_0(tmp_path_factory) -> Path:
    """The rounds folder a student stopped after round 0 leaves, taught once per session; tests take copies
    (:func:`stopped_after_round_0`), since they damage, resume or replace it."""
    def build(folder: Path) -> Path:
        save_to = folder / "nature_s0.zip"
        with pytest.raises(Stopped):
            teach_student("nature", 0, SETTINGS, save_to, log=stop_after_round(0, []))
        return progress_dir(save_to)
    return once_per_session(tmp_path_factory, "distill-round-0", build)


def stopped_after_round_0(saved_round_0: Path, folder: Path) -> Path:
    """Where a student stopped after round 0 in ``folder`` will be saved (its rounds copied beside it)."""
    save_to = folder / "nature_s0.zip"
    shutil.copytree(saved_round_0, progress_dir(save_to))
    return save_to


def test_a_stopped_student_resumes_after_its_last_round_and_ends_as_if_never_stopped(never_stopped, tmp_path):
    straight, straight_zip = never_stopped
    save_to, first, second = tmp_path / "nature_s0.zip", [], []
    with pytest.raises(Stopped):
        teach_student("nature", 0, SETTINGS, save_to, log=stop_after_round(1, first))
    assert not save_to.exists() and (progress_dir(save_to) / "progress.json").exists()

    resumed = teach_student("nature", 0, SETTINGS, save_to, log=second.append)
    assert "resuming after round 1" in second[0]
    assert [m.split(":")[0] for m in second[1:]] == ["[distill nature seed 0] round 2"]  # rounds 0-1 not taught again
    assert resumed["rows"] == straight["rows"]  # same labels, validation scores and losses, to the last bit
    ours, theirs = weights(save_to), weights(straight_zip)
    assert all(th.equal(ours[name], theirs[name]) for name in theirs)
    task = resumed["task"]
    assert task["env_steps"] == straight["task"]["env_steps"]
    assert task["expert_episodes"] == SETTINGS.demo_episodes and task["cpu_s"] > 0


@pytest.mark.slow
def test_saved_rounds_of_other_budgets_are_not_used(saved_round_0, tmp_path):
    save_to, messages = stopped_after_round_0(saved_round_0, tmp_path), []
    other = replace(SETTINGS, train_steps=SETTINGS.train_steps + 1)
    with pytest.raises(Stopped):  # its round 0 says where it started; the rounds after it would teach as any run's
        teach_student("nature", 0, other, save_to, log=stop_after_round(0, messages))
    assert [m.split(":")[0] for m in messages] == ["[distill nature seed 0] round 0"]  # taught from the start


@pytest.mark.slow
@pytest.mark.parametrize("damaged", ["weights.pt", "labels.npz", "progress.json"])
def test_a_damaged_saved_round_is_refused_by_name_and_kept(saved_round_0, tmp_path, damaged):
    save_to = stopped_after_round_0(saved_round_0, tmp_path)
    folder = progress_dir(save_to)
    text = (folder / "progress.json").read_text()
    (folder / damaged).write_text('{"key": {"encoder": "nature"' if damaged == "progress.json" else "not a file")
    with pytest.raises(ValueError, match=r"nature_s0\.rounds.*delete the folder"):
        teach_student("nature", 0, SETTINGS, save_to, log=lambda _: None)
    assert folder.exists() and not save_to.exists()  # nothing thrown away, nothing half-written
    if damaged != "progress.json":
        assert (folder / "progress.json").read_text() == text


def test_a_label_store_restores_its_labels_and_refuses_another_shape():
    rng = np.random.default_rng(0)
    store = LabelStore(6, 8)
    for step in range(5):
        if step in (0, 3):
            store.start_episode()
        store.add({"pixels": rng.integers(0, 255, (9, 8, 8), np.uint8), "proprio": rng.random(10),
                   "achieved_goal": rng.random(3), "desired_goal": rng.random(3)}, rng.random(4))
    again = LabelStore(6, 8)
    again.restore(store.state())
    indices = np.arange(5)
    assert all(np.array_equal(a, b) for a, b in zip(again.observations(indices, 3).values(),
                                                   store.observations(indices, 3).values()))
    with pytest.raises(ValueError, match="'frames'"):
        LabelStore(6, 16).restore(store.state())
    with pytest.raises(ValueError, match="capacity 4"):
        LabelStore(4, 8).restore(store.state())


@pytest.mark.slow
def test_a_save_that_fails_leaves_the_last_complete_round_and_no_half_copy(saved_round_0, tmp_path, monkeypatch):
    import pixelpush_lib.experiments.investigations.distill_rounds as rounds_module

    save_to = stopped_after_round_0(saved_round_0, tmp_path)
    folder = progress_dir(save_to)
    before = (folder / "progress.json").read_text()

    def disk_full(*args, **kwargs):
        raise OSError("No space left on device")

    monkeypatch.setattr(rounds_module.np, "savez", disk_full)
    with pytest.raises(OSError, match="No space"):
        teach_student("nature", 0, SETTINGS, save_to, log=lambda _: None)  # resumes, fails saving round 1
    assert (folder / "progress.json").read_text() == before
    assert [p.name for p in tmp_path.iterdir()] == [folder.name]
