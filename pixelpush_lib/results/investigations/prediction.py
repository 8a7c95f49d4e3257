"""Step 3's explanation, put to a test it could fail: an agent whose eyes already see should climb when the state
agent does.

Step 3 explains the pixel run's late climb (Step 2's onset, reported) as the time its encoder needed to learn to
see. The ``eyes_first`` config removes that time: its frozen eyes were trained beforehand, with simulator labels,
and SAC + HER learns through them from the first step. If the explanation is right, its onset (first success reading
at or above :data:`~pixelpush_lib.results.quoted_numbers.ONSET_LEVEL`) falls near the state agent's, not near
Step 2's. :func:`prediction_test` fixes the line between the two before any run is read: the prediction holds for a
run that climbs by the state agent's onset plus :data:`MARGIN` of the gap to Step 2's onset.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from pixelpush_lib.core.configs import get_config
from pixelpush_lib.core.paths import DATA_DIR
from pixelpush_lib.results.investigations.eyes import eyes_facts, held_out_errors, state_on_eyes
from pixelpush_lib.results.own_runs import BUDGET_STEPS, measured_runs, seed_mean, seed_range, seeds
from pixelpush_lib.results.quoted_numbers import ONSET_LEVEL, Number, chapter_numbers, format_value

#: Where the line sits between the state agent's onset (0) and Step 2's reported onset (1): a run that climbs by
#: then climbed closer to the state agent than to the pixel agent.
MARGIN = 0.5

#: A run's outcome against the line: climbed by it, climbed after it or ran past it without climbing, or stopped
#: before it without climbing (it says nothing yet).
ON_TIME, LATE, UNDECIDED = "on time", "late", "undecided"


@dataclass(frozen=True)
class PredictionTest:
    """The prediction's test on the measured runs of one config."""

    config: str
    #: the state agent's onset, environment steps: the mean over this project's measured seeds (the author's
    #: figure when there are none)
    state_onset: float
    #: Step 2's onset, environment steps (reported: the author's run, whose policy was also fed ``achieved_goal``)
    pixel_onset: float
    #: the line, environment steps: ``state_onset + MARGIN * (pixel_onset - state_onset)``
    deadline: float
    #: one row per measured run of ``config``: ``run_id, seed, onset_step`` (NaN: none), ``steps`` (the last
    #: logged), ``success_1m``, ``success_2m``, ``wall_time_h``, ``outcome`` (ON_TIME, LATE or UNDECIDED)
    runs: pd.DataFrame

    @property
    def verdict(self) -> str:
        """``'holds'`` when every run climbed by the line, ``'fails'`` when none did and none is undecided,
        ``'mixed'`` when the decided runs disagree, ``'undecided'`` while a run has not reached the line (or none
        exists)."""
        outcomes = set(self.runs["outcome"])
        if not outcomes or UNDECIDED in outcomes:
            return UNDECIDED
        if outcomes == {ON_TIME}:
            return "holds"
        return "fails" if outcomes == {LATE} else "mixed"


def _outcome(onset: float, last_step: int, deadline: float) -> str:
    if not np.isnan(onset):
        return ON_TIME if onset <= deadline else LATE
    return LATE if last_step >= deadline else UNDECIDED


def prediction_test(config: str = "eyes_first", data_dir: Path = DATA_DIR,
                    numbers: dict[str, Number] | None = None) -> PredictionTest:
    """The measured runs of ``config`` against the line between the state agent's onset and Step 2's.

    ``numbers``: ``chapter_numbers(data_dir)`` where the caller has them already (computing them takes about a
    second)."""
    numbers = chapter_numbers(data_dir) if numbers is None else numbers
    state_onset = float(numbers["state_onset_step"].value)
    pixel_onset = float(numbers["step2_onset_step"].value)
    deadline = state_onset + MARGIN * (pixel_onset - state_onset)
    runs = measured_runs(config, data_dir)
    runs["outcome"] = [_outcome(row.onset_step, row.steps, deadline) for row in runs.itertuples()]
    return PredictionTest(config, state_onset, pixel_onset, deadline, runs)


def _seed_list(rows: pd.DataFrame) -> str:
    """``'seed 0'``, ``'seeds 0 and 2'``, ``'seeds 0, 1 and 2'``."""
    names = [str(seed) for seed in rows["seed"]]
    return f"seed {names[0]}" if len(names) == 1 else f"seeds {', '.join(names[:-1])} and {names[-1]}"


def _steps(value: float) -> str:
    return format_value(float(value), "steps", digits=2)


def progress(runs: pd.DataFrame) -> str:
    """How far the runs got, for a sentence: every seed's budget, or which seeds are still training and where."""
    if runs.empty:
        return "none has been collected yet"
    training = runs[runs["in_progress"]]
    n, done = len(runs), len(runs) - len(training)
    if training.empty:
        budget = format_value(float(runs["planned_steps"].max()), "steps")
        return f"1 seed, trained for its full {budget} steps" if n == 1 else f"{n} seeds, each trained for its full {budget} steps"
    where = ", ".join(f"seed {row.seed} at {_steps(row.steps)} of its {format_value(float(row.planned_steps), 'steps')} "
                      "steps" for row in training.itertuples())
    shown = "its last checkpoint" if len(training) == 1 else "their last checkpoints"
    finished = f", {done} finished" if done else ""
    return f"{seeds(n)} so far{finished}; still training and shown up to {shown}: {where}"


def result(runs: pd.DataFrame, config: str = "eyes_first", with_climb: bool = True) -> str:
    """What the runs show, as sentences with their kind: when each climbed (first reading at or above the onset
    level; left out when not ``with_climb``, for a page that has said it already), or its latest reading where it
    has not; then the mean reading at 1M and 2M where every run got that far."""
    level = format_value(ONSET_LEVEL, "fraction")
    if runs.empty:
        return f"There is no curve of {config} to read yet."
    climbed, flat = runs[runs["onset_step"].notna()], runs[runs["onset_step"].isna()]
    sentences = []
    if len(climbed) and with_climb:
        when = (f"at {_steps(climbed['onset_step'].iloc[0])} steps (measured)" if len(climbed) == 1 else
                f"at {seed_mean(climbed['onset_step'], 'steps')} steps on average "
                f"({seed_range(climbed['onset_step'], 'steps')}, measured)")
        sentences.append(f"{_seed_list(climbed).capitalize()} first read {level} or more {when}.")
    for training, group in flat.groupby("in_progress", sort=False):
        readings = ", ".join(f"{format_value(row.last_success, 'fraction')} at {_steps(row.steps)} steps"
                             + ("" if len(group) == 1 else f" (seed {row.seed})") for row in group.itertuples())
        latest = "latest" if training else "last"
        verb = f"{'has' if len(group) == 1 else 'have'} not read {level} yet" if training else f"never read {level}"
        sentences.append(f"{_seed_list(group).capitalize()} {verb}: the {latest} reading{'s' if len(group) > 1 else ''} "
                         f"{'is' if len(group) == 1 else 'are'} {readings} (measured).")
    at_1m, at_2m = (runs[column].notna().all() for column in ("success_1m", "success_2m"))
    if len(runs) == 1 and len(flat) == 1 and runs["steps"].iloc[0] == BUDGET_STEPS:
        at_2m = False  # its last reading, just given, is the one at 2M
    if at_1m:
        whose = "the reading was" if len(runs) == 1 else f"the mean reading of the {seeds(len(runs))} was"
        later = f", and at 2M {seed_mean(runs['success_2m'], 'fraction')}" if at_2m else ""
        sentences.append(f"At 1M steps {whose} {seed_mean(runs['success_1m'], 'fraction')}{later} (measured).")
    return " ".join(sentences)


_VERDICT_SENTENCES = {
    "holds": "The prediction holds: every run climbed by the line, nearer the state agent's onset than Step 2's.",
    "fails": "The prediction fails: no run climbed by the line.",
    "mixed": "The runs disagree: some climbed by the line and some did not.",
    UNDECIDED: "Not decided yet: a run has not reached the line.",
}
_MEANINGS = {
    "holds": ("In these runs, once seeing was solved beforehand, the climb came with the state agent's: the pixel run's "
              "extra steps went to its encoder, within the limits below."),
    "fails": ("Once seeing was solved beforehand the climb still came late, so learning to see is at most part of the "
              "delay; the limits below say what else could have held it back."),
    "mixed": "More seeds would decide whether the delay follows from the encoder alone.",
    UNDECIDED: "Until a run reaches the line, the figure shows how its curve begins, not whether it climbs on time.",
}


#: The SAC + HER settings in which two configs can differ, as a sentence names each.
SAC_HER_SETTINGS = {"learning_rate": "learning rate", "her_n_sampled_goal": "relabelled goals per real one",
                    "n_envs": "environments stepped together", "buffer_size": "replay buffer (transitions)",
                    "batch_size": "batch size", "gamma": "discount", "ent_coef": "entropy coefficient",
                    "tau": "target-network rate", "gradient_steps": "gradient steps per update",
                    "train_freq": "steps of all environments between updates", "learning_starts": "steps before learning"}


def _settings_against_state(config: str) -> str:
    """Where ``config``'s SAC + HER settings differ from the state agent's, for a sentence: ``'learning rate 0.0001
    (the state agent's: 0.0003); ...'``, ending with the updates per environment step when those differ (one update
    every ``train_freq`` steps of all ``n_envs`` environments)."""
    mine, state = get_config(config), get_config("state")

    def shown(value: float) -> str:
        return f"{value:,}" if isinstance(value, int) else f"{value:g}"

    def updates(c) -> float:
        return c.gradient_steps / (c.train_freq * c.n_envs)

    parts = [f"{name} {shown(getattr(mine, field))} (the state agent's: {shown(getattr(state, field))})"
             for field, name in SAC_HER_SETTINGS.items() if getattr(mine, field) != getattr(state, field)]
    if updates(mine) != updates(state):
        parts.append(f"so {shown(updates(mine))} updates per environment step (the state agent's: "
                     f"{shown(updates(state))})")
    return "; ".join(parts) or "none: the same as the state agent's"


def _eyes_readout(config: str, measured_dir: Path) -> dict[str, str]:
    """Step 1's measurement of the very eyes ``config`` reads with: the state agent's success when its puck position
    came from them, beside its success with the true position (``measured_dir/state_on_eyes``), their median error
    on held-out episodes over all frames and with the gripper near the puck, and what they make of the puck's
    velocity."""
    run_config = get_config(config)
    seed = run_config.eyes_seed
    table = state_on_eyes(measured_dir)
    on_eyes = table[(table["condition"] == "eyes") & (table["encoder"] == run_config.encoder)
                    & (table["eyes_seed"] == seed)]
    truth = table[table["condition"] == "true state"]
    key = f"{config}_pred"
    encoder = {"manipulation": "ManipulationCNN", "nature": "NatureCNN"}[run_config.encoder]
    step1 = eyes_facts(measured_dir)
    velocity = (f"their velocity is {step1['eyes_velocity_verdict']} always answering zero"
                if run_config.frame_stack > 1 else "from a single frame they see no motion at all")
    errors = held_out_errors(measured_dir)
    errors = errors[(errors["encoder"] == run_config.encoder) & (errors["seed"] == seed)]
    return {f"{key}_eyes": f"{encoder}'s eyes of seed {seed}",
            **{f"{key}_{name}": format_value(float(errors[column].iloc[0]), "cm", digits=1) if len(errors)
               else "not measured" for name, column in (("error", "all_median"), ("near_error", "near_median"))},
            f"{key}_on_eyes": format_value(float(on_eyes["success_rate"].iloc[0]), "fraction") if len(on_eyes)
            else "not measured",
            f"{key}_on_truth": format_value(float(truth["success_rate"].iloc[0]), "fraction"),
            f"{key}_eyes_episodes": str(int(truth["episodes"].iloc[0])), f"{key}_velocity": velocity,
            f"{key}_near_radius": step1["eyes_near"]}


def _tagged(number: Number, value: float) -> str:
    """``'1.27M steps (measured, the mean of 3 seeds)'``: an onset with its kind, for a sentence."""
    over = f", the mean of {seeds(number.n)}" if number.n and number.n > 1 else ""
    return f"{format_value(value, 'steps')} steps ({number.provenance}{over})"


def _spread(runs: pd.DataFrame) -> str:
    """How far the seeds spread, for the sources box (a sentence; with one seed there is none)."""
    if len(runs) < 2:
        return "With one seed or none there is no spread over seeds to give."
    parts = [f"{name} {seed_range(runs[column], unit)}" for column, name, unit in (
        ("last_success", "latest reading", "fraction"), ("onset_step", "onset", "steps"),
        ("success_1m", "success at 1M", "fraction"), ("success_2m", "success at 2M", "fraction"))]
    return "Over the seeds: " + "; ".join(parts) + "."


def prediction_facts(config: str = "eyes_first", data_dir: Path = DATA_DIR) -> dict[str, str]:
    """What Step 3's "A prediction you can test" states, keyed ``<config>_pred_*``, for ``{glue:text}``: the line and
    the two onsets it lies between (each with its kind), how far the runs got, what they show (onsets, latest
    readings, success at 1M and 2M; ``_success_2m``, the mean at 2M once every seed got there, for a sentence),
    how many climbed on time, the verdict and what it means, Step 1's measurement of the eyes, how far our state
    seeds' onsets spread, where the config's SAC + HER settings differ from the state agent's, and for the sources
    box the runs and their spread over seeds."""
    numbers = chapter_numbers(data_dir)
    test = prediction_test(config, data_dir, numbers)
    runs, key = test.runs, f"{config}_pred"
    state_runs = measured_runs("state", data_dir)
    verdict = test.verdict
    return {
        f"{key}_progress": progress(runs),
        f"{key}_result": result(runs, config),
        f"{key}_margin": format_value(MARGIN, "fraction"),
        f"{key}_onset_level": format_value(ONSET_LEVEL, "fraction"),
        f"{key}_state_onset": _tagged(numbers["state_onset_step"], test.state_onset),
        f"{key}_pixel_onset": _tagged(numbers["step2_onset_step"], test.pixel_onset),
        f"{key}_deadline": format_value(test.deadline, "steps"),
        f"{key}_seeds": seeds(len(runs)),
        f"{key}_settings": _settings_against_state(config),
        f"{key}_success_2m": seed_mean(runs["success_2m"], "fraction") if runs["success_2m"].notna().all()
        else "not reached",
        f"{key}_on_time": f"{int((runs['outcome'] == ON_TIME).sum())} of {len(runs)}",
        f"{key}_verdict": verdict,
        f"{key}_verdict_sentence": ("Not decided yet: no run has been collected." if runs.empty
                                    else _VERDICT_SENTENCES[verdict]),
        f"{key}_meaning": ("The figure shows the two onsets the line lies between." if runs.empty
                           else _MEANINGS[verdict]),
        **_eyes_readout(config, Path(data_dir) / "measured"),
        f"{key}_runs": ", ".join(f"data/runs/{run}" for run in runs["run_id"]) or "none",
        f"{key}_spread": _spread(runs),
        f"{key}_state_spread": seed_range(state_runs["onset_step"], "steps"),
        f"{key}_state_runs": ", ".join(f"data/runs/{run}" for run in state_runs["run_id"])
        or "none: the author's onset stands in",
    }
