"""Writing files so that nothing is ever half-written, and naming what wrote them.

Every write in the library goes through :func:`atomic_write` (or its JSON and folder forms): the data goes to a
temporary file in the destination's folder and is renamed into place, so a reader or a crash sees either the old
file or the new one. :func:`utc_now` is the one timestamp format; :func:`git_commit` names the code.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import json
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any, BinaryIO

from pixelpush_lib.core.paths import REPO_ROOT


def utc_now(timespec: str = "seconds") -> str:
    """The current time in UTC, ISO 8601 (``2026-11-26T16:25:32+00:00``)."""
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec=timespec)


def utc_from_timestamp(seconds: float, timespec: str = "seconds") -> str:
    """A POSIX timestamp (a file's mtime, say) in :func:`utc_now`'s format."""
    return dt.datetime.fromtimestamp(seconds, dt.timezone.utc).isoformat(timespec=timespec)


def sha256_file(path: Path | str) -> str:
    """Hex SHA-256 of a file, read in 1 MiB blocks (replay buffers and checkpoints can be large)."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def git_commit() -> str:
    """This checkout's commit, with ``+dirty`` when tracked code differs from it; ``unknown`` outside git.

    Changes under ``data/`` do not count: regenerating one measured result rewrites tracked data files,
    and the commit is there to identify the code that produced the next one. ``PIXELPUSH_GIT_COMMIT``, when set,
    wins: a copy of a clean checkout sent to another machine (a GPU machine's) may carry a stale ``.git`` or none.
    """
    if os.environ.get("PIXELPUSH_GIT_COMMIT"):
        return os.environ["PIXELPUSH_GIT_COMMIT"]
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=REPO_ROOT, capture_output=True, text=True, timeout=10)
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no", "--", ".", ":(exclude)data"],
                               cwd=REPO_ROOT, capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    if commit.returncode != 0:
        return "unknown"
    return commit.stdout.strip() + ("+dirty" if dirty.stdout.strip() else "")


@contextlib.contextmanager
def atomic_write(path: Path | str, mode: str = "wb", prefix: str | None = None) -> Iterator[BinaryIO]:
    """Open a temporary file beside ``path``; on a clean exit it is flushed, synced and renamed to ``path``.

    On an exception the temporary file is removed and ``path`` is untouched. ``mode`` is ``"wb"`` or ``"w"``.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=prefix or f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.chmod(tmp, 0o644)  # mkstemp makes 0600 files; data/ and run folders are meant to be read by everyone
    try:
        with os.fdopen(fd, mode, **({} if "b" in mode else {"newline": "", "encoding": "utf-8"})) as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_text_atomic(path: Path | str, text: str) -> None:
    with atomic_write(path, "w") as handle:
        handle.write(text)


def write_json_atomic(path: Path | str, payload: Any) -> None:
    """Write ``payload`` as indented JSON (non-JSON values through ``str``), atomically."""
    write_text_atomic(path, json.dumps(payload, indent=2, default=str) + "\n")


def replace_dir(staged: Path | str, final: Path | str) -> None:
    """Move a completely written folder ``staged`` to ``final``, replacing what was there.

    The old folder is first renamed aside and deleted only after the new one is in place, so at every moment
    ``final`` is either the complete old folder or the complete new one (two renames, no copy).
    """
    staged, final = Path(staged), Path(final)
    aside = final.with_name(f".{final.name}.old")
    shutil.rmtree(aside, ignore_errors=True)
    if final.exists():
        os.replace(final, aside)
    try:
        os.replace(staged, final)
    except BaseException:
        if aside.exists() and not final.exists():
            os.replace(aside, final)
        raise
    shutil.rmtree(aside, ignore_errors=True)
