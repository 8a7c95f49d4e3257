"""The suite builds the book once: its tests share one xdist worker, and a second build fails loudly."""
import pytest

from conftest import BOOK_TEST_FILES, _claim_the_only_book_build, xdist_scope


def test_the_book_s_tests_form_one_scope_and_every_other_test_its_own():
    book_tests = [f"{BOOK_TEST_FILES[0]}::test_the_book_builds", f"{BOOK_TEST_FILES[1]}::test_pages[intro-390]"]
    assert {xdist_scope(nodeid) for nodeid in book_tests} == {"book"}
    others = ["tests/test_train.py::test_a[step1]", "tests/test_train.py::test_a[step2]"]
    assert [xdist_scope(nodeid) for nodeid in others] == others


class _SessionTemp:
    """tmp_path_factory as a worker sees it: its base folder inside the session's, which all workers share."""

    def __init__(self, session_dir, worker):
        self.base = session_dir / f"popen-{worker}"
        self.base.mkdir(parents=True, exist_ok=True)

    def getbasetemp(self):
        return self.base


def test_a_second_worker_building_the_book_fails_and_names_the_first(tmp_path, monkeypatch):
    monkeypatch.setenv("PYTEST_XDIST_WORKER", "gw0")
    _claim_the_only_book_build(_SessionTemp(tmp_path, "gw0"))
    monkeypatch.setenv("PYTEST_XDIST_WORKER", "gw1")
    with pytest.raises(pytest.fail.Exception, match="gw1 was about to build the book a second time \\(gw0 built it\\)"):
        _claim_the_only_book_build(_SessionTemp(tmp_path, "gw1"))


def test_without_xdist_the_book_is_built_without_a_claim(tmp_path, monkeypatch):
    monkeypatch.delenv("PYTEST_XDIST_WORKER", raising=False)
    _claim_the_only_book_build(_SessionTemp(tmp_path, "main"))
    _claim_the_only_book_build(_SessionTemp(tmp_path, "main"))
    assert not (tmp_path / "book-built-by").exists()
