"""How well must a policy see? The registered state agent, acting on what eyes report instead of the simulator.

Protocol (fixed before any result was looked at; :data:`PROTOCOL`): the state agent ``state_s0_2m`` (SAC + HER on
FetchPush's 25-D state, registered) plays 100 episodes with reset seeds no training run used
(``training.pretrained.EVAL_SEED`` onwards, the registry's evaluation episodes), deterministically, once per
condition; each condition changes only the puck's entries of the state it reads (:mod:`pixelpush_lib.env.puck_state`):

* ``true state``: nothing changed (the agent's own success on these episodes);
* ``rotation zeroed``: the puck's rotation and angular velocity zeroed, everything else true: the part of the eyes'
  substitution that has nothing to do with seeing where the puck is;
* ``noise``: Gaussian noise of standard deviation 0.5, 1, 2 or 4 cm added to the true table position, ``x`` and
  ``y`` independently, drawn afresh every step (seeded); the relative position and ``achieved_goal`` follow, the
  velocity stays true;
* ``eyes``: each committed pair of eyes (``data/measured/eyes``, every seed) reads the frame stack the pixel env
  renders; its position replaces the puck's (height: the table's), its velocity too where the stack shows motion
  (ManipulationCNN on 4 frames); NatureCNN's single frame has none, so its velocity is the change of its own
  position reading since the last step (zero at reset). Rotation and angular velocity are zeroed, as in
  ``rotation zeroed``. This is a pixel agent with no reinforcement learning on pixels: its eyes were trained with
  simulator labels, its policy on the true state.

Each row records the success rate and the position error the agent actually met (median and 90th percentile over
every step of its 100 episodes, centimetres), so the eyes sit on the noise curve by their own error.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pandas as pd

from pixelpush_lib.core.paths import MEASURED_DIR
from pixelpush_lib.env.puck_state import PUCK_POS, with_puck_estimate, without_rotation
from pixelpush_lib.experiments.store import write_measured
from pixelpush_lib.nets.eyes import load_measured_eyes
from pixelpush_lib.results.measured import load_manifest
from pixelpush_lib.training.pretrained import EVAL_SEED, load_pretrained

EXPERIMENT = "state_on_eyes"
NOISE_CM = (0.5, 1.0, 2.0, 4.0)


@dataclass(frozen=True)
class StateOnEyesProtocol:
    """``episodes`` per condition from reset seed ``first_seed``; ``noise_cm``: standard deviations per axis;
    ``noise_seed`` seeds the noise; ``agent``: the registered state checkpoint."""

    episodes: int = 100
    first_seed: int = EVAL_SEED
    noise_cm: tuple[float, ...] = NOISE_CM
    noise_seed: int = 0
    agent: str = "state_s0_2m"


PROTOCOL = StateOnEyesProtocol()
QUICK = StateOnEyesProtocol(episodes=2, noise_cm=(1.0,))

# A view turns (true state observation, pixel observation or None, step) into what the agent reads, and returns
# the table position it wrote (metres) so that the error the agent met can be measured.
View = Callable[[dict[str, np.ndarray], dict[str, np.ndarray] | None, int], tuple[dict[str, np.ndarray], np.ndarray]]


def play(agent: Any, view: View, protocol: StateOnEyesProtocol, needs_pixels: bool) -> dict[str, Any]:
    """Run the protocol's episodes with the agent reading ``view``; success rate and position errors met."""
    from pixelpush_lib.env.wrappers import make_env

    env = make_env("pixels", frame_stack=4) if needs_pixels else make_env("state")
    successes, errors = [], []
    try:
        for episode in range(protocol.episodes):
            obs, _ = env.reset(seed=protocol.first_seed + episode)
            done, step = False, 0
            while not done:
                state = env.unwrapped._get_obs()
                seen, xy = view(state, obs if needs_pixels else None, step)
                errors.append(float(np.linalg.norm(xy[:2] - state["observation"][PUCK_POS][:2])) * 100.0)
                action, _ = agent.predict(seen, deterministic=True)
                obs, _, terminated, truncated, info = env.step(action)
                done, step = terminated or truncated, step + 1
            successes.append(bool(info["is_success"]))
    finally:
        env.close()
    return {"episodes": protocol.episodes, "successes": int(np.sum(successes)),
            "success_rate": float(np.mean(successes)), "median_error_cm": float(np.median(errors)),
            "p90_error_cm": float(np.percentile(errors, 90))}


def true_view(state, pixels, step):
    return state, state["observation"][PUCK_POS]


def rotation_zeroed_view(state, pixels, step):
    return without_rotation(state), state["observation"][PUCK_POS]


def noise_view(noise_cm: float, table_z: float, seed: int) -> View:
    rng = np.random.default_rng(seed)

    def view(state, pixels, step):
        xy = state["observation"][PUCK_POS][:2] + rng.normal(0.0, noise_cm / 100.0, 2)
        return with_puck_estimate(state, xy, None, table_z), xy
    return view


def eyes_view(eyes: Any, table_z: float) -> View:
    """What the eyes report, written into the state; NatureCNN's velocity is its reading's change per step."""
    last = {"xy": None}

    def view(state, pixels, step):
        reading = eyes.read(pixels["pixels"][-3 * eyes.spec.frame_stack:])
        xy = reading[:2]
        if eyes.spec.sees_velocity:
            velocity = reading[2:4]
        else:
            velocity = np.zeros(2) if step == 0 or last["xy"] is None else xy - last["xy"]
        last["xy"] = xy
        return with_puck_estimate(state, xy, velocity, table_z), xy
    return view


def run(protocol: StateOnEyesProtocol, measured_dir: Path = MEASURED_DIR, progress: bool = True) -> pd.DataFrame:
    """Every condition; one row each (condition, encoder, eyes_seed, noise_cm, episodes, successes, success_rate,
    median_error_cm, p90_error_cm, wall_s)."""
    from pixelpush_lib.env.wrappers import make_env

    agent = load_pretrained(protocol.agent, device="cpu")
    probe_env = make_env("state")
    table_z = float(probe_env.unwrapped.height_offset)  # the puck's resting height: a constant of the scene
    probe_env.close()
    conditions: list[tuple[dict[str, Any], View, bool]] = [
        ({"condition": "true state", "noise_cm": 0.0}, true_view, False),
        ({"condition": "rotation zeroed", "noise_cm": 0.0}, rotation_zeroed_view, False),
    ]
    conditions += [({"condition": "noise", "noise_cm": sigma}, noise_view(sigma, table_z, protocol.noise_seed), False)
                   for sigma in protocol.noise_cm]
    weights = load_manifest("eyes", measured_dir)["summary"]["weights"]
    for encoder, seeds in weights.items():
        for seed in sorted(seeds, key=int):
            eyes = load_measured_eyes(encoder, int(seed), measured_dir)
            conditions.append(({"condition": "eyes", "encoder": encoder, "eyes_seed": int(seed)},
                               eyes_view(eyes, table_z), True))
    rows = []
    for labels, view, pixels in conditions:
        start = time.perf_counter()
        result = play(agent, view, protocol, pixels)
        rows.append({"encoder": "", "eyes_seed": -1, "noise_cm": np.nan, **labels, **result,
                     "wall_s": round(time.perf_counter() - start, 1)})
        if progress:
            print(f"  {labels}: {result['success_rate']:.0%} success, median error met "
                  f"{result['median_error_cm']:.2f} cm", flush=True)
    return pd.DataFrame(rows)


def precompute(quick: bool = False, measured_dir: Path = MEASURED_DIR,
               command: str = "python -m pixelpush_lib.experiments state_on_eyes") -> Path:
    """Run every condition and write ``measured_dir/state_on_eyes/success.csv`` (reads ``measured_dir/eyes``)."""
    protocol = QUICK if quick else PROTOCOL
    start = time.perf_counter()
    table = run(protocol, Path(measured_dir))
    eyes = load_manifest("eyes", measured_dir)
    summary = {"eyes_commit": eyes["provenance"]["git_commit"],
               "success": {f"{r.condition} {r.encoder} {r.eyes_seed if r.eyes_seed >= 0 else ''}".strip()
                           + (f" {r.noise_cm:g} cm" if r.condition == "noise" else ""): r.success_rate
                           for r in table.itertuples()}}
    return write_measured(EXPERIMENT, {"success.csv": lambda p: table.to_csv(p, index=False, float_format="%.4f")},
                          {**asdict(protocol), "quick": quick}, command, time.perf_counter() - start, summary,
                          measured_dir)


def load_results(measured_dir: Path = MEASURED_DIR) -> pd.DataFrame:
    """The measured conditions (validated manifest), one row each."""
    load_manifest(EXPERIMENT, measured_dir)
    return pd.read_csv(Path(measured_dir) / EXPERIMENT / "success.csv", keep_default_na=False,
                       na_values={"noise_cm": [""]})


__all__ = ["PROTOCOL", "QUICK", "StateOnEyesProtocol", "precompute", "load_results"]
