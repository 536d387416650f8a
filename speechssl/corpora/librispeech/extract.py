"""Verified extraction of a tarball (gzipped or plain): unpack into a temporary folder, check, then rename.

Nothing from a truncated or corrupt archive ever appears at the final location.
"""

from __future__ import annotations

import contextlib
import gzip
import logging
import os
import shutil
import tarfile
import zlib
from pathlib import Path, PurePosixPath

from speechssl.progress import ProgressBar, progress_bar
from speechssl.corpora.librispeech.fetch import DownloadError

logger = logging.getLogger(__name__)

DONE_MARKER = ".speechssl-done"


class _ProgressReader:
    """File wrapper that advances a tqdm bar by the compressed bytes read."""

    def __init__(self, raw, bar: ProgressBar) -> None:
        self.raw = raw
        self.bar = bar

    def read(self, size: int = -1) -> bytes:
        data = self.raw.read(size)
        self.bar.update(len(data))
        return data


def is_extracted(root: Path, top_dir: str) -> bool:
    """True when ``root/top_dir`` was produced by a verified extraction."""
    return (root / top_dir / DONE_MARKER).is_file()


def _check_member(member: tarfile.TarInfo, archive: Path, allowed_root: str) -> None:
    """Reject links, devices, absolute paths, ``..`` and anything outside ``allowed_root``."""
    path = PurePosixPath(member.name)
    if path.is_absolute() or ".." in path.parts:
        raise DownloadError(f"{archive}: unsafe member path '{member.name}'; archive rejected")
    if not (member.isfile() or member.isdir()):
        raise DownloadError(f"{archive}: member '{member.name}' is a link or device; archive rejected")
    if path.parts[0] != allowed_root:
        raise DownloadError(
            f"{archive}: member '{member.name}' lies outside '{allowed_root}/'; "
            "is this the right archive?"
        )


def _is_gzip(archive: Path) -> bool:
    with open(archive, "rb") as f:
        return f.read(2) == b"\x1f\x8b"


def _check_tar_end(archive: Path) -> None:
    """A plain tar ends with two zero 512-byte blocks; a download cut anywhere else does not."""
    size = archive.stat().st_size
    with open(archive, "rb") as f:
        f.seek(max(size - 1024, 0))
        tail = f.read()
    if size % 512 or len(tail) < 1024 or tail.count(0) != 1024:
        raise DownloadError(
            f"{archive}: truncated archive (no end-of-archive blocks); delete it and download again"
        )


def _unpack(archive: Path, tmp: Path, allowed_root: str) -> int:
    """Stream every member of ``archive`` (gzipped or plain tar) into ``tmp``; returns the count.

    A gzip stream is read to its end so that gzip checks its CRC and length trailer; a plain tar
    must end with its end-of-archive blocks. Truncation or corruption anywhere is caught.
    """
    members = 0
    size = archive.stat().st_size
    use_filter = hasattr(tarfile, "data_filter")
    compressed = _is_gzip(archive)
    if not compressed:
        _check_tar_end(archive)
    try:
        with open(archive, "rb") as raw, progress_bar(
            total=size, unit="B", unit_scale=True, desc=f"extract {archive.name}", leave=False
        ) as bar:
            reader = _ProgressReader(raw, bar)
            with gzip.GzipFile(fileobj=reader) if compressed else contextlib.nullcontext(reader) as stream:
                with tarfile.open(fileobj=stream, mode="r|") as tar:
                    for member in tar:
                        _check_member(member, archive, allowed_root)
                        if use_filter:
                            tar.extract(member, tmp, filter="data")
                        else:
                            tar.extract(member, tmp)
                        members += 1
                while stream.read(1 << 20):
                    pass
    except (EOFError, gzip.BadGzipFile, tarfile.TarError, zlib.error, OSError) as error:
        raise DownloadError(
            f"{archive}: truncated or corrupt archive ({error or type(error).__name__}); "
            "delete it and download again"
        ) from None
    if members == 0:
        raise DownloadError(f"{archive}: archive holds no files; delete it and download again")
    return members


def extract_verified(archive: Path, root: Path, top_dir: str) -> Path:
    """Unpack ``archive`` so that ``root/top_dir`` appears complete or not at all.

    ``top_dir`` is the folder the archive must contain (``LibriSpeech/dev-clean``); other files
    under its first path component (LibriSpeech's README/SPEAKERS.TXT...) are moved next to it
    when not yet present. A ``.speechssl-done`` marker inside ``top_dir`` records success.

    Raises:
        DownloadError: corrupt/truncated archive, unsafe members, missing ``top_dir``, or a
            ``root/top_dir`` left by something else (without the marker).
    """
    final = root / top_dir
    if is_extracted(root, top_dir):
        return final
    if final.exists():
        raise DownloadError(
            f"{final}: exists but was not produced by a verified extraction; remove it and re-run"
        )
    allowed_root = PurePosixPath(top_dir).parts[0]
    tmp = root / f".extract-{archive.name}.tmp"
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir(parents=True)
    try:
        members = _unpack(archive, tmp, allowed_root)
        unpacked = tmp / top_dir
        if not unpacked.is_dir():
            raise DownloadError(f"{archive}: does not contain '{top_dir}/'; is this the right archive?")
        (unpacked / DONE_MARKER).write_text(f"{archive.name} {members} members\n", encoding="utf-8")
        _move_siblings(tmp / allowed_root, root / allowed_root, skip=PurePosixPath(top_dir))
        final.parent.mkdir(parents=True, exist_ok=True)
        os.replace(unpacked, final)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    logger.info("extracted %s (%d members) to %s", archive.name, members, final)
    return final


def _move_siblings(source_root: Path, dest_root: Path, skip: PurePosixPath) -> None:
    """Move the plain files directly under ``source_root`` (not ``skip``) into ``dest_root``."""
    if len(skip.parts) < 2:
        return
    dest_root.mkdir(parents=True, exist_ok=True)
    for item in sorted(source_root.iterdir()):
        target = dest_root / item.name
        if item.is_file() and not target.exists():
            os.replace(item, target)
