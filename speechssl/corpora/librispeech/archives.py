"""The LibriSpeech, Libri-light and LibriSpeech-LM files: where they live and their published checksums.

Every digest below is the value the distributors publish (openslr md5sum.txt, torchaudio's Libri-light sha256).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

OPENSLR_12 = "https://www.openslr.org/resources/12"  # LibriSpeech audio
OPENSLR_11 = "https://www.openslr.org/resources/11"  # LibriSpeech LM text, lexicon, n-grams
LIBRILIGHT = "https://dl.fbaipublicfiles.com/librilight/data"

LIBRISPEECH_PARTS = (
    "train-clean-100",
    "train-clean-360",
    "train-other-500",
    "dev-clean",
    "dev-other",
    "test-clean",
    "test-other",
)
LM_FILES = ("librispeech-lm-norm.txt.gz", "librispeech-lexicon.txt", "4-gram.arpa.gz")
LIBRILIGHT_NAME = "librispeech_finetuning"
# Libri-light's unlabelled audio: three disjoint plain tarballs (577 h / 35 GB, 5,193 h / 321 GB,
# 51,934 h / 3.05 TB), each extracting to ``<subset>/<speaker>/<book>/<file>.{flac,json}``.
# The paper's sets are unions: unlab-600 = small, unlab-6k = + medium, unlab-60k = + large.
UNLABELLED_SUBSETS = ("small", "medium", "large")
UNLABELLED_SETS = {"600": ("small",), "6k": ("small", "medium"), "60k": UNLABELLED_SUBSETS}


@dataclass(frozen=True)
class Resource:
    """One downloadable file.

    name: what ``--parts`` calls it. filename: the file on the server. base_url: the official folder.
    algorithm/digest: the published checksum ("" when none is published: size + archive checks only).
    top_dir: for archives, the folder the tarball must contain and that extraction produces
    (relative to the download root); None for plain files, stored under ``lm/``.
    """

    name: str
    filename: str
    base_url: str
    algorithm: str
    digest: str
    top_dir: str | None

    @property
    def is_archive(self) -> bool:
        return self.top_dir is not None


# md5 of openslr resources 11 and 12, as listed in their md5sum.txt files.
_OPENSLR_MD5 = {
    "dev-clean.tar.gz": "42e2234ba48799c1f50f24a7926300a1",
    "dev-other.tar.gz": "c8d0bcc9cca99d4f8b62fcc847357931",
    "test-clean.tar.gz": "32fa31d27d2e1cad72775fee3f4849a9",
    "test-other.tar.gz": "fb5a50374b501bb3bac4815ee91d3135",
    "train-clean-100.tar.gz": "2a93770f6d5c6c964bc36631d331a522",
    "train-clean-360.tar.gz": "c0e676e450a7ff2f54aeade5171606fa",
    "train-other-500.tar.gz": "d1a0fd59409feb2c614ce4d30c387708",
    "librispeech-lm-norm.txt.gz": "c83c64c726a1aedfe65f80aa311de402",
    "librispeech-lexicon.txt": "28f72663f6bfed7cd346283c064c315b",
    "4-gram.arpa.gz": "6abdcd5b055bd482e4f9defe91d40408",
}
# sha256 of the Libri-light limited-supervision archive (the value torchaudio's LibriLightLimited checks).
_LIBRILIGHT_SHA256 = "5d1efdc777b548194d7e09ba89126e2188026df9fd57aa57eb14408d2b2342af"


def _build_table() -> dict[str, Resource]:
    table: dict[str, Resource] = {}
    for part in LIBRISPEECH_PARTS:
        filename = f"{part}.tar.gz"
        table[part] = Resource(
            part, filename, OPENSLR_12, "md5", _OPENSLR_MD5[filename], f"LibriSpeech/{part}"
        )
    table[LIBRILIGHT_NAME] = Resource(
        LIBRILIGHT_NAME,
        f"{LIBRILIGHT_NAME}.tgz",
        LIBRILIGHT,
        "sha256",
        _LIBRILIGHT_SHA256,
        LIBRILIGHT_NAME,
    )
    for filename in LM_FILES:
        table[filename] = Resource(filename, filename, OPENSLR_11, "md5", _OPENSLR_MD5[filename], None)
    for subset in UNLABELLED_SUBSETS:
        # No checksum is published for these: size, tar headers and the end-of-archive blocks are
        # checked; a re-packed mirror can pass its own with --checksums.
        table[f"librilight-{subset}"] = Resource(
            f"librilight-{subset}", f"{subset}.tar", LIBRILIGHT, "sha256", "", subset
        )
    return table


RESOURCES = _build_table()
# Names that stand for several resources on the command line.
GROUPS = {
    "all": tuple(name for name in RESOURCES if not name.startswith("librilight-")),  # the labelled side
    **{f"librilight-{hours}": tuple(f"librilight-{s}" for s in subsets)
       for hours, subsets in UNLABELLED_SETS.items()},
    "librispeech": LIBRISPEECH_PARTS,
    "train-960": LIBRISPEECH_PARTS[:3],
    "dev-test": LIBRISPEECH_PARTS[3:],
    "libri-light": (LIBRILIGHT_NAME,),
    "lm": LM_FILES,
}


def resolve_parts(names: list[str]) -> list[Resource]:
    """Expand group names (``lm``, ``train-960``...) into resources, keeping order, no repeats.

    Raises ValueError naming an unknown part and listing the valid ones.
    """
    chosen: list[str] = []
    for name in names:
        members = GROUPS.get(name, (name,))
        for member in members:
            if member not in RESOURCES:
                valid = sorted(RESOURCES) + sorted(GROUPS)
                raise ValueError(f"unknown part '{name}'; valid: {', '.join(valid)}")
            if member not in chosen:
                chosen.append(member)
    return [RESOURCES[name] for name in chosen]


def algorithm_for_digest(digest: str) -> str:
    """md5 (32 hex digits) or sha256 (64); ValueError otherwise."""
    lengths = {32: "md5", 40: "sha1", 64: "sha256"}
    if len(digest) not in lengths or any(c not in "0123456789abcdef" for c in digest.lower()):
        raise ValueError(f"'{digest}' is not an md5, sha1 or sha256 hex digest")
    return lengths[len(digest)]


def read_checksum_file(path: str | os.PathLike) -> dict[str, tuple[str, str]]:
    """Read an ``md5sum``/``sha256sum`` style file: ``DIGEST  FILENAME`` a line.

    Returns {filename: (algorithm, digest)}; the algorithm follows from the digest length.
    Used to check archives served by a private mirror that re-packed them (and by the tests).
    """
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"{path}: checksum file not found")
    table: dict[str, tuple[str, str]] = {}
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        parts = line.split()
        if len(parts) != 2:
            raise ValueError(f"{path}:{number}: expected 'DIGEST  FILENAME', got '{line}'")
        digest, filename = parts[0].lower(), parts[1].lstrip("*")
        try:
            table[filename] = (algorithm_for_digest(digest), digest)
        except ValueError as error:
            raise ValueError(f"{path}:{number}: {error}") from None
    return table


def with_checksums(resource: Resource, overrides: dict[str, tuple[str, str]] | None) -> Resource:
    """``resource`` with its checksum replaced by ``overrides[filename]`` when present."""
    if not overrides or resource.filename not in overrides:
        return resource
    algorithm, digest = overrides[resource.filename]
    return Resource(
        resource.name, resource.filename, resource.base_url, algorithm, digest, resource.top_dir
    )
