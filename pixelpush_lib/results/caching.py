"""Memoised readers of ``data/``: a result is kept per content of the files it read, so a page (or a test that
checks many edited copies of ``data/``) parses each version of a file once per process.

A file is known by its resolved path, inode, modification time (ns) and size; the first time a file is seen so, its
bytes are hashed. An edited or atomically replaced file is therefore read afresh.
"""

from __future__ import annotations

import copy
import functools
import hashlib
import inspect
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import pandas as pd

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


def cached_per_folder(*patterns: str) -> Callable[[Callable[[Path], _Result]], Callable[[Path], _Result]]:
    """Memoise ``compute(data_dir)`` (its one parameter, named so) on the content of the files under ``data_dir``
    that ``patterns`` match (globs relative to it, e.g. ``"runs/*/*"``): the rule of :func:`cached_per_file`, for a
    result built from many files.

    For results that read only those files. Their names are part of the key, so a file added or removed is a new
    key; so is the folder's own place, as a result may name the files it read. Each call still costs a stat per file
    (and a hash per new version), not a parse. A (shallow) copy is returned: a DataFrame's copy is deep, a dict's
    items are shared and must not be changed (frozen ``Number`` objects).
    A result computed while one of its files changed is not kept; a computation that raises keeps nothing.
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
            files = sorted({f for pattern in patterns for f in data_dir.glob(pattern) if f.is_file()})
            versions = [digests.of(f) for f in files]
            if any(v is None for v in versions):  # a file vanished while listed: compute, keep nothing
                return compute(data_dir)
            key = (str(data_dir.resolve()), *((str(f.relative_to(data_dir)), v[1]) for f, v in zip(files, versions)))
            if key not in cache:
                result = compute(data_dir)
                if not all(_still(f, v[0]) for f, v in zip(files, versions)):
                    return result
                cache[key] = result
            return copy.copy(cache[key])

        cached.cache_clear = cache_clear  # type: ignore[attr-defined]
        return cached

    return decorate


def _identity(path: Path, stat: Any) -> tuple[Any, ...]:
    """What tells one version of a file from another without reading it: resolved path, inode, mtime (ns), size."""
    return (str(path.resolve()), stat.st_ino, stat.st_mtime_ns, stat.st_size)
