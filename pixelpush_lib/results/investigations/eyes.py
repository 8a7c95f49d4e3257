"""The eyes' measured results, read without torch or the simulator: what the book shows and glues, and its claims.

Two measured folders (``data/measured``): ``eyes`` (:mod:`pixelpush_lib.experiments.investigations.eyes`: held-out
errors of each encoder's eyes, per seed, beside a predictor that learned nothing) and ``state_on_eyes``
(:mod:`pixelpush_lib.experiments.investigations.state_on_eyes`: the registered state agent's success with its puck
entries noised or read by the eyes).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from pixelpush_lib.core.paths import MEASURED_DIR
from pixelpush_lib.results.evidence import FAR_BELOW
from pixelpush_lib.results.measured import load_manifest

ENCODER_NAMES = {"manipulation": "ManipulationCNN + SpatialSoftmax", "nature": "NatureCNN"}
FLOOR = "learned nothing"
REFERENCE_NOISE_CM = 1.0  # the noise level whose tail the page sets beside the eyes' (about their median error)
GOAL_TOLERANCE_M = 0.05  # FetchPush's distance_threshold: success when the puck is this close to the goal


def held_out_errors(measured_dir: Path = MEASURED_DIR) -> pd.DataFrame:
    """Test-episode position errors (cm) of each encoder's eyes (the chosen mix), one row per encoder and seed, and
    the learned-nothing floor: ``encoder, seed, all_median, all_p90, near_median, near_p90`` (near: the gripper
    within 5 cm of the puck)."""
    summary = load_manifest("eyes", measured_dir)["summary"]
    errors = pd.read_csv(Path(measured_dir) / "eyes" / "errors.csv")
    test = errors[(errors["split"] == "test") & (errors["quantity"] == "position")
                  & errors["frames"].isin(["all", "near gripper"])]
    test = test[(test["encoder"] == FLOOR) | (test["mix"] == test["encoder"].map(summary["chosen_mix"]))]
    table = test.pivot_table(index=["encoder", "seed"], columns="frames", values=["median_cm", "p90_cm"])
    table.columns = [f"{'all' if frames == 'all' else 'near'}_{stat.removesuffix('_cm')}" for stat, frames in
                     table.columns]
    return table.reset_index()


def errors_by_encoder(measured_dir: Path = MEASURED_DIR) -> pd.DataFrame:
    """Per encoder (and the floor): median over seeds of each error column, with its min and max."""
    table = held_out_errors(measured_dir)
    columns = ["all_median", "all_p90", "near_median", "near_p90"]
    grouped = table.groupby("encoder")[columns]
    out = pd.concat([grouped.median(), grouped.min().add_suffix("_min"), grouped.max().add_suffix("_max")], axis=1)
    out["seeds"] = table.groupby("encoder")["seed"].nunique()
    return out


def mix_comparison(measured_dir: Path = MEASURED_DIR) -> pd.DataFrame:
    """Validation median position error (cm) of every mix at the first seed, per encoder: which frames teach best."""
    errors = pd.read_csv(Path(measured_dir) / "eyes" / "errors.csv")
    first = int(load_manifest("eyes", measured_dir)["parameters"]["seeds"][0])
    val = errors[(errors["split"] == "val") & (errors["quantity"] == "position") & (errors["frames"] == "all")
                 & (errors["seed"] == first)]
    return val.pivot_table(index="encoder", columns="mix", values="median_cm")


def velocity_errors(measured_dir: Path = MEASURED_DIR) -> pd.Series:
    """90th-percentile test velocity error (cm per step) of ManipulationCNN's chosen eyes, median over seeds, and of
    the learned-nothing floor (always zero): ``manipulation`` and ``learned nothing``. The tail, because the puck is
    still in most frames, where saying zero is right. NatureCNN's single frame shows no motion."""
    summary = load_manifest("eyes", measured_dir)["summary"]
    errors = pd.read_csv(Path(measured_dir) / "eyes" / "errors.csv")
    rows = errors[(errors["split"] == "test") & (errors["quantity"].str.startswith("velocity"))
                  & ((errors["encoder"] == FLOOR) | (errors["mix"] == errors["encoder"].map(summary["chosen_mix"])))]
    return rows.groupby("encoder")["p90_cm"].median()


def state_on_eyes(measured_dir: Path = MEASURED_DIR) -> pd.DataFrame:
    """The state agent's conditions, one row each: ``condition`` (true state, rotation zeroed, noise, eyes),
    ``encoder``, ``eyes_seed``, ``noise_cm``, ``episodes``, ``successes``, ``success_rate``, ``median_error_cm``,
    ``p90_error_cm``."""
    load_manifest("state_on_eyes", measured_dir)
    table = pd.read_csv(Path(measured_dir) / "state_on_eyes" / "success.csv")
    table["encoder"] = table["encoder"].fillna("")
    return table


def noise_curve(measured_dir: Path = MEASURED_DIR) -> pd.DataFrame:
    """True state (0 cm) and each noise level: ``noise_cm``, ``success_rate``, ``median_error_cm`` in noise order."""
    table = state_on_eyes(measured_dir)
    rows = table[table["condition"].isin(["true state", "noise"])]
    return rows.sort_values("noise_cm")[["noise_cm", "success_rate", "median_error_cm", "episodes"]]


def on_eyes(measured_dir: Path = MEASURED_DIR) -> pd.DataFrame:
    """The agent on each encoder's eyes: per encoder the mean, min and max success over eyes seeds, the seeds, and
    the median position error it met (median over seeds)."""
    table = state_on_eyes(measured_dir)
    eyes = table[table["condition"] == "eyes"]
    grouped = eyes.groupby("encoder")
    return pd.DataFrame({"mean": grouped["success_rate"].mean(), "min": grouped["success_rate"].min(),
                         "max": grouped["success_rate"].max(), "seeds": grouped["eyes_seed"].nunique(),
                         "episodes": grouped["episodes"].first(), "error_met_cm": grouped["median_error_cm"].median()})


def _cm(value: float) -> str:
    return f"{value:.1f} cm"


def _pct(value: float) -> str:
    return f"{100 * value:.0f}%"


def eyes_facts(measured_dir: Path = MEASURED_DIR) -> dict[str, str]:
    """What Step 1's eyes-first section states, for ``{glue:text}``; every value computed from the measured files."""
    errors = errors_by_encoder(measured_dir)
    manifest = load_manifest("eyes", measured_dir)
    chosen = manifest["summary"]["chosen_mix"]
    mixes = mix_comparison(measured_dir)
    agent = on_eyes(measured_dir)
    table = state_on_eyes(measured_dir)
    true = table[table["condition"] == "true state"].iloc[0]
    zeroed = table[table["condition"] == "rotation zeroed"].iloc[0]
    curve = noise_curve(measured_dir).set_index("noise_cm")["success_rate"]
    facts = {
        "eyes_seeds": f"{int(errors['seeds'].drop(FLOOR).min())} seeds",
        "eyes_floor": _cm(errors.loc[FLOOR, "all_median"]),
        "eyes_train_samples": f"{manifest['summary']['samples']['train']:,}",
        "eyes_episodes": str(table["episodes"].iloc[0]),
        "eyes_true": _pct(true["success_rate"]),
        "eyes_zeroed": _pct(zeroed["success_rate"]),
    }
    for encoder in ENCODER_NAMES:
        row = errors.loc[encoder]
        facts.update({
            f"eyes_{encoder}_median": _cm(row["all_median"]),
            f"eyes_{encoder}_p90": _cm(row["all_p90"]),
            f"eyes_{encoder}_near": _cm(row["near_median"]),
            f"eyes_{encoder}_near_p90": _cm(row["near_p90"]),
            f"eyes_{encoder}_mix": chosen[encoder],
            f"eyes_{encoder}_success": _pct(agent.loc[encoder, "mean"]),
            f"eyes_{encoder}_success_range": f"{_pct(agent.loc[encoder, 'min'])} to {_pct(agent.loc[encoder, 'max'])}",
            f"eyes_{encoder}_met": _cm(agent.loc[encoder, "error_met_cm"]),
        })
        facts[f"eyes_{encoder}_mixes"] = ", ".join(f"{mix} {_cm(mixes.loc[encoder, mix])}"
                                                    for mix in mixes.columns)
    noised = [f"{_pct(rate)} at {sigma:g} cm" for sigma, rate in curve.items() if sigma > 0]
    facts["eyes_noise_curve"] = ", ".join(noised[:-1]) + f" and {noised[-1]}" if len(noised) > 1 else noised[0]
    facts["eyes_near"] = f"{100 * manifest['parameters']['near_gripper_m']:g} cm"
    facts["eyes_goal_tolerance"] = f"{100 * GOAL_TOLERANCE_M:g} cm"
    velocity = velocity_errors(measured_dir)
    facts["eyes_velocity"] = f"{velocity['manipulation']:.2f} cm per step"
    facts["eyes_velocity_floor"] = f"{velocity[FLOOR]:.2f} cm per step"
    facts["eyes_velocity_verdict"] = ("no better than" if velocity["manipulation"] >= 0.9 * velocity[FLOOR]
                                      else "better than")
    facts["eyes_comparison"] = comparison(errors)
    for encoder in ENCODER_NAMES:
        met = table[(table["condition"] == "eyes") & (table["encoder"] == encoder)]["p90_error_cm"]
        facts[f"eyes_{encoder}_met_p90"] = _cm(met.median())
    reference = table[(table["condition"] == "noise") & (table["noise_cm"] == REFERENCE_NOISE_CM)]
    facts["eyes_noise_1_p90"] = _cm(float(reference["p90_error_cm"].iloc[0])) if len(reference) else "not measured"
    facts["eyes_noise_1_sigma"] = f"{REFERENCE_NOISE_CM:g} cm"
    facts["eyes_meaning"] = eyes_meaning(agent["mean"], float(true["success_rate"]))
    return facts


def comparison(errors: pd.DataFrame) -> str:
    """Which encoder's eyes are the more precise, in the median and in the tail (90th percentile) together."""
    nature, manipulation = errors.loc["nature"], errors.loc["manipulation"]
    columns = ["all_median", "all_p90"]
    if (nature[columns] <= manipulation[columns]).all():
        return "NatureCNN's eyes are at least as precise as ManipulationCNN's, in the median and in the tail"
    if (manipulation[columns] <= nature[columns]).all():
        return "ManipulationCNN's eyes are at least as precise as NatureCNN's, in the median and in the tail"
    return "Neither encoder's eyes are the more precise in both the median and the tail"


def good_enough(success_on_eyes: float, success_on_truth: float) -> bool:
    """Eyes are good enough for control when the agent reading them keeps at least half its true-state success."""
    return success_on_eyes >= 0.5 * success_on_truth


def eyes_meaning(success_on_eyes: pd.Series, success_on_truth: float) -> str:
    """What the eyes-first measurements mean for the chapter's arc, chosen by what was measured (a sentence per case,
    so the page never states a verdict the data do not give)."""
    enough = {encoder: good_enough(success_on_eyes[encoder], success_on_truth) for encoder in ENCODER_NAMES}
    if all(enough.values()):
        return ("Both encoders' eyes are good enough to push with: the agent keeps at least half of its success on the "
                "true state. So Step 0's suspicion is too strong. NatureCNN's stride of four does not stop an encoder "
                "from seeing the puck well enough for control; what the pixel policies of Steps 0 and 1 (and the "
                "students above) lacked is a learning signal that teaches it to. A supervised loss with simulator "
                "labels gives one in minutes; imitation at the students' budget did not")
    if not any(enough.values()):
        return ("Neither encoder's eyes are good enough to push with at this training budget: the agent reading them "
                "keeps less than half of its success on the true state. The noise curve says why: their errors sit "
                "where the agent's success has already fallen. Seeing the puck roughly is not enough; control needs it "
                "to within a centimetre or two")
    good = next(e for e, ok in enough.items() if ok)
    bad = next(e for e, ok in enough.items() if not ok)
    return (f"{ENCODER_NAMES[good]}'s eyes are good enough to push with and {ENCODER_NAMES[bad]}'s are not: the agent "
            f"keeps at least half of its true-state success on the first and less on the second. Both locate the "
            f"puck far better than guessing, but control needs it to within a centimetre or two, where the two "
            f"encoders part")


# --- claims -------------------------------------------------------------------------------------------------------


def eyes_see_the_puck(data) -> list[str]:
    """Every seed of each encoder's eyes locates the puck on held-out episodes far better than learning nothing."""
    table = held_out_errors(data.data_dir / "measured")
    floor = float(table.loc[table["encoder"] == FLOOR, "all_median"].iloc[0])
    bad = table[(table["encoder"] != FLOOR) & (table["all_median"] > FAR_BELOW * floor)]
    return [f"CLAIM BROKEN 'both encoders' eyes locate the puck far below the learned-nothing {floor:.2g} cm': "
            f"{r['encoder']} seed {r['seed']} median {r['all_median']:.2g} cm (data/measured/eyes/errors.csv)"
            for _, r in bad.iterrows()]


def eyes_below_noise_curve(data) -> list[str]:
    """Every pair of eyes costs the agent more than Gaussian noise of the same median error: its success lies below
    the noise curve (straight segments between the measured levels) at its own median error."""
    measured = data.data_dir / "measured"
    curve, table = noise_curve(measured), state_on_eyes(measured)
    eyes = table[table["condition"] == "eyes"]
    out = []
    for _, row in eyes.iterrows():
        expected = float(np.interp(row["median_error_cm"], curve["median_error_cm"], curve["success_rate"]))
        if row["success_rate"] >= expected:
            out.append(f"CLAIM BROKEN 'the eyes cost more than noise of the same median error': {row['encoder']} seed "
                       f"{row['eyes_seed']} succeeds in {row['success_rate']:.0%} at {row['median_error_cm']:.2f} cm, "
                       f"the noise curve {expected:.0%} there (data/measured/state_on_eyes/success.csv)")
    return out


def eyes_worse_near_gripper(data) -> list[str]:
    """Each encoder's eyes err more with the gripper near the puck than over all frames (medians over seeds)."""
    errors = errors_by_encoder(data.data_dir / "measured")
    return [f"CLAIM BROKEN 'the eyes err most with the gripper near the puck': {encoder} median "
            f"{errors.loc[encoder, 'near_median']:.2f} cm near the gripper, {errors.loc[encoder, 'all_median']:.2f} cm "
            "over all frames (data/measured/eyes/errors.csv)"
            for encoder in ENCODER_NAMES if errors.loc[encoder, "near_median"] <= errors.loc[encoder, "all_median"]]


def precision_matters(data) -> list[str]:
    """The state agent's success falls as the noise on the puck's position grows: the largest noise costs at least
    half of what it scores on the true state."""
    curve = noise_curve(data.data_dir / "measured")
    true, worst = float(curve["success_rate"].iloc[0]), float(curve["success_rate"].iloc[-1])
    if worst <= 0.5 * true:
        return []
    return [f"CLAIM BROKEN 'a policy must see the puck to within a few centimetres': at "
            f"{curve['noise_cm'].iloc[-1]:g} cm of noise the state agent still succeeds in {worst:.0%} against "
            f"{true:.0%} on the true state (data/measured/state_on_eyes/success.csv)"]
