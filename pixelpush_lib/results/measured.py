"""Reading the live experiments' measured results, ``data/measured/<experiment>/``, with their manifests."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pixelpush_lib.core.paths import MEASURED_DIR

MANIFEST = "manifest.json"
#: The steps the author's reported Step 2 wall time covers (chapter number ``step2_wall_time_to_4m_h``).
AUTHOR_TIMED_STEPS = 4_000_000
REQUIRED_FIELDS = ("schema_version", "experiment", "provenance", "parameters", "files")
REQUIRED_PROVENANCE = ("kind", "command", "git_commit", "git_dirty", "machine", "versions", "date", "wall_time_s")


def load_manifest(experiment: str, measured_dir: Path = MEASURED_DIR) -> dict[str, Any]:
    """The validated manifest of ``measured_dir/experiment`` (``FileNotFoundError`` names the rebuild command)."""
    path = Path(measured_dir) / experiment / MANIFEST
    if not path.exists():
        raise FileNotFoundError(f"{path} is missing; rebuild it with: python -m pixelpush_lib.experiments {experiment}")
    try:
        manifest = json.loads(path.read_text())
    except json.JSONDecodeError as error:
        raise ValueError(f"{path} is not valid JSON ({error}); rebuild it with: "
                         f"python -m pixelpush_lib.experiments {experiment}") from None
    validate_manifest(manifest, Path(measured_dir) / experiment)
    return manifest


def validate_manifest(manifest: dict[str, Any], folder: Path) -> None:
    """Raise ``ValueError`` unless the manifest has every provenance field and its files exist."""
    missing = [k for k in REQUIRED_FIELDS if k not in manifest]
    missing += [f"provenance.{k}" for k in REQUIRED_PROVENANCE if k not in manifest.get("provenance", {})]
    if missing:
        raise ValueError(f"{folder / MANIFEST}: missing {missing}")
    if manifest["provenance"]["kind"] != "measured":
        raise ValueError(f"{folder / MANIFEST}: provenance.kind must be 'measured'")
    absent = [name for name in manifest["files"] if not (folder / name).exists()]
    if absent:
        raise ValueError(f"{folder / MANIFEST}: listed files missing: {absent}")


def gpu_throughput_facts(measured_dir: Path = MEASURED_DIR) -> dict[str, str]:
    """Reproduce It's sentences on this pipeline's GPU speed, for ``{glue:text}``: ``gpu_throughput`` (the measured
    env-steps/s and hours per 5M steps with the card named) and ``gpu_vs_author`` (the author's reported Step 2
    hours beside what the measured speed gives for the same steps; its source is ``step2_wall_time_to_4m_h__source``,
    for the page's sources box), or that no GPU measurement has been made."""
    from pixelpush_lib.results.quoted_numbers import chapter_numbers, format_value

    if not (Path(measured_dir) / "throughput" / MANIFEST).exists():
        return {"gpu_throughput": "No GPU measurement of this project's pipeline has been made yet; "
                                  "scripts/gpu_check.sh makes one on a GPU machine",
                "gpu_vs_author": "Without that measurement there is nothing to set beside the author's hours"}
    summary = load_manifest("throughput", measured_dir)["summary"]
    author = chapter_numbers()["step2_wall_time_to_4m_h"]
    hours = AUTHOR_TIMED_STEPS / summary["ours_steps_per_s"] / 3600
    return {"gpu_throughput": f"Measured on one {summary['gpu']}, this project's {summary['config']} pipeline trains "
                              f"at {summary['ours_steps_per_s']:.0f} env-steps/s, about "
                              f"{summary['hours_per_5m_steps']:.1f} h per 5M steps (stock SB3 on the same card: "
                              f"{summary['stock_steps_per_s']:.0f} env-steps/s; median of {summary['repeats']} "
                              f"repeats of {summary['steps']:,} steps)",
            "gpu_vs_author": f"The author's first Step 2 run needed about {author.prose()} for its first "
                             f"{format_value(AUTHOR_TIMED_STEPS, 'steps')} steps (reported); at the "
                             f"measured speed the same steps would take about {hours:.1f} h on one {summary['gpu']} (from a "
                             f"benchmark of a few thousand steps, not a whole run)"}


def precision_facts(measured_dir: Path = MEASURED_DIR) -> dict[str, str]:
    """Reproduce It's sentence on bf16 mixed precision against float32 (``experiments.precision``), for
    ``{glue:text}`` (``precision_result``), or that no measurement has been made."""
    if not (Path(measured_dir) / "precision" / MANIFEST).exists():
        return {"precision_result": "No measurement of bf16 against float32 has been made yet "
                                    "(python -m pixelpush_lib.experiments precision makes one)"}
    manifest = load_manifest("precision", measured_dir)
    summary, params, machine = manifest["summary"], manifest["parameters"], manifest["provenance"]["machine"]
    located = {p: f"{summary['median_px'][p]:.2f} px ({summary['range_px'][p][0]:.2f} to "
                  f"{summary['range_px'][p][1]:.2f} px)" for p in ("bf16", "fp32")}
    return {"precision_result": (
        f"On this project's {machine['cpus']}-core CPU machine (native bfloat16 instructions: {params['cpu_bf16']}; "
        f"torch threads: {params['torch_threads']}), Step 1's probe trained {summary['bf16_speedup']:.1f} times as fast "
        f"with bf16 convolutions and located the puck to {located['bf16']} against {located['fp32']} in float32 "
        f"(median error over {summary['seeds']} seeds, and its range; measured, data/measured/precision)")}
