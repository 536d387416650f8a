"""Word lexicons and token lists in the format torchaudio's flashlight CTC decoder reads.

``lexicon.txt``: ``WORD t1 t2 ... |`` (the word spelled in output units); ``tokens.txt``: one unit a line.
"""

from __future__ import annotations

import os
from collections import Counter
from pathlib import Path

from speechssl.io.atomic import atomic_path, atomic_write_text
from speechssl.progress import progress_bar
from speechssl.text.tokenizer import Tokenizer, TokenizerError


class LexiconError(ValueError):
    """A lexicon or LM text that cannot be used; the message names the file and line."""


def count_words(text_path: str | os.PathLike) -> Counter:
    """Word counts of a one-sentence-a-line text file (progress bar over bytes)."""
    path = Path(text_path)
    if not path.is_file():
        raise LexiconError(f"{path}: LM text not found")
    counts: Counter = Counter()
    with open(path, "rb") as f, progress_bar(
        total=path.stat().st_size, unit="B", unit_scale=True, desc="count words", leave=False
    ) as bar:
        for raw in f:
            counts.update(raw.decode("utf-8").split())
            bar.update(len(raw))
    if not counts:
        raise LexiconError(f"{path}: LM text is empty")
    return counts


def write_lexicon(
    words: list[str], tokenizer: Tokenizer, path: str | os.PathLike, source: str = "lexicon"
) -> int:
    """Write ``WORD t1 t2 ...`` for each word (sorted) atomically; returns the number written.

    Raises LexiconError naming ``source`` and the word when a word cannot be spelled.
    """
    lines = []
    for word in sorted(set(words)):
        try:
            spelling = tokenizer.spell(word)
        except TokenizerError as error:
            raise LexiconError(f"{source}: word {word!r} cannot be spelled: {error}") from None
        lines.append(f"{word}\t{' '.join(spelling)}\n")
    with atomic_path(path) as tmp:
        with open(tmp, "w", encoding="utf-8") as f:
            f.writelines(lines)
    return len(lines)


def read_lexicon_words(path: str | os.PathLike) -> list[str]:
    """Words (first column) of a lexicon file, in file order."""
    path = Path(path)
    if not path.is_file():
        raise LexiconError(f"{path}: lexicon not found (build it with 'speechssl lm build')")
    words = []
    with open(path, encoding="utf-8") as f:
        for number, line in enumerate(f, 1):
            fields = line.split()
            if len(fields) < 2:
                raise LexiconError(f"{path}:{number}: expected 'WORD token...', got {line.strip()!r}")
            words.append(fields[0])
    return words


def write_tokens(tokenizer: Tokenizer, path: str | os.PathLike) -> None:
    """Write the tokenizer's units one a line, in id order (line i holds id i)."""
    atomic_write_text(path, "".join(f"{token}\n" for token in tokenizer.tokens))
