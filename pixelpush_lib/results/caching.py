"""Memoised readers of ``data/``: a result is kept per content of the files it read, so a page (or a test that
checks many edited copies of ``data/``) parses each version of a file once per process.

A file is known by its resolved path, inode, modification time (ns) and size; the first time a file is seen so, its
bytes are hashed. An edited or atomically replaced file is therefore read afresh.

Results for the repository's own ``data/`` can also be kept between processes (``cached_per_folder(...,
on_disk=True)``): each page of the book runs in a kernel of its own, and each rebuilt the same tables.
"""

from __future__ import annotations

import copy
import functools
import hashlib
import inspect
import pickle
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import pandas as pd

from pixelpush_lib.core.files import atomic_write
from pixelpush_lib.core.paths import cache_dir

__all__ = ["cached_per_file", "cached_per_folder"]

_Frame = TypeVar("_Frame", bound=pd.DataFrame)


class _FileDigests:
    """Content digests of files, each hashed once per version of the file (:func:`_identity`)."""

    def __init__(self) -> None:
        self._by_identity: dict[tuple[Any, ...], str] = {}

    def clear(self) -> None:
        self._by_identity.clear()

    def __len__(self) -> int:
        return len(self._by_identity)

    def of(self, path: Path) -> tuple[tuple[Any, ...], str] | None:
        """``(identity, digest)`` of the file at ``path``; None for a missing file, a folder or an unreadable one."""
        try:
            identity = _identity(path, path.stat())
            if identity not in self._by_identity:
                self._by_identity[identity] = hashlib.blake2b(path.read_bytes(), digest_size=16).hexdigest()
        except OSError:
            return None
        return identity, self._by_identity[identity]


def _still(path: Path, identity: tuple[Any, ...]) -> bool:
    """Whether the file at ``path`` is still the version ``identity`` names."""
    try:
        return _identity(path, path.stat()) == identity
    except OSError:
        return False


def cached_per_file(read: Callable[..., _Frame]) -> Callable[..., _Frame]:
    """Memoise a validating reader ``read(path, *args) -> DataFrame`` on the file's content and the args.

    The chapter's numbers, claims and figures read the same few files dozens of times per page (once per
    quoted number); validating them cell by cell each time cost seconds per call. The frame is kept per content hash
    (module docstring): an edited or atomically replaced file is read afresh, while a copy of a file
    already read (the tests check hundreds of edited copies of ``data/``, in which most files are unchanged) costs
    a hash, not a parse: no reader's frame depends on where its file lies, only its errors do, and those are never
    kept. A copy is returned, so a caller that changes its frame cannot change the next caller's. A reader that
    raises caches nothing: the same bad file raises the same error again.
    """
    digests = _FileDigests()
    cache: dict[tuple[Any, ...], _Frame] = {}

    def cache_clear() -> None:
        cache.clear()
        digests.clear()

    @functools.wraps(read)
    def reader(path: Path | str, *args: Any) -> _Frame:
        path = Path(path)
        if len(cache) >= 256 or len(digests) >= 1024:  # tests read hundreds of edited copies; keep memory flat
            cache_clear()
        version = digests.of(path)
        if version is None:
            return read(path, *args)  # a missing file or a folder: the reader says what is wrong
        identity, digest = version
        key = (digest, *(tuple(sorted(a.items())) if isinstance(a, dict) else a for a in args))
        if key in cache:
            return cache[key].copy()
        frame = read(path, *args)
        if _still(path, identity):  # else the file changed while it was read: its frame may not be the hashed content's
            cache[key] = frame
        return frame.copy()

    reader.cache_clear = cache_clear  # type: ignore[attr-defined]
    return reader


_Result = TypeVar("_Result")


def cached_per_folder(*patterns: str, on_disk: bool = False
                      ) -> Callable[[Callable[[Path], _Result]], Callable[[Path], _Result]]:
    """Memoise ``compute(data_dir)`` (its one parameter, named so) on the content of the files under ``data_dir``
    that ``patterns`` match (globs relative to it, e.g. ``"runs/*/*"``): the rule of :func:`cached_per_file`, for a
    result built from many files.

    For results that read only those files. Their names are part of the key, so a file added or removed is a new
    key; so is the folder's own place, as a result may name the files it read. Each call still costs a stat per file
    (and a hash per new version), not a parse. A (shallow) copy is returned: a DataFrame's copy is deep, a dict's
    items are shared and must not be changed (frozen ``Number`` objects).
    A result computed while one of its files changed is not kept; a computation that raises keeps nothing.

    ``on_disk``: the result for ``compute``'s default folder (the repository's ``data/``) is also pickled under
    ``cache_dir()/results``, keyed on the same digests plus ``_LOADED_CODE`` (:func:`_source_digest` as imported:
    the library's source, Python's, pandas' and numpy's versions), so the next process loads it instead of computing
    it. One file per function and folder is kept. A cache file that cannot be read or written is passed over: the
    result is computed as without it.
    """

    def decorate(compute: Callable[[Path], _Result]) -> Callable[[Path], _Result]:
        digests = _FileDigests()
        cache: dict[tuple[Any, ...], _Result] = {}

        def cache_clear() -> None:
            cache.clear()
            digests.clear()

        default = inspect.signature(compute).parameters["data_dir"].default  # e.g. DATA_DIR

        @functools.wraps(compute)
        def cached(data_dir: Path | str = default) -> _Result:
            data_dir = Path(data_dir)
            if len(cache) >= 32 or len(digests) >= 4096:  # edited copies of data/ in the tests; keep memory flat
                cache_clear()

            def matched() -> list[Path]:
                return sorted({f for pattern in patterns for f in data_dir.glob(pattern) if f.is_file()})

            files = matched()
            versions = [digests.of(f) for f in files]
            if any(v is None for v in versions):  # a file vanished while listed: compute, keep nothing
                return compute(data_dir)
            key = (str(data_dir.resolve()), *((str(f.relative_to(data_dir)), v[1]) for f, v in zip(files, versions)))
            if key not in cache:
                stored = _DiskEntry.of(compute, key) if on_disk and key[0] == str(Path(default).resolve()) else None
                result = stored.load() if stored else _MISSING
                if result is _MISSING:
                    result = compute(data_dir)
                    if matched() != files or not all(_still(f, v[0]) for f, v in zip(files, versions)):
                        return result  # a file changed, came or went while it was read: the key may not be its data's
                    if stored:
                        stored.save(result)
                cache[key] = result
            return copy.copy(cache[key])

        cached.cache_clear = cache_clear  # type: ignore[attr-defined]
        return cached

    return decorate


def _identity(path: Path, stat: Any) -> tuple[Any, ...]:
    """What tells one version of a file from another without reading it: resolved path, inode, mtime (ns), size."""
    return (str(path.resolve()), stat.st_ino, stat.st_mtime_ns, stat.st_size)


_MISSING = object()


def _source_digest() -> str:
    """A digest of every ``.py`` file of this library and of the Python, pandas and numpy versions: what, besides the
    files of ``data/``, a stored result depends on."""
    package = Path(__file__).resolve().parents[1]
    digest = hashlib.blake2b(f"{sys.version}|{pd.__version__}|{np.__version__}".encode(), digest_size=16)
    for source in sorted(package.rglob("*.py")):
        digest.update(str(source.relative_to(package)).encode())
        digest.update(source.read_bytes())
    return digest.hexdigest()


try:  # taken as the library is imported: the code a result is computed with is the code loaded now, not the files
    # as they are when the result is stored (an editor's save or a checkout in between changes only the latter)
    _LOADED_CODE: str | None = _source_digest()
except OSError:  # a file removed mid-checkout: nothing is stored or loaded in this process
    _LOADED_CODE = None


class _DiskEntry:
    """The pickled result of ``compute`` for one key, in ``cache_dir()/results/<module>.<name>.<folder>-<key>.pickle``
    (``<folder>`` tells checkouts apart, so that two do not remove each other's file)."""

    def __init__(self, compute: Callable[..., Any], key: tuple[Any, ...], code: str) -> None:
        folder = hashlib.blake2b(key[0].encode(), digest_size=4).hexdigest()
        self.prefix = f"{compute.__module__}.{compute.__qualname__}.{folder}"
        self.code = code
        digest = hashlib.blake2b(repr((key, code)).encode(), digest_size=16).hexdigest()
        self.path = cache_dir() / "results" / f"{self.prefix}-{digest}.pickle"

    @classmethod
    def of(cls, compute: Callable[..., Any], key: tuple[Any, ...]) -> _DiskEntry | None:
        """The entry for ``key``, or None when no cache can be used (the code's digest or the cache folder unknown,
        e.g. no home directory)."""
        try:
            return cls(compute, key, _LOADED_CODE) if _LOADED_CODE else None
        except Exception:  # noqa: BLE001 - without a usable cache folder the result is computed, as without a cache
            return None

    def load(self) -> Any:
        """The stored result, or ``_MISSING`` when there is none or it cannot be read (a torn or foreign file)."""
        try:
            with open(self.path, "rb") as handle:
                return pickle.load(handle)
        except Exception:  # noqa: BLE001 - any unreadable cache file is a miss: the result is computed again
            return _MISSING

    def save(self, result: Any) -> None:
        """Store ``result`` atomically and remove this function's older files for this folder; nothing is stored
        when the library's files no longer match the loaded code, and a failure leaves the cache as it was."""
        try:
            if _source_digest() != self.code:
                return  # edited since it was imported: this result may be neither the old files' nor the new ones'
            with atomic_write(self.path) as handle:
                pickle.dump(result, handle, protocol=pickle.HIGHEST_PROTOCOL)
            for older in self.path.parent.glob(f"{self.prefix}-*.pickle"):
                if older != self.path:
                    older.unlink(missing_ok=True)
        except Exception:  # noqa: BLE001 - a read-only or full disk, an unpicklable result: computed next time
            pass
