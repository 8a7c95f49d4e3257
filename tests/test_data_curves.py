"""data/ holds the author's figures in the schema, and the loaders refuse bad files with located, fixable errors."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from datadir_helpers import copy_data, snapshot

from pixelpush_lib.core.files import sha256_file
from pixelpush_lib.core.paths import DATA_DIR
from pixelpush_lib.results.loaders import load_points, load_runs
from pixelpush_lib.results.reported import SOURCE_DIR, convert_reference
from pixelpush_lib.results.schema import ARC_STEP_TO_CONFIG, CONFIG_NAMES, DataError


def test_repo_data_loads_with_full_provenance():
    points, runs = load_points(), load_runs()
    reported = points[points["provenance"] == "reported"]
    with open(SOURCE_DIR / "reported_points.csv", newline="") if SOURCE_DIR.exists() else open(
            DATA_DIR / "reported" / "points.csv", newline="") as handle:
        assert len(reported) == sum(1 for _ in csv.DictReader(handle))
    assert reported["source_file"].str.len().gt(0).all()
    assert reported["source_line"].gt(0).all()
    assert reported["commit"].str.fullmatch(r"[0-9a-f]{40}").all()
    success = points[points["metric"] == "success_rate"]["value"].dropna()
    assert success.between(0, 1).all(), "success rates must be fractions"
    assert set(runs["config"].dropna()) <= set(CONFIG_NAMES)


def test_author_pixel_runs_say_the_policy_saw_achieved_goal():
    runs = load_runs()
    for config in ("step1", "step2", "step4"):
        inputs = runs[runs["config"] == config]["inputs"]
        assert len(inputs) and inputs.str.contains("achieved_goal").all(), config
        assert inputs.str.contains("pixels").all(), config


def test_arc_step_maps_to_config():
    runs = load_runs()
    for arc_step, config in ARC_STEP_TO_CONFIG.items():
        assert set(runs[runs["arc_step"] == arc_step]["config"]) == {config}
    assert runs[runs["arc_step"] == "other"]["config"].isna().all()


def test_conversion_is_reproducible(tmp_path):
    # Every clone checks that data/reported is what the conversion wrote (the manifest's output hashes); where the
    # author's reference files sit beside the checkout, the conversion is also re-run and compared byte for byte.
    manifest = json.loads((DATA_DIR / "reported" / "manifest.json").read_text())
    for name, digest in manifest["outputs"].items():
        assert sha256_file(DATA_DIR / "reported" / name) == digest, (
            f"data/reported/{name} differs from what the conversion wrote: regenerate it with "
            "python -m pixelpush_lib.results.reported instead of editing it")
    if not SOURCE_DIR.exists():
        return
    for name, source in manifest["sources"].items():
        assert sha256_file(SOURCE_DIR / name) == source["sha256"], f"{name} changed since the conversion"
    out = convert_reference(SOURCE_DIR, tmp_path)
    for name in ("points.csv", "runs.csv", "facts.csv", "manifest.json"):
        assert (out / name).read_bytes() == (DATA_DIR / "reported" / name).read_bytes(), (
            f"data/reported/{name} is stale: run python -m pixelpush_lib.results.reported")


def _edit_points(data: Path, row: int, column: str, value: str) -> None:
    path = data / "reported" / "points.csv"
    with open(path, newline="") as handle:
        rows = list(csv.DictReader(handle))
    rows[row - 2][column] = value  # row numbers are 1-based with the header as row 1
    with open(path, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


def _success_row(data: Path) -> int:
    with open(data / "reported" / "points.csv", newline="") as handle:
        for i, rec in enumerate(csv.DictReader(handle), start=2):
            if rec["metric"] == "success_rate" and rec["kind"] == "point":
                return i
    raise AssertionError("no success point")


@pytest.mark.parametrize("column, value, expect", [
    ("value", "95", "write 0.95 instead of 95"),
    ("value", "nan", "NaN/inf are not data"),
    ("run_id", "no_such_run", "unknown run id 'no_such_run'"),
    ("config", "step3", "unknown config 'step3'"),
    ("step", "2.44M", "is not a number"),
])
def test_bad_cell_is_located_and_explained(tmp_path, column, value, expect):
    data = copy_data(tmp_path)
    row = _success_row(data)
    _edit_points(data, row, column, value)
    before = snapshot(data)
    with pytest.raises(DataError) as info:
        load_points(data)
    message = str(info.value)
    assert "points.csv" in message and f"row {row}" in message and f"column '{column}'" in message
    assert expect in message and "Fix:" in message
    assert snapshot(data) == before


def test_missing_column(tmp_path):
    data = copy_data(tmp_path)
    path = data / "reported" / "points.csv"
    lines = path.read_text().splitlines()
    header = lines[0].split(",")
    drop = header.index("unit")
    path.write_text("\n".join(",".join(c for j, c in enumerate(next(csv.reader([ln]))) if j != drop)
                              for ln in lines[:5]) + "\n")
    with pytest.raises(DataError, match=r"points.csv, column 'unit': missing column\(s\) \['unit'\].*Fix: add"):
        load_points(data)


@pytest.mark.parametrize("content, expect", [(b"", "file is empty"), (b"\x00\x01\x02PK\x03\x04" * 50, "binary")])
def test_empty_and_binary_files(tmp_path, content, expect):
    data = copy_data(tmp_path)
    (data / "reported" / "points.csv").write_bytes(content)
    with pytest.raises(DataError, match=expect):
        load_points(data)


def test_percentage_in_a_curve_and_steps_out_of_order(tmp_path):
    data = copy_data(tmp_path)
    run = data / "runs" / "r1"
    run.mkdir(parents=True)
    (run / "manifest.json").write_text(
        '{"schema_version": 1, "run_id": "r1", "arc_step": "2", "config": "step2", "seed": 0, "inputs": "unknown",'
        ' "provenance": {"kind": "imported", "original_file": "x/progress.csv", "sha256": "ab"}}')
    (run / "curve.csv").write_text("step,metric,value\n100,success_rate,0.1\n50,success_rate,0.2\n")
    with pytest.raises(DataError, match=r"curve.csv, row 3, column 'step': step 50 .* does not come after step 100"):
        load_points(data)
    (run / "curve.csv").write_text("step,metric,value\n100,success_rate,40\n")
    with pytest.raises(DataError, match=r"row 2, column 'value'.*write 0.4 instead of 40"):
        load_points(data)


def test_unknown_config_in_a_run_manifest(tmp_path):
    data = copy_data(tmp_path)
    run = data / "runs" / "r2"
    run.mkdir(parents=True)
    (run / "manifest.json").write_text(
        '{"schema_version": 1, "run_id": "r2", "arc_step": "3", "config": "step3", "seed": 0, "inputs": "unknown",'
        ' "provenance": {"kind": "imported", "original_file": "p.csv", "sha256": "ab"}}')
    (run / "curve.csv").write_text("step,metric,value\n1,success_rate,0.1\n")
    with pytest.raises(DataError, match=r"manifest.json, column 'config': unknown config 'step3'"):
        load_runs(data)


def test_a_curve_read_twice_is_read_afresh_after_an_edit_and_never_shared(tmp_path):
    """load_curve memoises on the file's identity (pixelpush_lib.results.caching.cached_per_file): an atomic
    replacement or an in-place edit is read afresh, a caller's change to its frame does not reach the next
    caller, and a bad file raises every time."""
    from pixelpush_lib.results.loaders import _valid_curve_row_by_row, load_curve
    from pixelpush_lib.results.schema import read_csv_strict

    path = tmp_path / "curve.csv"
    path.write_text("step,metric,value\n100,success_rate,0.1\n200,success_rate,0.2\n100,critic_loss,3.5\n")
    first = load_curve(path)
    # The column-wise check gives what the row-by-row one gives.
    assert first.equals(_valid_curve_row_by_row(read_csv_strict(path, ("step", "metric", "value")), path))
    first.loc[0, "value"] = 0.9
    assert load_curve(path).loc[0, "value"] == 0.1
    replacement = tmp_path / "new.csv"
    replacement.write_text("step,metric,value\n100,success_rate,0.3\n")
    replacement.replace(path)  # how this project writes: atomically
    assert list(load_curve(path)["value"]) == [0.3]
    with open(path, "a") as handle:  # an edit in place
        handle.write("300,success_rate,0.5\n")
    assert list(load_curve(path)["value"]) == [0.3, 0.5]
    with open(path, "a") as handle:
        handle.write("250,success_rate,0.6\n")
    for _ in range(2):
        with pytest.raises(DataError, match=r"row 4, column 'step': step 250"):
            load_curve(path)


def test_a_copy_of_a_file_already_read_is_not_parsed_again_but_an_edited_copy_is(tmp_path):
    """cached_per_file keeps a frame per content: the tests' edited copies of data/ re-parse only the edited file."""
    import pandas as pd

    from pixelpush_lib.results.caching import cached_per_file

    parsed = []

    @cached_per_file
    def read(path):
        parsed.append(path.name)
        return pd.read_csv(path)

    original, copy, edited = tmp_path / "a.csv", tmp_path / "b.csv", tmp_path / "c.csv"
    original.write_text("x\n1\n")
    copy.write_text("x\n1\n")
    edited.write_text("x\n2\n")
    assert list(read(original)["x"]) == list(read(copy)["x"]) == [1]
    assert list(read(edited)["x"]) == [2]
    assert parsed == ["a.csv", "c.csv"]
    copy.write_text("x\n30\n")  # the copy edited in place (another size, as a coarse clock may keep its mtime)
    assert list(read(copy)["x"]) == [30] and parsed[-1] == "b.csv"
    from pixelpush_lib.results.loaders import load_curve
    from pixelpush_lib.results.schema import DataError

    with pytest.raises(DataError, match="file not found"):  # a folder: the reader's own error, not an OSError
        load_curve(tmp_path)


def test_a_result_of_many_files_is_computed_once_per_content_of_the_files_it_reads(tmp_path):
    """cached_per_folder (load_points, chapter_numbers): computed again only when a matched file changes, appears
    or goes; files the patterns do not match change nothing; a caller's change to its result reaches no other."""
    import pandas as pd

    from pixelpush_lib.results.caching import cached_per_folder

    computed = []

    @cached_per_folder("runs/*/*.csv")
    def total(data_dir):
        computed.append(1)
        return pd.DataFrame({"x": [sum(int(f.read_text()) for f in sorted(data_dir.glob("runs/*/*.csv")))]})

    (tmp_path / "runs" / "a").mkdir(parents=True)
    (tmp_path / "runs" / "a" / "v.csv").write_text("1")
    first = total(tmp_path)
    first.loc[0, "x"] = 99
    assert total(tmp_path).loc[0, "x"] == 1 and len(computed) == 1
    (tmp_path / "runs" / "a" / "notes.md").write_text("not read")
    assert total(tmp_path).loc[0, "x"] == 1 and len(computed) == 1
    (tmp_path / "runs" / "b").mkdir()
    (tmp_path / "runs" / "b" / "v.csv").write_text("2")  # a new run
    assert total(tmp_path).loc[0, "x"] == 3 and len(computed) == 2
    (tmp_path / "runs" / "a" / "v.csv").write_text("10")  # edited in place, another size
    assert total(tmp_path).loc[0, "x"] == 12 and len(computed) == 3
    (tmp_path / "runs" / "b" / "v.csv").unlink()
    assert total(tmp_path).loc[0, "x"] == 10 and len(computed) == 4


def test_chapter_numbers_follow_an_edit_of_a_run_they_have_already_read(tmp_path):
    """The memoised numbers are the data's: a project run's curve edited after a first call changes the number."""
    from pixelpush_lib.results.quoted_numbers import chapter_numbers

    import shutil

    from pixelpush_lib.core.paths import DATA_DIR

    data = copy_data(tmp_path)
    shutil.copytree(DATA_DIR / "runs", data / "runs")
    before = chapter_numbers(data)
    curve = data / "runs" / "state_s0" / "curve.csv"
    lines = curve.read_text().splitlines()
    head, rows = lines[0], lines[1:]
    last = max(int(r.split(",")[0]) for r in rows if r.split(",")[1] == "success_rate")
    kept = [r for r in rows if not (r.split(",")[1] == "success_rate" and int(r.split(",")[0]) > last // 2)]
    curve.write_text("\n".join([head, *kept]) + "\n")  # the run cut at half its length
    after = chapter_numbers(data)
    assert after != before and after == chapter_numbers(data)


def test_a_curve_with_padded_cells_loads_as_its_row_by_row_check_reads_it(tmp_path):
    """Cells the fast typed read refuses (here padding after a number) still load, through the text check."""
    from pixelpush_lib.results.loaders import _valid_curve_row_by_row, load_curve
    from pixelpush_lib.results.schema import read_csv_strict

    path = tmp_path / "curve.csv"
    path.write_text("step,metric,value\n100 ,success_rate, 0.1\n200,success_rate,0.2 \n")
    assert load_curve(path).equals(_valid_curve_row_by_row(read_csv_strict(path, ("step", "metric", "value")), path))
    assert list(load_curve(path)["step"]) == [100, 200]


@pytest.mark.parametrize("content, expect", [
    (b"", r"curve.csv: file is empty\. Fix: write a header row"),
    (b"\x00\x01\x02PK\x03\x04" * 50, r"curve.csv: file is binary"),
    ("step,metric,value\n100,success_rate,0.5 \u00e9\n".encode("latin-1"), r"curve.csv: file is not UTF-8 text"),
    (b"step,metric,value\n", r"curve.csv: no data rows\. Fix: a curve needs"),
    (b"step,metric\n100,success_rate\n", r"curve.csv, column 'value': missing column\(s\) \['value'\]"),
    (b"step,metric,value\n100,success_rate,0.1\n200,success_rate,high\n", r"row 3, column 'value': 'high' is not"),
    (b"step,metric,value\n100,success_rate,0.5\n200,success_rate,0,6\n",  # a decimal comma: never read as 0
     r"curve.csv: a row's cells do not match the header \(Expected 3 fields in line 3, saw 4\)\. Fix: give every"),
])
def test_a_curve_file_the_typed_read_refuses_is_named_by_the_text_check(tmp_path, content, expect):
    """The typed read comes first; every file it refuses still fails with the text check's located message."""
    from pixelpush_lib.results.loaders import load_curve

    path = tmp_path / "curve.csv"
    path.write_bytes(content)
    with pytest.raises(DataError, match=expect):
        load_curve(path)
