"""The notebooks' Colab cell and `make colab-check` (scripts/colab_check.py), without Colab and without a download.

`make colab-check` itself installs several GB and is not part of `make test`; these tests keep the cell in the shape
that the check runs, and the chapter's imports inside what the cell installs.
"""

import ast
import importlib.util
import re
import sys
from importlib.metadata import packages_distributions
from pathlib import Path

import pytest

tomllib = pytest.importorskip("tomllib")  # Python 3.11+ (CI's and Colab's); 3.10 has no TOML reader built in
ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
_spec = importlib.util.spec_from_file_location("colab_check", ROOT / "scripts" / "colab_check.py")
colab_check = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(colab_check)


def _extras() -> dict[str, list[str]]:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]


def _dist_name(requirement: str) -> str:
    return re.split(r"[<>=!~;\[ ]", requirement, maxsplit=1)[0].lower().replace("_", "-")


def test_every_notebook_has_the_same_colab_cell():
    """The check runs one cell for all five: a notebook with other installs would go unchecked."""
    cells = {path.name: colab_check.first_cell(path) for path in NOTEBOOKS}
    assert len(NOTEBOOKS) == 5 and len(set(cells.values())) == 1, cells


def test_the_cell_keeps_colabs_torch_and_installs_the_colab_extra():
    cell = colab_check.first_cell(NOTEBOOKS[0])
    installs = [line.strip() for line in cell.splitlines() if re.match(r"\s*!pip install", line)]
    assert len(installs) == 1, installs
    # pip is held to the installed torch's version (its metadata's, local label and all; torch.__version__ can
    # differ, as PyPI's 2.15.0 reports 2.15.0+cu132): it keeps Colab's build or fails.
    assert "\"torch=={version('torch')}\"" in installs[0]
    assert "from importlib.metadata import version" in cell
    assert "[colab]" in installs[0] and "--upgrade" not in installs[0] and "-U " not in installs[0]


def test_the_cell_is_run_with_this_repository_and_folder(tmp_path):
    cell = colab_check.first_cell(NOTEBOOKS[0])
    here = colab_check.colab_cell_here(cell, "file:///some/clone", tmp_path)
    assert 'REPO_URL = "file:///some/clone"' in here
    assert "/content" not in here and f"{tmp_path}/pixel-push" in here
    # everything else is the cell as committed
    assert here.replace("file:///some/clone", "URL").replace(str(tmp_path), "/content") == re.sub(
        r'REPO_URL = "[^"]+"', 'REPO_URL = "URL"', cell)


def test_a_cell_of_another_shape_is_refused(tmp_path):
    with pytest.raises(ValueError, match="no REPO_URL"):
        colab_check.colab_cell_here('!pip install -e /content/x\n', "file:///clone", tmp_path)


def test_what_the_notebooks_layer_imports_is_what_the_colab_cell_installs():
    """pixelpush_lib.chapter (the notebooks' helpers) imports only the library's own dependencies and the colab
    extra's: a package that only the book's extras bring would be missing in Colab."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    installed = {_dist_name(r) for r in project["dependencies"] + _extras()["colab"]}
    distributions = packages_distributions()
    imported = set()
    for path in (ROOT / "pixelpush_lib" / "chapter").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                imported |= {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0:
                imported.add(node.module.split(".")[0])
    third_party = {m for m in imported if m not in sys.stdlib_module_names and m != "pixelpush_lib"}
    assert "myst_nb" in third_party  # glue: the reason for the colab extra
    missing = {m: distributions.get(m) for m in third_party
               if not {d.lower() for d in distributions.get(m, [m])} & installed}
    assert not missing, f"imported by pixelpush_lib.chapter but not installed by the Colab cell: {missing}"


def test_the_check_is_not_part_of_make_test():
    makefile = (ROOT / "Makefile").read_text()
    assert re.search(r"^colab-check:", makefile, flags=re.MULTILINE)
    test_recipe = re.search(r"^test:.*?(?=^\S)", makefile, flags=re.MULTILINE | re.DOTALL).group(0)
    assert "colab" not in test_recipe
