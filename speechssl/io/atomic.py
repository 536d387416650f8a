"""Atomic file writes: write to a temporary file in the same folder, then rename.

A reader never sees a half-written file, and a killed job leaves the previous version intact.
"""

from __future__ import annotations

import contextlib
import os
import re
import tempfile
from pathlib import Path
from typing import Iterator

# A temporary is ``.NAME.XXXXXXXX.tmp`` (mkstemp's 8 random characters) next to NAME.
_TEMP_NAME = re.compile(r"^\.(?P<target>.+)\.[a-z0-9_]{8}\.tmp$")


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; on success rename it onto ``path``.

    The caller writes the temporary file however it likes (``torch.save``, ``safetensors``,
    ``soundfile.write``...). On an exception the temporary file is removed and ``path`` is untouched.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)  # _TEMP_NAME
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        # mkstemp (and some writers, e.g. safetensors) create 0600 files; give the result the
        # mode a plain open() would have.
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp_path, 0o666 & ~umask)
        os.replace(tmp_path, path)
    except BaseException:
        tmp_path.unlink(missing_ok=True)
        raise


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    """Write ``text`` (UTF-8) to ``path`` atomically."""
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically."""
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def stale_temporaries(directory: str | os.PathLike) -> list[Path]:
    """Temporaries that ``atomic_path`` left in ``directory`` (not its sub-folders) when its process
    was killed mid-write; only files named like ours, sorted."""
    directory = Path(directory)
    if not directory.is_dir():
        return []
    return sorted(p for p in directory.iterdir() if _TEMP_NAME.match(p.name) and p.is_file())


def remove_stale_temporaries(directory: str | os.PathLike) -> list[Path]:
    """Delete :func:`stale_temporaries` of ``directory`` (call it before this job writes there)."""
    removed = stale_temporaries(directory)
    for path in removed:
        path.unlink(missing_ok=True)
    return removed
