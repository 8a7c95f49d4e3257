"""The chapter's notebooks: committed clean, one parameters cell, Colab-ready, papermill train mode."""

import json
import re
from pathlib import Path

import nbformat
import papermill
import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
PARAMETERS = ["mode", "config", "seed", "total_steps", "run_dir", "overrides", "device"]
# Train mode at test size: 48x48 frames, two stacked, small nets; 200 steps are 4 episodes, so SB3 logs one row.
TINY = {"n_envs": 2, "learning_starts": 100, "batch_size": 8, "buffer_size": 1000, "image_size": 48, "frame_stack": 2,
        "cnn_channels": 8, "cnn_dim": 32, "net_arch": [32, 32]}
TRAIN_STEPS = 200


def _read(path):
    return nbformat.read(path, as_version=4)


def test_the_five_steps_are_there():
    names = [p.name for p in NOTEBOOKS]
    assert names == [
        "00_baseline_gap.ipynb", "01_right_eyes.ipynb", "02_gradient_flow.ipynb",
        "03_patience_tax.ipynb", "04_drq_surprise.ipynb",
    ]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_committed_without_outputs(path):
    for cell in _read(path).cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None, f"{path.name}: strip outputs"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_every_cell_has_a_unique_id(path):
    """nbformat 4.5 cells carry ids (papermill and myst-nb warn, and future nbformat refuses, without them)."""
    import json

    ids = [cell.get("id") for cell in json.loads(path.read_text())["cells"]]
    assert None not in ids and len(set(ids)) == len(ids), f"{path.name}: cells without an id or with a repeated one"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_one_parameters_cell_with_the_contract(path):
    cells = [c for c in _read(path).cells if "parameters" in c.metadata.get("tags", [])]
    assert len(cells) == 1
    assert list(papermill.inspect_notebook(str(path))) == PARAMETERS


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_colab_cell_comes_first_and_sets_mujoco_gl_before_any_import(path):
    code_cells = [c for c in _read(path).cells if c.cell_type == "code"]
    first = code_cells[0].source
    assert '"google.colab" in sys.modules' in first
    assert 'os.environ.setdefault("MUJOCO_GL", "egl")' in first
    assert "import pixelpush_lib" not in first and "import mujoco" not in first
    config_url = re.search(r"url:\s*(\S+)", (ROOT / "_config.yml").read_text().split("repository:")[1]).group(1)
    assert f'REPO_URL = "{config_url}"' in first, "the Colab cell and _config.yml must name the same repository"


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_an_invalid_parameter_fails_in_the_first_cell_naming_it(path, tmp_path):
    with pytest.raises(papermill.PapermillExecutionError) as info:
        papermill.execute_notebook(str(path), str(tmp_path / "out.ipynb"), parameters={"mode": "trian"},
                                   progress_bar=False, cwd=str(ROOT))
    assert "parameter mode='trian' is not valid" in str(info.value)
    executed = _read(tmp_path / "out.ipynb")
    failed = [i for i, c in enumerate(executed.cells) if c.cell_type == "code" and any(
        o.get("output_type") == "error" for o in c.get("outputs", []))]
    injected = [i for i, c in enumerate(executed.cells) if "injected-parameters" in c.metadata.get("tags", [])]
    next_code = [i for i, c in enumerate(executed.cells) if c.cell_type == "code" and i > injected[0]][0]
    assert failed == [next_code], "validation must fail in the first cell after the parameters"


@pytest.mark.slow
@pytest.mark.parametrize("name, config", [("02_gradient_flow", "step2"), ("04_drq_surprise", "step4")])
def test_papermill_train_mode_trains_and_plots_a_measured_run(name, config, tmp_path):
    run_dir = tmp_path / "run"
    out = tmp_path / f"{name}.ipynb"
    papermill.execute_notebook(
        str(ROOT / "notebooks" / f"{name}.ipynb"), str(out),
        parameters={"mode": "train", "total_steps": TRAIN_STEPS, "run_dir": str(run_dir), "overrides": TINY,
                    "device": "cpu"},
        progress_bar=False, cwd=str(ROOT),
    )
    manifest = json.loads((run_dir / "run.json").read_text())
    assert manifest["config_name"] == config and manifest["overrides"] == TINY
    assert (run_dir / "progress.csv").read_text().count("\n") >= 2
    text = json.dumps(_read(out).cells)
    assert f"trained {config} seed 0 into {run_dir}" in text
    assert "image/png" in text


@pytest.mark.parametrize("text", ["0.30", "1,000", "2 seeds", "(measured)", "it's 0.5", "[0, 1]", "96%"])
def test_glued_text_reaches_the_page_exactly_as_written(text):
    # IPython writes text/plain through _repr_pretty_; myst-nb's {glue:text} literal_evals it before showing it
    from IPython.core.formatters import PlainTextFormatter
    from myst_nb.core.variables import format_plain_text

    from pixelpush_lib.chapter.notebook import GluedText

    assert format_plain_text(PlainTextFormatter()(GluedText(text)), "") == text
