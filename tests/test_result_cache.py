"""Results of the repository's data/ kept on disk between processes (cached_per_folder(..., on_disk=True)): loaded
only while the files, the library's code and the versions they were computed with are the same; any fault is a miss."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from pixelpush_lib.results import caching


@pytest.fixture
def stored(tmp_path, monkeypatch):
    """A result of ``tmp_path/data`` computed as the repository's own (its default folder), cached in
    ``tmp_path/cache``; ``computed`` counts the computations, ``new_process()`` forgets what this process holds."""
    monkeypatch.setenv("PIXELPUSH_CACHE", str(tmp_path / "cache"))
    data = tmp_path / "data"
    (data / "runs" / "a").mkdir(parents=True)
    (data / "runs" / "a" / "v.csv").write_text("1")
    computed = []

    @caching.cached_per_folder("runs/*/*.csv", on_disk=True)
    def total(data_dir: Path = data) -> pd.DataFrame:
        computed.append(1)
        return pd.DataFrame({"x": [sum(int(f.read_text()) for f in sorted(data_dir.glob("runs/*/*.csv")))]})

    total.computed, total.data, total.new_process = computed, data, total.cache_clear
    total.files = lambda: sorted((tmp_path / "cache" / "results").glob("*.pickle"))
    return total


def test_the_next_process_loads_the_result_instead_of_computing_it(stored):
    assert stored().loc[0, "x"] == 1 and len(stored.computed) == 1
    (file,) = stored.files()
    assert file.name.startswith(f"{__name__}.") and "total" in file.name
    stored.new_process()
    assert stored().loc[0, "x"] == 1 and len(stored.computed) == 1


def test_an_edited_file_or_other_code_is_computed_again_and_only_the_newest_result_kept(stored, monkeypatch):
    stored()
    (stored.data / "runs" / "a" / "v.csv").write_text("5")
    stored.new_process()
    assert stored().loc[0, "x"] == 5 and len(stored.computed) == 2
    assert len(stored.files()) == 1
    monkeypatch.setattr(caching, "_LOADED_CODE", "a library edited since")
    stored.new_process()
    assert stored().loc[0, "x"] == 5 and len(stored.computed) == 3


def test_a_result_computed_while_the_library_s_files_changed_is_not_stored(stored, monkeypatch):
    """The key names the code as imported; files edited since (a checkout, an editor's save) may be neither."""
    monkeypatch.setattr(caching, "_source_digest", lambda: "the files as edited after the import")
    assert stored().loc[0, "x"] == 1 and stored.files() == []


def test_a_run_that_appears_while_the_result_is_computed_is_in_no_kept_key(tmp_path, monkeypatch):
    monkeypatch.setenv("PIXELPUSH_CACHE", str(tmp_path / "cache"))
    data = tmp_path / "data"
    for run in ("a", "b"):
        (data / "runs" / run).mkdir(parents=True)
    (data / "runs" / "a" / "v.csv").write_text("1")
    computed = []

    @caching.cached_per_folder("runs/*/*.csv", on_disk=True)
    def total(data_dir: Path = data) -> int:
        computed.append(1)
        if len(computed) == 1:
            (data / "runs" / "b" / "v.csv").write_text("10")  # collected while the first computation reads
        return sum(int(f.read_text()) for f in sorted(data_dir.glob("runs/*/*.csv")))

    assert total() == 11 and not (tmp_path / "cache" / "results").exists()
    (data / "runs" / "b" / "v.csv").unlink()
    assert total() == 1 and len(computed) == 2


def test_without_a_home_or_with_an_empty_setting_the_cache_is_never_the_working_folder(stored, monkeypatch, tmp_path):
    from pixelpush_lib.core.paths import cache_dir

    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("PIXELPUSH_CACHE", "")
    assert cache_dir() == tmp_path / "home" / ".cache" / "pixelpush"

    def no_home():
        raise RuntimeError("Could not determine home directory.")

    monkeypatch.setattr(Path, "home", no_home)
    monkeypatch.delenv("PIXELPUSH_CACHE")
    assert stored().loc[0, "x"] == 1 and stored().loc[0, "x"] == 1 and len(stored.computed) == 1


def test_a_torn_cache_file_is_a_miss_and_is_replaced(stored):
    stored()
    (file,) = stored.files()
    file.write_bytes(file.read_bytes()[:10])  # a write cut short, or another program's file
    stored.new_process()
    assert stored().loc[0, "x"] == 1 and len(stored.computed) == 2
    stored.new_process()
    assert stored().loc[0, "x"] == 1 and len(stored.computed) == 2


def test_another_folder_is_never_stored_and_an_unwritable_cache_changes_nothing(stored, tmp_path, monkeypatch):
    copy = tmp_path / "copy"
    (copy / "runs" / "a").mkdir(parents=True)
    (copy / "runs" / "a" / "v.csv").write_text("7")
    assert stored(copy).loc[0, "x"] == 7 and stored.files() == []  # a test's edited copy of data/
    (tmp_path / "not_a_folder").write_text("")
    monkeypatch.setenv("PIXELPUSH_CACHE", str(tmp_path / "not_a_folder"))
    for _ in range(2):
        stored.new_process()
        assert stored().loc[0, "x"] == 1
    assert len(stored.computed) == 3


@pytest.mark.slow
def test_the_points_and_numbers_loaded_from_disk_are_the_computed_ones(tmp_path, monkeypatch):
    """The pickled table keeps every column's type and value, and the numbers every field."""
    from pixelpush_lib.results.caching import _DiskEntry
    from pixelpush_lib.results.loaders import load_points
    from pixelpush_lib.results.quoted_numbers import _numbers_of_folder

    monkeypatch.setenv("PIXELPUSH_CACHE", str(tmp_path))
    for cached in (load_points, _numbers_of_folder):
        cached.cache_clear()
    points, numbers = load_points(), _numbers_of_folder()
    assert len(list((tmp_path / "results").glob("*.pickle"))) == 2
    monkeypatch.setattr(_DiskEntry, "save", lambda self, result: pytest.fail("computed again, not loaded"))
    for cached in (load_points, _numbers_of_folder):
        cached.cache_clear()
    pd.testing.assert_frame_equal(load_points(), points)
    assert _numbers_of_folder() == numbers
