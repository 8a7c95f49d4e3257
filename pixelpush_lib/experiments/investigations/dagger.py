"""Does a short DAgger pass lift the pixel-driven agent? Imitation of the state agent, through the eyes.

The registered pixel-driven agent (``state_on_eyes_s0``: label-trained eyes, a controller trained by SAC + HER on
the true state) acts on what its eyes report, which is never quite what its controller was trained on. DAgger
(Ross, Gordon and Bagnell, 2011) fits the controller to the states its own driving reaches: the student drives, the
teacher labels.

Protocol (:data:`PROTOCOL`, fixed before the recorded run; a scratch run of the same settings came first):

* student: the registered ``agent``; its eyes stay frozen, only its controller's actor is trained (acting never
  reads the critic). Teacher: the registered state agent ``teacher``, reading the true state.
* each of ``rounds`` rounds, the student drives ``episodes_per_round`` episodes deterministically from reset seeds
  ``first_seed`` on (apart from training's small seeds and the registry's evaluation seeds); at every step the
  teacher's deterministic action on the true state is the label of what the student read. The actor is then fit to
  every label so far: ``epochs`` passes of Adam (``learning_rate``) on the mean squared error of its squashed action,
  minibatches of ``batch_size``. No reward is used: this is imitation, not reinforcement learning.
* before and after, the agent plays the registry's evaluation episodes (``training.pretrained.evaluate``,
  ``EVAL_SEED``: the episodes the registered 72% came from), so each episode is paired. The pass *lifts* the agent
  when more episodes flip to success than to failure and an exact two-sided sign test on the flipped episodes gives
  p below :data:`LIFT_P`; only then would the trained controller be worth registering (as imitation).
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch as th

from pixelpush_lib.core.paths import MEASURED_DIR
from pixelpush_lib.experiments.store import write_measured
from pixelpush_lib.training.pretrained import EVAL_SEED, evaluate, load_pretrained

EXPERIMENT = "dagger"
LIFT_P = 0.05


@dataclass(frozen=True)
class DaggerProtocol:
    """A DAgger pass through the eyes and its paired evaluation."""

    agent: str = "state_on_eyes_s0"
    """The registered state agent on eyes: its controller's actor is the student."""
    teacher: str = "state_s0_2m"
    """The registered state agent whose actions on the true state are the labels."""
    rounds: int = 4
    """Rounds of driving then fitting."""
    episodes_per_round: int = 25
    """Episodes the student drives per round (50 steps each, so 1,250 labels)."""
    epochs: int = 5
    """Passes over every label so far after each round."""
    learning_rate: float = 1e-4
    """Adam's step size for the actor (the learning rate the state agent was trained with)."""
    batch_size: int = 256
    """Labels per gradient step."""
    first_seed: int = 2_000_000
    """Reset seed of the first driven episode; then one more per episode."""
    eval_episodes: int = 100
    """Episodes of the paired evaluation, from ``EVAL_SEED``."""
    torch_seed: int = 0
    """Seeds the minibatch order."""


PROTOCOL = DaggerProtocol()
QUICK = DaggerProtocol(rounds=2, episodes_per_round=1, epochs=1, eval_episodes=1)


def sign_test_p(flipped_up: int, flipped_down: int) -> float:
    """Exact two-sided sign test on paired episodes: the probability, were both outcomes equally likely, of a split
    of the ``flipped_up + flipped_down`` changed episodes at least as uneven as this one (1.0 when none changed)."""
    n, k = flipped_up + flipped_down, min(flipped_up, flipped_down)
    if n == 0:
        return 1.0
    return min(1.0, 2 * sum(math.comb(n, i) for i in range(k + 1)) / 2 ** n)


def drive_and_label(agent: Any, teacher: Any, seeds: range) -> tuple[dict[str, np.ndarray], np.ndarray, float]:
    """The student drives one episode per reset seed. Returns what it read at each step (the controller's Dict
    observation, stacked), the teacher's action on the true state at that step ``(n, 4)``, and the student's success
    rate over these episodes."""
    from pixelpush_lib.env.wrappers import make_env

    config = agent.pixelpush_config
    env = make_env("pixels", frame_stack=config.frame_stack, image_size=config.image_size)
    seen, labels, successes = [], [], []
    try:
        for seed in seeds:
            obs, _ = env.reset(seed=seed)
            done = False
            while not done:
                read = agent.state_observation(obs)
                action, _ = agent.controller.predict(read, deterministic=True)
                label, _ = teacher.predict(env.unwrapped._get_obs(), deterministic=True)
                seen.append(read)
                labels.append(label)
                obs, _, terminated, truncated, info = env.step(action)
                done = terminated or truncated
            successes.append(bool(info["is_success"]))
    finally:
        env.close()
    stacked = {key: np.stack([row[key] for row in seen]) for key in seen[0]}
    return stacked, np.stack(labels).astype(np.float32), float(np.mean(successes))


def fit_actor(policy: Any, seen: dict[str, np.ndarray], labels: np.ndarray, protocol: DaggerProtocol,
              optimizer: th.optim.Optimizer, generator: th.Generator) -> float:
    """``protocol.epochs`` passes of the actor's deterministic (squashed) action towards ``labels``; the last
    minibatch's mean squared error. Only the actor's parameters are in ``optimizer``."""
    observations, _ = policy.obs_to_tensor(seen)
    target = th.as_tensor(labels)
    policy.set_training_mode(True)
    loss = th.tensor(float("nan"))
    for _ in range(protocol.epochs):
        order = th.randperm(len(target), generator=generator)
        for start in range(0, len(target), protocol.batch_size):
            batch = order[start:start + protocol.batch_size]
            action = policy.actor({key: value[batch] for key, value in observations.items()}, deterministic=True)
            loss = ((action - target[batch]) ** 2).mean()
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    policy.set_training_mode(False)
    return float(loss.detach())


def run(protocol: DaggerProtocol, progress: bool = True) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The pass: one row per round (round, labels, student_success while driving, fit_mse, wall_s) and one row per
    evaluation episode (episode, before, after: successes of the same episode)."""
    agent = load_pretrained(protocol.agent, device="cpu")
    teacher = load_pretrained(protocol.teacher, device="cpu")
    if progress:
        print(f"  {protocol.agent} before the pass: {protocol.eval_episodes} evaluation episodes", flush=True)
    before = evaluate(agent, protocol.eval_episodes, seed=EVAL_SEED)["successes"]
    policy = agent.controller.policy
    optimizer = th.optim.Adam(policy.actor.parameters(), lr=protocol.learning_rate)
    generator = th.Generator().manual_seed(protocol.torch_seed)
    seen: dict[str, list[np.ndarray]] = {}
    labels: list[np.ndarray] = []
    rounds = []
    for round_ in range(protocol.rounds):
        start = time.perf_counter()
        first = protocol.first_seed + round_ * protocol.episodes_per_round
        read, label, success = drive_and_label(agent, teacher, range(first, first + protocol.episodes_per_round))
        for key, value in read.items():
            seen.setdefault(key, []).append(value)
        labels.append(label)
        so_far = {key: np.concatenate(values) for key, values in seen.items()}
        mse = fit_actor(policy, so_far, np.concatenate(labels), protocol, optimizer, generator)
        rounds.append({"round": round_, "labels": sum(len(x) for x in labels), "student_success": success,
                       "fit_mse": mse, "wall_s": round(time.perf_counter() - start, 1)})
        if progress:
            print(f"  round {round_ + 1}/{protocol.rounds}: the student drove {success:.0%} to success, "
                  f"{rounds[-1]['labels']:,} labels so far, fit MSE {mse:.4f}", flush=True)
    if progress:
        print(f"  after the pass: the same {protocol.eval_episodes} evaluation episodes", flush=True)
    after = evaluate(agent, protocol.eval_episodes, seed=EVAL_SEED)["successes"]
    episodes = pd.DataFrame({"episode": range(protocol.eval_episodes), "before": before, "after": after})
    return pd.DataFrame(rounds), episodes


def verdict(episodes: pd.DataFrame) -> dict[str, Any]:
    """Success before and after on the paired episodes, how many flipped each way, the sign test's p and whether
    the pass lifted the agent."""
    up = int((episodes["after"] & ~episodes["before"]).sum())
    down = int((episodes["before"] & ~episodes["after"]).sum())
    p = sign_test_p(up, down)
    return {"success_before": float(episodes["before"].mean()), "success_after": float(episodes["after"].mean()),
            "episodes": len(episodes), "flipped_to_success": up, "flipped_to_failure": down, "sign_test_p": p,
            "lifted": bool(up > down and p < LIFT_P)}


def precompute(quick: bool = False, measured_dir: Path = MEASURED_DIR,
               command: str = "python -m pixelpush_lib.experiments dagger") -> Path:
    """Run the pass and write ``measured_dir/dagger/``: ``rounds.csv``, ``episodes.csv`` and the verdict in the
    manifest's summary."""
    protocol = QUICK if quick else PROTOCOL
    start = time.perf_counter()
    rounds, episodes = run(protocol)
    return write_measured(EXPERIMENT, {"rounds.csv": lambda p: rounds.to_csv(p, index=False, float_format="%.4f"),
                                       "episodes.csv": lambda p: episodes.to_csv(p, index=False)},
                          {**asdict(protocol), "quick": quick}, command, time.perf_counter() - start,
                          verdict(episodes), measured_dir)


__all__ = ["DaggerProtocol", "PROTOCOL", "QUICK", "precompute", "sign_test_p", "verdict"]
