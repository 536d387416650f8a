"""Public-domain English text for the synthetic corpus, split by book into train/dev/test pools.

Reads the Debian packages that local/install.sh unpacks into ``$SPEECHSSL_TEXT_DIR``.
"""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from speechssl.corpora.mini.rdata import RObject, read_lazyload
from speechssl.text.normalize import book_sentences

R_LIBRARY = "usr/lib/R/site-library"
FORTUNE_DIR = "usr/share/games/fortunes"
# Fortune files of plain prose (others hold code, ASCII art or offensive jokes).
FORTUNE_FILES = (
    "literature",
    "wisdom",
    "people",
    "humorists",
    "platitudes",
    "education",
    "science",
    "food",
    "pets",
    "work",
    "kids",
    "law",
    "medicine",
    "fortunes",
)
AUSTEN = (
    "emma",
    "mansfieldpark",
    "prideprejudice",
    "sensesensibility",
    "northangerabbey",
    "persuasion",
)
SOURCES = AUSTEN + ("mobydick", "harvard", "fortunes")
STREAM_POOLS = 600  # SeedSequence stream of the pool split (see corpus.py for the others)


def text_dir() -> Path:
    """Root of the text packages: ``$SPEECHSSL_TEXT_DIR``, else ``<repo>/tools/debian-data``."""
    default = Path(__file__).resolve().parents[3] / "tools" / "debian-data"
    return Path(os.environ.get("SPEECHSSL_TEXT_DIR", default))


def _require(path: Path, package: str) -> Path:
    if not path.exists():
        raise FileNotFoundError(
            f"{path}: text file of Debian package {package} not found; run local/install.sh "
            "(or set SPEECHSSL_TEXT_DIR to where it unpacked the packages)"
        )
    return path


@functools.lru_cache(maxsize=4)
def _lazyload(prefix: Path) -> dict[str, RObject]:
    return read_lazyload(prefix)


def _strings(obj: RObject) -> list[str]:
    return [s for s in obj.value if s is not None]


def source_lines(name: str, root: Path) -> list[str]:
    """Raw text lines of one source (a book, the Harvard sentences or the fortunes)."""
    if name in AUSTEN:
        prefix = _require(root / R_LIBRARY / "janeaustenr/data/Rdata.rdx", "r-cran-janeaustenr")
        return _strings(_lazyload(prefix.with_suffix(""))[name])
    if name == "mobydick":
        prefix = _require(root / R_LIBRARY / "tokenizers/data/Rdata.rdx", "r-cran-tokenizers")
        text = "".join(_strings(_lazyload(prefix.with_suffix(""))["mobydick"]))
        lines = text.replace("\r\n", "\n").split("\n")
        # Keep the novel only, not the Project Gutenberg header and licence.
        begin = next((i for i, l in enumerate(lines) if l.startswith("CHAPTER 1.")), 0)
        end = next((i for i, l in enumerate(lines) if "End of Project Gutenberg" in l), len(lines))
        return lines[begin:end]
    if name == "harvard":
        prefix = _require(root / R_LIBRARY / "stringr/data/Rdata.rdx", "r-cran-stringr")
        # One sentence per paragraph so that each stays a sentence of its own.
        return [
            line
            for s in _strings(_lazyload(prefix.with_suffix(""))["sentences"])
            for line in (s, "")
        ]
    if name == "fortunes":
        lines: list[str] = []
        for file in FORTUNE_FILES:
            path = _require(root / FORTUNE_DIR / file, "fortunes")
            for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
                # "%" separates fortunes; indented "-- Author" lines are attributions.
                is_break = line.strip() == "%" or line.lstrip().startswith("--")
                lines.append("" if is_break else line)
        return lines
    raise ValueError(f"unknown text source '{name}'; known: {', '.join(SOURCES)}")


@functools.lru_cache(maxsize=16)
def load_sentences(name: str, root: Path, min_words: int, max_words: int) -> tuple[str, ...]:
    """Unique normalised sentences of one source, in reading order (cached per process)."""
    return tuple(dict.fromkeys(book_sentences(source_lines(name, root), min_words, max_words)))


@dataclass
class TextPools:
    """Sentences for each split; pools are disjoint and dev/test come from held-out books."""

    pretrain: list[str]
    train: list[str]
    dev: list[str]
    test: list[str]
    lm: list[str]


def _unique(
    load: dict[str, tuple[str, ...]], books: tuple[str, ...], exclude: set[str]
) -> list[str]:
    """Sentences of ``books`` in reading order, each once, none of them in ``exclude``."""
    return [s for s in dict.fromkeys(s for book in books for s in load[book]) if s not in exclude]


def build_pools(
    train_books: tuple[str, ...],
    labelled_books: tuple[str, ...],
    dev_books: tuple[str, ...],
    test_books: tuple[str, ...],
    seed: int,
    min_words: int = 4,
    max_words: int = 25,
    labelled_fraction: float = 0.15,
    root: Path | None = None,
) -> TextPools:
    """Split sentences by book: training books feed pretrain/train/LM, dev/test books are held out.

    ``labelled_books`` (e.g. the Harvard sentences) go to the labelled ``train`` pool only, along
    with ``labelled_fraction`` of the training-book sentences; the rest feed ``pretrain``. The LM
    text holds every training sentence, never one that also occurs in a dev or test book.
    """
    root = text_dir() if root is None else root
    load = {
        name: load_sentences(name, root, min_words, max_words)
        for name in dict.fromkeys(train_books + labelled_books + dev_books + test_books)
    }
    dev = _unique(load, dev_books, set())
    test = _unique(load, test_books, set(dev))
    held_out = set(dev) | set(test)
    book_pool = _unique(load, train_books, held_out)
    labelled = _unique(load, labelled_books, held_out | set(book_pool))
    rng = np.random.default_rng([seed, STREAM_POOLS])
    order = rng.permutation(len(book_pool))
    cut = int(round(labelled_fraction * len(book_pool)))
    train = labelled + [book_pool[i] for i in order[:cut]]
    pretrain = [book_pool[i] for i in order[cut:]]
    return TextPools(pretrain=pretrain, train=train, dev=dev, test=test, lm=book_pool + labelled)
