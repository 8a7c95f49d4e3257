"""Convert the author's transcribed figures (``../shared/reference``) into ``data/reported/`` in the chapter schema.

Run ``python -m pixelpush_lib.results.reported [SRC_DIR] [DATA_DIR]`` to rebuild ``data/reported/`` (the output is
committed, so notebooks never need ``../shared``). The conversion adds, never changes, information:

* ``config`` from runs.csv's ``arc_step`` (:data:`pixelpush_lib.results.schema.ARC_STEP_TO_CONFIG`);
* ``seed`` from a ``seedN`` run-id suffix or a ``--seed N`` in the reported command, else empty;
* ``inputs`` (what the policy saw) with the evidence for it (:func:`run_inputs`);
* ``span_end``/``span_open`` parsed from the transcriber's ``span_end=`` notes (the note is kept verbatim);
* ``unit`` per metric, and ``provenance = reported`` on every row.

``facts.csv`` holds the step-less figures of ``claims.md`` (memory math, DrQ noise), transcribed from it with the
author's file, lines and commit, and ``via`` = the claims.md line they were read from.
"""

from __future__ import annotations

import csv
import json
import re
import sys
from pathlib import Path

from pixelpush_lib.core.files import atomic_write, sha256_file, write_text_atomic
from pixelpush_lib.core.paths import DATA_DIR, SHARED_REFERENCE_DIR
from pixelpush_lib.results.schema import (
    ARC_STEP_TO_CONFIG,
    FACT_COLUMNS,
    HEAD_COMMIT,
    METRIC_UNITS,
    POINT_COLUMNS,
    RUN_COLUMNS,
    SCHEMA_VERSION,
)

#: Default location of the author's transcribed figures, next to the repository.
SOURCE_DIR = SHARED_REFERENCE_DIR
#: The author's repository HEAD the transcription was read at (../shared/reference/README.md).
PIXEL_EVIDENCE = ("tutorials/ch09_pixel_push.md:94,105 ('achieved_goal (3D) -> passthrough'); "
                  "scripts/labs/manipulation_encoder.py:216; scripts/ch09_pixel_push.py:244 (goal_mode='both'), at HEAD "
                  "e871ca2, per ../shared/reference/README.md")
STATE_EVIDENCE = "state-based SAC+HER on FetchPush-v4: the 25-D observation plus both goals of the observation dict"

# (fact, value, value_low, value_high, unit, source_file, source_lines, commit, claims.md line, note)
# Transcribed from ../shared/reference/claims.md; the author's own file/line/commit are kept.
_OLD = "4e0a29be7c794319992ae62caf92570e4d7114c6"
FACTS: tuple[tuple, ...] = (
    ("pixel_obs_bytes", 84672, None, None, "B", "tasks/critic_encoder_status.md", "211,240", HEAD_COMMIT, 27,
     "12x84x84 uint8 (4 stacked RGB frames)"),
    ("pixel_transition_bytes", 169344, None, None, "B", "tasks/critic_encoder_status.md", "211,240", HEAD_COMMIT, 27,
     "obs + next_obs, ~165 KB; ~170 KB with vectors"),
    ("buffer_1m_pixels_gb", 169.34, None, None, "GB", "tasks/critic_encoder_status.md", "192,215-217,226",
     HEAD_COMMIT, 28, "1M-transition buffer, pixels only"),
    ("sb3_memory_warning_gb", 169.62, None, None, "GB", "tasks/critic_encoder_status.md", "192,215-217,226",
     HEAD_COMMIT, 28, "SB3 warning '169.62GB > 58.52GB' on a 119 GB machine"),
    ("sb3_memory_available_gb", 58.52, None, None, "GB", "tasks/critic_encoder_status.md", "192,215-217,226",
     HEAD_COMMIT, 28, "the available memory in the same SB3 warning"),
    ("max_safe_buffer_transitions", 614000, None, None, "transitions", "tasks/critic_encoder_status.md", "256",
     HEAD_COMMIT, 28, "'~614,000'"),
    ("max_safe_buffer_transitions", 600000, None, None, "transitions", "tasks/lessons.md", "220", HEAD_COMMIT, 28,
     "'~600K'"),
    ("buffer_500k_gb", 83, None, None, "GB", "tasks/critic_encoder_status.md", "259", HEAD_COMMIT, 29, "'~83 GB'"),
    ("buffer_500k_gb", 85, None, None, "GB", "tasks/critic_encoder_status.md", "524", HEAD_COMMIT, 29, "'85 GB'"),
    ("buffer_500k_gb", 80, None, None, "GB", "tutorials/ch09_pixel_push.md", "674", HEAD_COMMIT, 29,
     "'~80 GB' in the memory table"),
    ("buffer_500k_gb", 40, None, None, "GB", "tutorials/ch09_pixel_push.md", "612,818", HEAD_COMMIT, 30,
     "stale '~40 GB' (table corrected from ~40 to ~80 GB in commit ba34f93)"),
    ("buffer_500k_gb", 85, None, None, "GB", "Manning/chapters/ch09_pixel_push.md", "160", _OLD, 29,
     "'~80 GB pixels / ~85 GB total'"),
    ("state_transition_bytes", 200, None, None, "B", "tasks/critic_encoder_status.md", "304-305", HEAD_COMMIT, 32,
     "'~200 B'"),
    ("state_buffer_1m_mb", 248, None, None, "MB", "tasks/critic_encoder_status.md", "304-305", HEAD_COMMIT, 32,
     "'~248 MB'"),
    ("drq_shift_px", 4, None, None, "px", "tasks/critic_encoder_status.md", "581-586", HEAD_COMMIT, 12,
     "DrQ pad/shift of +/-4 px on 84x84"),
    ("drq_noise_coord", 0.10, None, None, "[-1,1] coordinate", "tasks/critic_encoder_status.md", "581-586",
     HEAD_COMMIT, 12, "+/-1 px on the 21x21 map = +/-0.10; doubles to +/-0.20 with independent obs/next_obs shifts"),
    ("drq_noise_coord", 0.42, None, None, "[-1,1] coordinate", "tasks/critic_encoder_status.md", "131-133",
     HEAD_COMMIT, 13, "'+/-0.42 noise', 'distance ~0.74', '57% noise-to-signal'; flagged by the author's review "
     "(Manning/reviews/ch09_review.md:107@4e0a29b)"),
    ("drq_noise_coord_doubled", 0.20, None, None, "[-1,1] coordinate", "tasks/critic_encoder_status.md", "581-586",
     HEAD_COMMIT, 12, "obs and next_obs augmented independently"),
    ("drq_signal_coord", None, 0.25, 0.50, "[-1,1] coordinate", "tasks/critic_encoder_status.md", "581-586",
     HEAD_COMMIT, 12, "gripper-puck distance signal"),
    ("drq_noise_to_signal", None, 0.40, 0.80, "fraction", "tasks/critic_encoder_status.md", "581-586", HEAD_COMMIT,
     12, "'40-80%'"),
    ("drq_noise_to_signal", 0.57, None, None, "fraction", "tasks/critic_encoder_status.md", "131-133", HEAD_COMMIT,
     13, "'57% noise-to-signal' (with the +/-0.42 figure)"),
    ("q_always_failing", -18.5, None, None, "return", "tasks/critic_encoder_status.md", "125", HEAD_COMMIT, 24,
     "gamma=0.95, 50-step episodes"),
    ("step2_wall_time_to_4m_h", 40, None, None, "h", "tasks/critic_encoder_status.md", "607", HEAD_COMMIT, 45, "'~40 h'"),
    ("step2_wall_time_to_4m_h", 25, None, None, "h", "tutorials/ch09_pixel_push.md", "892", HEAD_COMMIT, 45, "'~25 h'"),
    ("step2_wall_time_to_4m_h", 37, None, None, "h", "tutorials/ch09_pixel_push.md", "834",
     "6fe5f6746c5532b53b53470869847275f87f81ad", 45, "'~37 h' (older commit)"),
)


def run_seed(run_id: str, command: str) -> int | None:
    """Seed from a ``seedN`` run-id suffix, else from ``--seed N`` in the reported command; None if neither."""
    match = re.search(r"seed(\d+)$", run_id) or re.search(r"--seed (\d+)\b", command)
    return int(match.group(1)) if match else None


def run_inputs(run_id: str, arc_step: str) -> tuple[str, str]:
    """What the policy saw in a reported run, and the evidence. Raises ValueError for an unclassified run id."""
    if arc_step == "state" or run_id.startswith("state_"):
        return "state+desired_goal+achieved_goal", STATE_EVIDENCE
    if run_id.startswith("naturecnn"):
        return "unknown", ("run via scripts/ch10_visual_reach.py with SB3's default CombinedExtractor "
                           "(tasks/toc_revision_plan.md:215-218); the reference does not record which observation "
                           "keys reached the policy (CombinedExtractor passes every key it is given)")
    if run_id.startswith("proprio_only"):
        return "proprio+desired_goal+achieved_goal", "--no-pixels: '16D proprio + goals' (runs.csv); " + PIXEL_EVIDENCE
    if run_id.startswith(("cell", "manipcnn", "share_encoder", "criticenc")):
        return "pixels+proprio+desired_goal+achieved_goal", PIXEL_EVIDENCE
    raise ValueError(f"run '{run_id}': no rule says what its policy saw; add one to pixelpush_lib.results.reported.run_inputs")


def _span(note: str) -> tuple[str, str]:
    """(span_end, span_open) from the transcriber's note: 'span_end=2000000+' -> ('2000000', 'false')."""
    match = re.search(r"span_end=(\d+)", note)
    if match:
        return match.group(1), "false"
    return "", "true" if "span_end=open" in note else "false"


def convert_runs(src: Path) -> list[dict[str, object]]:
    """Rows of ``data/reported/runs.csv`` from ``src/runs.csv``."""
    rows = []
    with open(src / "runs.csv", newline="", encoding="utf-8") as handle:
        for rec in csv.DictReader(handle):
            inputs, evidence = run_inputs(rec["run_id"], rec["arc_step"])
            rows.append({
                "run_id": rec["run_id"], "arc_step": rec["arc_step"],
                "config": ARC_STEP_TO_CONFIG.get(rec["arc_step"], ""),
                "seed": run_seed(rec["run_id"], rec["config"]), "inputs": inputs, "inputs_evidence": evidence,
                "description": rec["description"], "hyperparameters": rec["config"],
                "total_steps_reported": rec["total_steps_reported"], "status": rec["status"],
                "provenance": "reported", "source_file": rec["source_file"], "source_line": rec["source_line"],
                # runs.csv gives no commit; the reference README says figures were read at HEAD unless marked.
                "commit": HEAD_COMMIT,
            })
    return rows


def convert_points(src: Path, runs: list[dict[str, object]]) -> list[dict[str, object]]:
    """Rows of ``data/reported/points.csv`` from ``src/reported_points.csv`` (same order, one row per row)."""
    by_id = {r["run_id"]: r for r in runs}
    rows = []
    with open(src / "reported_points.csv", newline="", encoding="utf-8") as handle:
        for rec in csv.DictReader(handle):
            run = by_id[rec["run_id"]]
            if run["arc_step"] != rec["arc_step"]:
                raise ValueError(f"{rec['run_id']}: arc_step {rec['arc_step']} differs from runs.csv's {run['arc_step']}")
            span_end, span_open = _span(rec["note"])
            rows.append({
                **{k: rec[k] for k in ("run_id", "arc_step", "metric", "step", "value", "value_low", "value_high",
                                       "kind", "source_file", "source_line", "commit", "note")},
                "config": run["config"], "seed": run["seed"], "unit": METRIC_UNITS[rec["metric"]],
                "span_end": span_end, "span_open": span_open, "provenance": "reported",
            })
    return rows


def convert_facts() -> list[dict[str, object]]:
    """Rows of ``data/reported/facts.csv`` from :data:`FACTS`."""
    rows = []
    for fact, value, low, high, unit, file, lines, commit, claims_line, note in FACTS:
        rows.append({"fact": fact, "value": value, "value_low": low, "value_high": high, "unit": unit,
                     "source_file": file, "source_lines": lines, "commit": commit,
                     "via": f"../shared/reference/claims.md:{claims_line}", "note": note})
    return rows


def _write_csv_atomic(path: Path, columns: tuple[str, ...], rows: list[dict[str, object]]) -> None:
    with atomic_write(path, "w") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(columns), lineterminator="\n")
        writer.writeheader()
        for row in rows:
            writer.writerow({k: "" if row.get(k) is None else row[k] for k in columns})


def convert_reference(src_dir: Path = SOURCE_DIR, data_dir: Path = DATA_DIR) -> Path:
    """Write ``data_dir/reported/{runs,points,facts}.csv`` and ``manifest.json``; returns the folder.

    Deterministic: the same sources give byte-identical files (no timestamps), so ``git diff`` shows real changes.
    """
    src, out = Path(src_dir), Path(data_dir) / "reported"
    runs = convert_runs(src)
    _write_csv_atomic(out / "runs.csv", RUN_COLUMNS, runs)
    _write_csv_atomic(out / "points.csv", POINT_COLUMNS, convert_points(src, runs))
    _write_csv_atomic(out / "facts.csv", FACT_COLUMNS, convert_facts())
    manifest = {
        "schema_version": SCHEMA_VERSION, "provenance": "reported",
        "converter": "python -m pixelpush_lib.results.reported (pixelpush_lib/results/reported.py)",
        "author_repository": "VladPrytula/robotics_series", "author_head_commit": HEAD_COMMIT,
        "sources": {name: {"path": f"../shared/reference/{name}", "sha256": sha256_file(src / name)}
                    for name in ("reported_points.csv", "runs.csv", "claims.md", "README.md")},
        # what this conversion wrote: a clone without the sources can still tell a hand edit from the conversion
        "outputs": {name: sha256_file(out / name) for name in ("points.csv", "runs.csv", "facts.csv")},
    }
    write_text_atomic(out / "manifest.json", json.dumps(manifest, indent=2) + "\n")
    return out


if __name__ == "__main__":
    args = [Path(a) for a in sys.argv[1:3]]
    print(convert_reference(*args))
