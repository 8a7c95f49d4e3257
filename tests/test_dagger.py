"""The DAgger pass through the eyes (issue 37): the student drives and the teacher labels, only the student's actor
learns, the paired sign test decides a lift, and the investigations' sentences follow the measured verdict."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pandas as pd
import pytest
import torch as th

from pixelpush_lib.core.paths import MEASURED_DIR
from pixelpush_lib.experiments.investigations import dagger
from pixelpush_lib.results.investigations.pixel_agent import dagger_facts
from pixelpush_lib.results.measured import load_manifest


@pytest.mark.parametrize("up, down, p", [(0, 0, 1.0), (9, 5, 2 * 3473 / 2 ** 14), (10, 0, 2 / 2 ** 10), (3, 3, 1.0)])
def test_the_sign_test_is_exact_and_two_sided(up, down, p):
    assert dagger.sign_test_p(up, down) == pytest.approx(p)
    assert dagger.sign_test_p(down, up) == pytest.approx(p)


def test_only_more_flips_to_success_beyond_chance_is_a_lift():
    def paired(up, down, both=50, neither=20):
        before = [True] * both + [False] * neither + [False] * up + [True] * down
        after = [True] * both + [False] * neither + [True] * up + [False] * down
        return pd.DataFrame({"before": before, "after": after})

    assert dagger.verdict(paired(12, 1))["lifted"]
    small = dagger.verdict(paired(9, 5))
    assert not small["lifted"] and (small["flipped_to_success"], small["flipped_to_failure"]) == (9, 5)
    assert small["success_after"] - small["success_before"] == pytest.approx(4 / len(paired(9, 5)))
    assert not dagger.verdict(paired(1, 12))["lifted"]  # beyond chance, but downwards


@pytest.mark.slow
def test_a_quick_pass_labels_every_step_trains_only_the_students_actor_and_records_it(tmp_path, monkeypatch):
    from pixelpush_lib.training import pretrained

    def weights(module):
        return th.cat([p.detach().flatten() for p in module.parameters()])

    loaded, at_load = [], []

    def load_and_keep(name, **kwargs):  # the pass's own agents, and their weights as loaded
        loaded.append(pretrained.load_pretrained(name, **kwargs))
        model = loaded[-1]
        parts = ((model.controller.policy.actor, model.controller.policy.critic, model.eyes) if len(loaded) == 1
                 else (model.policy,))
        at_load.append([weights(part).clone() for part in parts])
        return model

    monkeypatch.setattr(dagger, "load_pretrained", load_and_keep)
    folder = dagger.precompute(quick=True, measured_dir=tmp_path, command="test")
    (student, teacher), ((actor, critic, eyes), (teacher_policy,)) = loaded, at_load

    # The student's actor moved; its critic, its eyes and the teacher did not.
    assert not th.equal(weights(student.controller.policy.actor), actor)
    assert th.equal(weights(student.controller.policy.critic), critic)
    assert th.equal(weights(student.eyes), eyes)
    assert th.equal(weights(teacher.policy), teacher_policy)

    rounds = pd.read_csv(folder / "rounds.csv")
    episodes = pd.read_csv(folder / "episodes.csv")
    assert list(rounds["labels"]) == [50, 100]  # one label per step of every episode driven so far
    assert rounds["fit_mse"].notna().all() and rounds["student_success"].between(0, 1).all()
    assert len(episodes) == dagger.QUICK.eval_episodes
    manifest = load_manifest("dagger", tmp_path)
    assert manifest["summary"] == dagger.verdict(episodes.astype({"before": bool, "after": bool}))
    assert manifest["parameters"]["quick"] is True and manifest["parameters"]["rounds"] == 2


def test_the_committed_pass_is_the_protocol_and_its_sentences_follow_its_verdict(tmp_path):
    manifest = load_manifest("dagger")
    assert manifest["parameters"] == {**json.loads(json.dumps(dagger.PROTOCOL.__dict__)), "quick": False}
    episodes = pd.read_csv(MEASURED_DIR / "dagger" / "episodes.csv")
    assert manifest["summary"] == dagger.verdict(episodes)
    facts = dagger_facts()
    assert ("no lift" in facts["dagger_verdict"]) is not manifest["summary"]["lifted"]

    # The sentences come from the data: a pass that flipped 12 episodes up and 1 down reads as a lift.
    copied = tmp_path / "measured"
    shutil.copytree(MEASURED_DIR / "dagger", copied / "dagger")
    lifted = pd.DataFrame({"episode": range(100), "before": [False] * 20 + [True] * 80,
                           "after": [True] * 12 + [False] * 8 + [True] * 79 + [False]})
    lifted.to_csv(copied / "dagger" / "episodes.csv", index=False)
    edited = {**manifest, "summary": dagger.verdict(lifted)}
    (copied / "dagger" / "manifest.json").write_text(json.dumps(edited))
    facts = dagger_facts(copied)
    assert facts["dagger_result"] == "80% to 91% on the same 100 unseen episodes (measured)"
    assert facts["dagger_flips"] == "12 episodes turned to success and 1 to failure"
    assert facts["dagger_verdict"].endswith("the pass lifts it")
    assert np.isclose(edited["summary"]["sign_test_p"], dagger.sign_test_p(12, 1))
