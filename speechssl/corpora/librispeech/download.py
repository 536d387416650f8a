"""Download LibriSpeech parts, the Libri-light limited-supervision set and the LM files, verified.

Layout under ``dest``: ``LibriSpeech/<part>/``, ``librispeech_finetuning/``, ``lm/<file>``, ``archives/``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from speechssl.corpora.librispeech.archives import Resource, resolve_parts, with_checksums
from speechssl.corpora.librispeech.extract import extract_verified, is_extracted
from speechssl.corpora.librispeech.fetch import fetch, is_url, verify_and_commit

logger = logging.getLogger(__name__)


@dataclass
class DownloadPlan:
    """What to fetch and from where.

    dest: download root. mirror: a URL or a local folder holding the files under their official
    names (None = the official servers). checksums: {filename: (algorithm, digest)} replacing the
    built-in table (a re-packed private mirror; the tests). keep_archives: keep ``archives/*.tar.gz``
    after extraction. timeout: seconds before an unresponsive server is an error.
    """

    dest: Path = Path("downloads")
    mirror: str | None = None
    checksums: dict[str, tuple[str, str]] | None = None
    keep_archives: bool = True
    timeout: float = 60.0


def source_of(resource: Resource, mirror: str | None) -> str:
    """The URL or local path ``resource`` is fetched from."""
    if mirror is None:
        return f"{resource.base_url}/{resource.filename}"
    if is_url(mirror):
        return f"{mirror.rstrip('/')}/{resource.filename}"
    return str(Path(mirror) / resource.filename)


def target_of(resource: Resource, dest: Path) -> Path:
    """Where the verified result ends up: the extracted folder, or ``lm/<file>``."""
    if resource.top_dir is not None:
        return dest / resource.top_dir
    return dest / "lm" / resource.filename


def is_done(resource: Resource, dest: Path) -> bool:
    """True when an earlier run already verified (and extracted) ``resource``."""
    if resource.top_dir is not None:
        return is_extracted(dest, resource.top_dir)
    # Plain files are renamed into place only after their checksum matched.
    return target_of(resource, dest).is_file()


def download_one(resource: Resource, plan: DownloadPlan) -> Path:
    """Fetch, verify and (for archives) extract one resource; returns its final location."""
    final = target_of(resource, plan.dest)
    if is_done(resource, plan.dest):
        logger.info("%s: already present at %s", resource.name, final)
        return final
    stored = (
        plan.dest / "archives" / resource.filename if resource.is_archive else final
    )
    if not stored.is_file():
        source = source_of(resource, plan.mirror)
        logger.info("%s: downloading %s", resource.name, source)
        part = fetch(source, stored, timeout=plan.timeout)
        verify_and_commit(part, stored, resource.algorithm, resource.digest)
    if resource.top_dir is not None:
        extract_verified(stored, plan.dest, resource.top_dir)
        if not plan.keep_archives:
            stored.unlink()
    return final


def download(parts: list[str], plan: DownloadPlan) -> list[Path]:
    """Download every named part (groups such as ``lm`` or ``dev-test`` expand); returns locations.

    Each part is independent: a failure stops the run with a DownloadError naming the file, and
    parts finished before it stay finished (re-running skips them and resumes the failed one).
    """
    resources = [with_checksums(r, plan.checksums) for r in resolve_parts(parts)]
    return [download_one(resource, plan) for resource in resources]
