"""The pixel-driven agent a learner can load and watch: the state agent acting through label-trained eyes
(``pixelpush_lib.training.pixel_agent``), as the registry records it, and whether a DAgger pass lifts it."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from pixelpush_lib.core.paths import MEASURED_DIR
from pixelpush_lib.results.measured import load_manifest
from pixelpush_lib.results.quoted_numbers import format_value
from pixelpush_lib.results.registry import REGISTRY, get_entry

#: The registered agent the investigations page shows.
PIXEL_AGENT = "state_on_eyes_s0"


def pixel_agent_facts(name: str = PIXEL_AGENT, registry: Path | str = REGISTRY) -> dict[str, str]:
    """``pixel_agent_success``, its evaluation with its kind, ``pixel_agent_controller``, the state agent inside it,
    and its own success in the same protocol, and ``pixel_agent_training``, how each part was trained, for
    ``{glue:text}``."""
    entry = get_entry(name, registry)
    if entry.trained_by != "composed":
        raise ValueError(f"{name} in {registry} is trained_by={entry.trained_by!r}, not a state agent acting through "
                         "eyes ('composed'); register one with `pixelpush checkpoints add ... --eyes --controller`")
    controller = entry.parts["controller"]
    return {
        "pixel_agent_name": name,
        "pixel_agent_success": (f"{format_value(entry.success_rate, 'fraction')} (measured) over {entry.n_episodes} "
                                "unseen episodes"),
        "pixel_agent_controller": (f"{controller['checkpoint']}, {format_value(controller['success_rate'], 'fraction')} "
                                   "on the true state in the same protocol (measured)"),
        "pixel_agent_training": entry.training(),
    }


def dagger_facts(measured_dir: Path | str = MEASURED_DIR) -> dict[str, str]:
    """What the investigations say of the DAgger pass through the eyes (``data/measured/dagger``,
    ``experiments.investigations.dagger``), keyed ``dagger_*`` for ``{glue:text}``: its size, success before and
    after on the same episodes (measured), how many episodes flipped each way, the verdict, and its sources."""
    folder = Path(measured_dir) / "dagger"
    manifest = load_manifest("dagger", Path(measured_dir))
    summary, protocol, prov = manifest["summary"], manifest["parameters"], manifest["provenance"]
    rounds = pd.read_csv(folder / "rounds.csv")
    before, after = (format_value(summary[k], "fraction") for k in ("success_before", "success_after"))
    up, down, p = summary["flipped_to_success"], summary["flipped_to_failure"], summary["sign_test_p"]
    verdict = (f"a split that chance alone gives rarely (sign test p = {p:.2g}): the pass lifts it" if summary["lifted"]
               else f"a split that chance alone gives often (sign test p = {p:.2g}): no lift, so no second agent "
                    "is registered")
    return {
        "dagger_size": (f"{protocol['rounds']} rounds of {protocol['episodes_per_round']} episodes, "
                        f"{int(rounds['labels'].iloc[-1]):,} labels and {prov['wall_time_s'] / 60:.0f} minutes on a "
                        f"{prov['machine']['cpus']}-core CPU machine (measured)"),
        "dagger_result": f"{before} to {after} on the same {summary['episodes']} unseen episodes (measured)",
        "dagger_flips": (f"{up} {'episode' if up == 1 else 'episodes'} turned to success and {down} to failure"),
        "dagger_verdict": verdict,
        "dagger_source": (f"data/measured/dagger (rounds.csv, episodes.csv; manifest.json: `{prov['command']}` at "
                          f"commit {prov['git_commit'][:7]} on {prov['machine']['name']})"),
    }
