"""The committed measured results exist, load, and carry their provenance."""

import pytest

from pixelpush_lib.experiments.store import write_measured
from pixelpush_lib.results.measured import REQUIRED_PROVENANCE, load_manifest

PRECOMPUTED = ("probe", "drq_noise", "footprint", "gradflow", "memory", "precision")


@pytest.mark.parametrize("experiment", PRECOMPUTED)
def test_committed_results_have_a_full_manifest(experiment):
    manifest = load_manifest(experiment)
    prov = manifest["provenance"]
    assert prov["kind"] == "measured"
    assert all(prov[k] not in (None, "") for k in REQUIRED_PROVENANCE if k != "git_dirty")
    assert prov["command"].endswith(f"pixelpush_lib.experiments {experiment}")  # the full protocol, not --quick
    assert manifest["parameters"]["quick"] is False
    assert {"name", "platform", "cpus"} <= set(prov["machine"])


def test_probe_and_drq_results_load():
    from pixelpush_lib.experiments import drq_noise, probe

    result = probe.load_results()
    assert set(result.errors["encoder"]) == {"mean predictor", "nature", "manipulation"}
    assert result.model is not None and result.model.kind == "manipulation"
    noise = drq_noise.load_results()
    assert noise["trained"].encoder.startswith("ManipulationCNN+SS trained")
    assert len(noise["trained"].samples) > 100


def test_write_measured_is_atomic_and_validates(tmp_path):
    folder = write_measured("demo", {"a.txt": lambda p: p.write_text("1")}, {"quick": True}, "cmd", 0.1,
                            measured_dir=tmp_path)
    assert (folder / "a.txt").read_text() == "1"
    write_measured("demo", {"b.txt": lambda p: p.write_text("2")}, {"quick": True}, "cmd", 0.1, measured_dir=tmp_path)
    assert not (folder / "a.txt").exists() and load_manifest("demo", tmp_path)["files"] == ["b.txt"]
    assert [p.name for p in tmp_path.iterdir()] == ["demo"]
    with pytest.raises(FileNotFoundError, match="python -m pixelpush_lib.experiments missing"):
        load_manifest("missing", tmp_path)
