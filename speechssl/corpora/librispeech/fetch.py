"""Resumable file transfer (HTTP Range or a local mirror folder) and checksum verification.

The transfer writes ``NAME.part``; the caller renames it only after the checksum matched.
"""

from __future__ import annotations

import hashlib
import http.client
import logging
import os
import re
import urllib.error
import urllib.request
from pathlib import Path
from typing import BinaryIO

from speechssl.progress import progress_bar

logger = logging.getLogger(__name__)

CHUNK_BYTES = 1 << 20


class DownloadError(ValueError):
    """A transfer or a verification failed; the message names the file and says what to do."""


def part_path(dest: Path) -> Path:
    """Where an unfinished transfer of ``dest`` is kept between attempts."""
    return dest.with_name(dest.name + ".part")


def is_url(source: str) -> bool:
    return re.match(r"^[a-zA-Z][a-zA-Z0-9+.-]*://", source) is not None


def _copy(reader: BinaryIO, out: BinaryIO, total: int | None, done: int, label: str) -> int:
    """Copy ``reader`` to ``out`` in chunks with a progress bar; returns the bytes copied."""
    copied = 0
    with progress_bar(total=total, initial=done, unit="B", unit_scale=True, desc=label, leave=False) as bar:
        while True:
            chunk = reader.read(CHUNK_BYTES)
            if not chunk:
                break
            out.write(chunk)
            copied += len(chunk)
            bar.update(len(chunk))
    return copied


def _fetch_local(source: Path, part: Path) -> None:
    """Copy a file from a mirror folder into ``part``, continuing a partial copy."""
    if not source.is_file():
        raise DownloadError(f"{source}: not found in the mirror folder")
    total = source.stat().st_size
    done = part.stat().st_size if part.exists() else 0
    if done > total:
        part.unlink()
        done = 0
    with open(source, "rb") as reader, open(part, "ab") as out:
        reader.seek(done)
        _copy(reader, out, total, done, source.name)


def _content_range_start(header: str | None, url: str) -> int:
    match = re.match(r"bytes (\d+)-\d+/(\d+|\*)", header or "")
    if not match:
        raise DownloadError(f"{url}: server answered 206 without a valid Content-Range ('{header}')")
    return int(match.group(1))


def _fetch_http(url: str, part: Path, timeout: float) -> None:
    """Download ``url`` into ``part``; an existing ``part`` is continued with an HTTP Range request."""
    done = part.stat().st_size if part.exists() else 0
    request = urllib.request.Request(url, headers={"User-Agent": "speechssl"})
    if done:
        request.add_header("Range", f"bytes={done}-")
    try:
        response = urllib.request.urlopen(request, timeout=timeout)
    except urllib.error.HTTPError as error:
        if error.code == 416 and done:
            # The .part already holds every byte; the checksum decides whether it is good.
            return
        raise DownloadError(f"{url}: HTTP {error.code} {error.reason}") from None
    except (urllib.error.URLError, OSError) as error:
        raise DownloadError(f"{url}: cannot connect ({error}); check the URL or --mirror") from None
    with response:
        length = response.headers.get("Content-Length")
        if response.status == 206:
            start = _content_range_start(response.headers.get("Content-Range"), url)
            if start != done:
                raise DownloadError(f"{url}: server resumed at byte {start}, expected {done}")
            mode = "ab"
        else:
            if done:
                logger.info("%s: server ignored the Range request; downloading from the start", url)
            done, mode = 0, "wb"
        expected = done + int(length) if length is not None else None
        with open(part, mode) as out:
            try:
                copied = _copy(response, out, expected, done, part.name[: -len(".part")])
            except (OSError, urllib.error.URLError, http.client.HTTPException) as error:
                raise DownloadError(
                    f"{url}: transfer interrupted ({error}); re-run to resume from {part}"
                ) from None
    if expected is not None and done + copied != expected:
        raise DownloadError(
            f"{url}: incomplete transfer ({done + copied} of {expected} bytes); re-run to resume"
        )


def fetch(source: str, dest: Path, timeout: float = 60.0) -> Path:
    """Transfer ``source`` (a URL or a local file path) to ``dest``'s ``.part`` file.

    Returns the ``.part`` path; the caller verifies it and renames it onto ``dest``.
    Raises DownloadError on HTTP errors, refused connections or a short transfer.
    """
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = part_path(dest)
    if is_url(source) and not source.startswith("file://"):
        _fetch_http(source, part, timeout)
    else:
        local = source[len("file://") :] if source.startswith("file://") else source
        _fetch_local(Path(local), part)
    return part


def file_digest(path: Path, algorithm: str) -> str:
    """Hex digest of ``path`` (md5, sha1, sha256...), read in chunks with a progress bar."""
    hasher = hashlib.new(algorithm)
    size = path.stat().st_size
    with open(path, "rb") as reader, progress_bar(
        total=size, unit="B", unit_scale=True, desc=f"{algorithm} {path.name}", leave=False
    ) as bar:
        while True:
            chunk = reader.read(CHUNK_BYTES)
            if not chunk:
                break
            hasher.update(chunk)
            bar.update(len(chunk))
    return hasher.hexdigest()


def verify_and_commit(part: Path, dest: Path, algorithm: str, digest: str) -> None:
    """Check ``part`` against ``digest`` and rename it onto ``dest``; a mismatch deletes ``part``.

    With an empty ``digest`` (none published) only a non-empty file is required here; archives are
    then checked member by member when they are extracted.
    """
    if not part.is_file() or part.stat().st_size == 0:
        part.unlink(missing_ok=True)
        raise DownloadError(f"{dest.name}: downloaded file is empty; re-run the download")
    if digest:
        actual = file_digest(part, algorithm)
        if actual != digest.lower():
            part.unlink()
            raise DownloadError(
                f"{dest.name}: {algorithm} mismatch (got {actual}, expected {digest}); "
                "the corrupt download was deleted, re-run to fetch it again"
            )
    else:
        logger.warning("%s: no published checksum; relying on size and archive checks", dest.name)
    os.replace(part, dest)

