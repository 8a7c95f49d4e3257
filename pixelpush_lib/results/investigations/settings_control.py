"""The settings control: does Step 2's SAC + HER settings alone delay the state agent's climb?

The eyes-first agent (and the author's Step 2 run) differ from the state agent in what they see *and* in their SAC +
HER settings: learning rate, relabelled goals per real one, envs stepped together, buffer. The config
``state_step2_settings`` is the state agent with Step 2's settings, so its onset beside the state agent's own says how
much of a delay the settings alone cause. Read against the prediction's line (:mod:`.prediction`), it chooses the
next run:

* every seed climbed and their mean onset is by the line: the settings are cleared, the eyes are the suspect (next:
  the state agent trained through noise of the eyes' size, then ``eyes_first_nature``);
* otherwise, once no seed is still short of the line: the settings alone delay the climb past it (next: eyes-first
  with the state agent's settings);
* while a seed is still short of the line without having climbed: not decided.
"""

from __future__ import annotations

from pathlib import Path

from pixelpush_lib.core.configs import get_config
from pixelpush_lib.core.paths import DATA_DIR
from pixelpush_lib.results.investigations.prediction import UNDECIDED, PredictionTest, prediction_test, progress, result
from pixelpush_lib.results.own_runs import measured_runs, seed_mean, seed_range, seeds
from pixelpush_lib.results.quoted_numbers import ONSET_LEVEL, format_value

CONFIG = "state_step2_settings"
#: The branch the control chooses: which run it points to next.
SETTINGS_CLEARED, SETTINGS_DELAY = "settings cleared", "settings delay"

_BRANCH_SENTENCES = {
    SETTINGS_CLEARED: ("Under Step 2's settings the state agent still climbed by the line, so the settings alone do not "
                       "explain the eyes-first agent's failure: the eyes are the suspect."),
    SETTINGS_DELAY: ("Under Step 2's settings the state agent did not climb by the line, so the settings alone delay "
                     "the climb, and the eyes-first test mixed them with the eyes."),
    UNDECIDED: "Not decided until every seed of the control has climbed or passed the line.",
}
_NEXT_RUNS = {
    SETTINGS_CLEARED: ("the state agent trained through noise of the eyes' size on the puck's position (config "
                       "state_noisy_puck), then eyes-first with NatureCNN's eyes (config eyes_first_nature)"),
    SETTINGS_DELAY: "eyes-first again, with the state agent's own settings (config eyes_first_state_settings)",
    UNDECIDED: "none until the control is decided",
}
#: The configs of the runs each branch points to, in the order they are run.
NEXT_CONFIGS = {SETTINGS_CLEARED: ("state_noisy_puck", "eyes_first_nature"),
                SETTINGS_DELAY: ("eyes_first_state_settings",), UNDECIDED: ()}


def control_branch(test: PredictionTest) -> str:
    """:data:`SETTINGS_CLEARED` when every run climbed and their mean onset is by the line, :data:`UNDECIDED` while a
    run is short of the line without having climbed (or none exists), else :data:`SETTINGS_DELAY`."""
    runs = test.runs
    if runs.empty or (runs["outcome"] == UNDECIDED).any():
        return UNDECIDED
    if runs["onset_step"].notna().all() and runs["onset_step"].mean() <= test.deadline:
        return SETTINGS_CLEARED
    return SETTINGS_DELAY


def settings_control_facts(data_dir: Path = DATA_DIR) -> dict[str, str]:
    """What the investigations and Step 3 state about the control, keyed ``control_*`` for ``{glue:text}``: how far its
    runs got and what they show, its mean onset beside the state agent's own (each with its kind), the branch it
    chose and the run that branch points to, and, for the sources box, its runs and their spread."""
    test = prediction_test(CONFIG, data_dir)
    runs = test.runs
    state = measured_runs("state", data_dir)
    branch = control_branch(test)
    return {
        "control_progress": progress(runs),
        "control_result": result(runs, CONFIG, with_climb=False),  # control_climb says when it climbed
        "control_climb": _climb(runs),
        "control_state_onset": _state_onset(state) or ("no seed climbed (measured)" if len(state) else "not measured"),
        "control_deadline": format_value(test.deadline, "steps"),
        "control_branch": branch,
        "control_branch_sentence": _BRANCH_SENTENCES[branch],
        "control_next_run": _NEXT_RUNS[branch],
        "control_next_status": _next_status(branch, data_dir),
        "control_budget_sentence": _budget_sentence(test),
        "control_runs": ", ".join(f"data/runs/{run}" for run in runs["run_id"]) or "none yet",
        "control_onset_spread": seed_range(runs["onset_step"], "steps"),
    }


def _next_status(branch: str, data_dir: Path) -> str:
    """Where each run the branch points to stands, for a sentence after "The run it points to next: ...": how far it
    got and what its curve shows (measured), or that it has not started."""
    out = []
    for config in NEXT_CONFIGS[branch]:
        runs = measured_runs(config, data_dir)
        out.append(f"{config} has not started yet." if runs.empty else
                   f"{config}: {progress(runs)}. {result(runs, config)}")
    return " ".join(out)


def noisy_puck_facts(data_dir: Path = DATA_DIR) -> dict[str, str]:
    """The first run the cleared branch points to, keyed ``noisy_puck_*`` for ``{glue:text}``: the noise its config
    puts on the puck's position, how far its runs got and what they show (measured)."""
    config = NEXT_CONFIGS[SETTINGS_CLEARED][0]
    runs = measured_runs(config, data_dir)
    return {
        "noisy_puck_noise": f"{get_config(config).puck_noise_median_cm:g} cm (set in its config)",
        "noisy_puck_progress": "it has not started yet" if runs.empty else progress(runs),
        "noisy_puck_result": result(runs, config),
        "noisy_puck_answer": _noisy_puck_answer(runs, measured_runs("state", data_dir)),
    }


def _noisy_puck_answer(runs, state) -> str:
    """The section's question, "can SAC + HER learn through readings as imprecise as the eyes'?", answered from the
    noisy-puck runs: yes once a seed climbed (one climb shows it can; the onset beside the state agent's on the true
    state), no once every seed has run its whole budget without climbing, and otherwise that the answer waits."""
    on_truth = _state_onset(state)
    if runs["onset_step"].notna().any():
        beside = f", against {on_truth} on the true state" if on_truth else ""
        return (f"Yes: through readings as imprecise as the eyes' it {_climb(runs)}{beside}. Readings off by as much "
                "as the eyes' do not by themselves stop SAC + HER, so the size of the eyes' error alone does not "
                "explain the eyes-first agent's failure.")
    if len(runs) and not runs["in_progress"].any() and (runs["steps"] >= runs["planned_steps"]).all():
        which = "its one seed never read" if len(runs) == 1 else f"none of its {len(runs)} seeds read"
        beside = f", where on the true state it first read so at {on_truth}" if on_truth else ""
        settled = "; one seed does not settle it" if len(runs) == 1 else ""
        return (f"Not within its budget: through readings as imprecise as the eyes' {which} "
                f"{format_value(ONSET_LEVEL, 'fraction')} in {format_value(runs['steps'].min(), 'steps')} steps "
                f"(measured){beside}. Readings off by as much as the eyes' were enough to keep SAC + HER from climbing "
                f"here, so the size of the eyes' error alone could explain the eyes-first agent's failure{settled}. "
                "NatureCNN's eyes are the next test.")
    return "The answer waits for its run to climb or to reach the end of its budget."


def _state_onset(state) -> str:
    """The state agent's mean onset on the true state, "1.27M steps (measured)"; empty when no seed has climbed."""
    return f"{seed_mean(state['onset_step'], 'steps')} steps (measured)" if state["onset_step"].notna().any() else ""


def _budget_sentence(test: PredictionTest) -> str:
    """What the control says of the budget rule, for "..., it {control_climb}: {control_budget_sentence}.": how far
    Step 2's settings alone moved the state agent's climb, as a share of the distance from its own onset to the
    author's pixel run's; or that a seed never climbed; or that this waits for every seed to climb."""
    runs = test.runs
    flat = runs["onset_step"].isna()
    if runs.empty or (flat & runs["in_progress"]).any():
        return "how much of the pixel run's wait the settings alone explain waits for every seed to climb"
    if flat.any():
        return (f"{seeds(int(flat.sum()))} of {len(runs)} never climbed in {'its' if flat.sum() == 1 else 'their'} "
                "budget, so the settings alone could explain all of the pixel run's wait")
    shift = runs["onset_step"].mean() - test.state_onset
    if shift <= 0:
        return "Step 2's settings alone did not delay the climb, so they explain none of the pixel run's wait"
    share = shift / (test.pixel_onset - test.state_onset)
    how_much = "a small part" if share < 1 / 3 else "much" if share < 2 / 3 else "most"
    return (f"Step 2's settings alone moved the climb {format_value(shift, 'steps')} steps later, "
            f"{format_value(share, 'fraction')} of the way from its own onset to the author's pixel run's (measured "
            f"against reported), so they explain {how_much} of the pixel run's wait")


def _climb(runs) -> str:
    """When the control climbed, for "under Step 2's settings our state agent ...": its mean onset over the seeds that
    climbed, with how many did, or that none has yet."""
    level = format_value(ONSET_LEVEL, "fraction")
    if runs.empty:
        return "has no run yet"
    climbed, n = runs["onset_step"].dropna(), len(runs)
    if climbed.empty:
        which = "its one seed" if n == 1 else f"any of its {seeds(n)}"
        return f"has not read {level} {'yet ' if runs['in_progress'].any() else ''}in {which} (measured)"
    mean = "on average " if len(climbed) > 1 else ""
    how_many = "one seed" if n == 1 else f"{len(climbed)} of {n} seeds climbed"
    return f"first read {level} or more {mean}at {seed_mean(climbed, 'steps')} steps (measured, {how_many})"
