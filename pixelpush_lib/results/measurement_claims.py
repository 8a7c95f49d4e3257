"""The chapter's claims about its measurement files (``data/measured``): memory and stop rules (Step 3), the probe
(Step 1) and its imitation control, DrQ's noise (Step 4), gradient routing (Step 2) and the footprint (Step 0). Listed in
:data:`pixelpush_lib.results.claims.CLAIMS`."""

from __future__ import annotations

import pandas as pd

from pixelpush_lib.results.evidence import FAR_BELOW, HAIR, LOW_BAND, Evidence
from pixelpush_lib.results.investigations.students import load_results, load_students
from pixelpush_lib.results.loaders import load_facts


def memory_fits_now(data: Evidence) -> list[str]:
    table = pd.read_csv(data.data_dir / "measured" / "memory" / "memory_gb.csv").set_index("buffer")["1M"]
    ours, sb3 = table["FrameHerReplayBuffer"], table["SB3 HerReplayBuffer"]
    available = data.numbers["sb3_memory_available_gb"]
    if not ours < available.value < sb3:
        return [f"CLAIM BROKEN 'a 1M-transition buffer could not fit with SB3's buffer and fits with ours': "
                f"ours {ours:g} GB, SB3's {sb3:g} GB, available {available.prose()} ({available.source}; "
                "data/measured/memory/memory_gb.csv)"]
    return []


def stop_rules(data: Evidence) -> list[str]:
    """Step 3's replay of stop rules (data/measured/memory/stop_rules.csv): every quoted rule that stops does so in
    Phase 1, before the onset; the state-calibrated rule stops before it; the regime-aware rule continues only on a
    trend a hair above zero."""
    rules = pd.read_csv(data.data_dir / "measured" / "memory" / "stop_rules.csv")
    onset = data.numbers["step2_onset_step"]
    where = f"(onset {onset.prose()}; data/measured/memory/stop_rules.csv)"
    out = []
    for _, rule in rules.iterrows():
        step, trend = _steps(rule["decision step"]), float(rule["success trend so far (per 1M)"])
        stops_early = rule["decision"] == "STOP" and rule["phase there"].startswith("Phase 1") and step < onset.value
        if rule["kind"] == "quoted" and rule["decision"] == "STOP" and not stops_early:
            out.append(f"CLAIM BROKEN 'quoted stop rules end Step 2's run in Phase 1, before its hockey stick': "
                       f"{rule['rule']} decides STOP at {rule['decision step']} in {rule['phase there']} {where}")
        if rule["rule"].startswith("state-calibrated") and not stops_early:
            out.append(f"CLAIM BROKEN 'a rule calibrated on state runs stops the pixel run before it works': "
                       f"{rule['rule']} decides {rule['decision']} at {rule['decision step']} {where}")
        if rule["rule"].startswith("regime-aware") and not (rule["decision"] == "continue" and 0 < trend < HAIR):
            out.append(f"CLAIM BROKEN 'the regime-aware rule continues only on a trend a hair above zero': "
                       f"{rule['rule']} decides {rule['decision']} on a trend of {trend:g} per 1M {where}")
    return out


def _steps(text: str) -> float:
    """'1.54M' or '500K' as a number of steps."""
    scale = {"M": 1e6, "K": 1e3}.get(text[-1], 1.0)
    return float(text.rstrip("MK")) * scale


def probe_finds_the_puck(data: Evidence) -> list[str]:
    errors = pd.read_csv(data.data_dir / "measured" / "probe" / "errors.csv")
    baseline = float(errors.loc[errors["encoder"] == "mean predictor", "median_px"].iloc[0])
    bad = errors[(errors["encoder"] != "mean predictor") & (errors["median_px"] > FAR_BELOW * baseline)]
    return [f"CLAIM BROKEN 'both encoders find the puck, far below the mean predictor's {baseline:.2g} px': "
            f"{r['encoder']} seed {r['seed']} median {r['median_px']:.2g} px (data/measured/probe/errors.csv)"
            for _, r in bad.iterrows()]


def _drq_samples(data: Evidence) -> pd.DataFrame:
    return pd.read_csv(data.data_dir / "measured" / "drq_noise" / "samples_trained.csv")


def drq_log_range_is_the_tail(data: Evidence) -> list[str]:
    ratio = _drq_samples(data)["nsr_puck_estimate"]
    log_low = data.numbers["drq_noise_to_signal"].low
    median, source = float(ratio.median()), "data/measured/drq_noise/samples_trained.csv"
    out = []
    if not 0.1 <= median < log_low:
        out.append(f"CLAIM BROKEN 'DrQ's noise is of the signal's order, typically below the log's {log_low:.0%}': "
                   f"median noise-to-signal {median:.0%} ({source})")
    if not (ratio >= log_low).any():
        out.append(f"CLAIM BROKEN 'the log's range describes the tail of the measured distribution': no sample "
                   f"reaches {log_low:.0%} ({source})")
    return out


def drq_swamps_close_states(data: Evidence) -> list[str]:
    samples, source = _drq_samples(data), "data/measured/drq_noise/samples_trained.csv"
    log_low = data.numbers["drq_noise_to_signal"].low
    overall = float(samples["signal"].median())
    above = samples[samples["nsr_puck_estimate"] > log_low]
    swamped = samples[(samples["nsr_puck_estimate"] >= 1) & (samples["signal"] < overall)]
    out = []
    if len(above) and float(above["signal"].median()) >= overall:
        out.append(f"CLAIM BROKEN 'the noisiest samples are the states where gripper and puck are close': their "
                   f"median signal {above['signal'].median():.2f} is not below the overall {overall:.2f} ({source})")
    if swamped.empty:
        out.append(f"CLAIM BROKEN 'next to the puck the noise can swamp the signal': no sample with the gripper "
                   f"closer than the median ({overall:.2f} units) has noise >= signal ({source})")
    return out


def drq_large_noise_not_reproduced(data: Evidence) -> list[str]:
    facts = load_facts(data.data_dir)
    log_large = float(facts.loc[facts["fact"] == "drq_noise_coord", "value"].astype(float).max())
    samples = _drq_samples(data)
    bad = samples[samples["puck_estimate"] >= log_large]
    return [f"CLAIM BROKEN 'the log's noise of {log_large:g} units is not reproduced': state {int(r['state'])} moved "
            f"the puck estimate by {r['puck_estimate']:.3g} units (data/measured/drq_noise/samples_trained.csv)"
            for _, r in bad.iterrows()]


def gradient_routing(data: Evidence) -> list[str]:
    table = pd.read_csv(data.data_dir / "measured" / "gradflow" / "table.csv").set_index(["routing", "encoder"])
    expected = {("SB3 shared extractor", "shared encoder"): ("actor loss", "critic loss"),
                ("CriticEncoderPolicy (DrQ-v2)", "shared encoder"): ("critic loss", "actor loss")}
    out = []
    for row, (teacher, silent) in expected.items():
        if not (table.loc[row, teacher] > 0 and table.loc[row, silent] == 0):
            out.append(f"CLAIM BROKEN '{row[0]} learns from the {teacher} alone': gradient norms {teacher} "
                       f"{table.loc[row, teacher]:.3g}, {silent} {table.loc[row, silent]:.3g} "
                       "(data/measured/gradflow/table.csv)")
    return out


def footprint_dilution(data: Evidence) -> list[str]:
    per_state = pd.read_csv(data.data_dir / "measured" / "footprint" / "per_state.csv")
    share = per_state.groupby(["encoder", "layer"])["max_puck_share"].median()
    owned = per_state.groupby(["encoder", "layer"])["cells_owned"].median()
    nature_last, manip_last = share["NatureCNN"].iloc[-1], share["ManipulationCNN"].iloc[-1]
    source = "data/measured/footprint/per_state.csv"
    out = []
    if not nature_last < manip_last:
        out.append(f"CLAIM BROKEN 'NatureCNN's third layer dilutes the puck more than ManipulationCNN's last': "
                   f"median best-cell share {nature_last:.0%} vs {manip_last:.0%} ({source})")
    if not owned["NatureCNN"].iloc[0] > 1:
        out.append(f"CLAIM BROKEN 'NatureCNN's first layer does not shrink the puck to one cell': median "
                   f"{owned['NatureCNN'].iloc[0]:g} cells owned ({source})")
    return out


def imitation_control_pushes(data: Evidence) -> list[str]:
    """Step 1's imitation section: the state policy, taught on the pixel students' labels and training, pushes
    (above the failure band in every seed) at the last round every pixel student finished."""
    measured = data.data_dir / "measured"
    last = load_students(measured).common_round()
    control = load_results(measured, "distill_control").curve
    at = control[control["round"] == last]
    claim = "CLAIM BROKEN 'the state control pushes on the students' budget'"
    if at.empty:
        return [f"{claim}: no control row at round {last} (data/measured/distill_control/curve.csv)"]
    return [f"{claim}: seed {r['seed']} reads {r['success_rate']:.0%} at round {last} "
            "(data/measured/distill_control/curve.csv)" for _, r in at.iterrows() if r["success_rate"] <= LOW_BAND]
