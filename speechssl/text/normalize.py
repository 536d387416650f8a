"""LibriSpeech-style text normalisation and sentence splitting for book prose.

Transcripts use only A-Z, apostrophe and single spaces; sentences holding digits are dropped.
"""

from __future__ import annotations

import re
import unicodedata

# Titles that end in a full stop without ending the sentence ("Mr. Darcy").
ABBREVIATIONS = frozenset(
    "mr mrs ms dr st messrs mme mlle col capt gen lieut rev esq sir jun sen vol no".split()
)
ALLOWED = re.compile(r"^[A-Z' ]*$")
_SENTENCE_END = re.compile(r"([.!?]+[\"'\u201d\u2019)_]*)\s+")
_APOSTROPHES = str.maketrans({"\u2019": "'", "\u2018": "'", "`": "'", "\u02bc": "'"})
_NOT_ALLOWED = re.compile(r"[^A-Z' ]+")


def is_normalized(text: str) -> bool:
    """True when ``text`` uses only A-Z, apostrophe and single spaces, none at either end."""
    return bool(ALLOWED.match(text)) and "  " not in text and text == text.strip()


def normalize(text: str) -> str | None:
    """Normalise one sentence to LibriSpeech style, or return None when it cannot be spoken as is.

    Digits are not expanded: a sentence with a digit is dropped (None), because numbers in these
    books are mostly chapter headings and dates whose reading is ambiguous ("1814", "II.").
    Accents are stripped (NOTICE from notice, CAFE from cafe), dashes and other punctuation become
    word breaks, and quote marks are removed while in-word apostrophes stay (DON'T, O'CLOCK).
    """
    if any(ch.isdigit() for ch in text):
        return None
    text = unicodedata.normalize("NFKD", text.translate(_APOSTROPHES))
    text = "".join(ch for ch in text if not unicodedata.combining(ch)).upper()
    text = text.replace("&", " AND ")
    text = _NOT_ALLOWED.sub(" ", text)
    words = [word.strip("'") for word in text.split()]
    normalized = " ".join(word for word in words if word)
    return normalized or None


def split_sentences(paragraph: str) -> list[str]:
    """Split running prose into sentences at ., ! or ? followed by space, skipping "Mr." etc."""
    paragraph = " ".join(paragraph.split())
    sentences: list[str] = []
    start = 0
    for match in _SENTENCE_END.finditer(paragraph):
        before = paragraph[start : match.start()].split()
        last_word = before[-1].strip("\"'_(").lower() if before else ""
        if match.group(1).startswith(".") and (last_word in ABBREVIATIONS or len(last_word) == 1):
            continue
        sentences.append(paragraph[start : match.end(1)].strip())
        start = match.end()
    tail = paragraph[start:].strip()
    if tail:
        sentences.append(tail)
    return sentences


def paragraphs(lines: list[str]) -> list[str]:
    """Join wrapped lines into paragraphs separated by blank lines."""
    result: list[str] = []
    current: list[str] = []
    for line in lines:
        if line.strip():
            current.append(line.strip())
        elif current:
            result.append(" ".join(current))
            current = []
    if current:
        result.append(" ".join(current))
    return result


def book_sentences(lines: list[str], min_words: int = 4, max_words: int = 25) -> list[str]:
    """Normalised sentences of ``min_words``..``max_words`` words from a book's lines, in order."""
    result = []
    for paragraph in paragraphs(lines):
        for sentence in split_sentences(paragraph):
            normalized = normalize(sentence)
            if normalized and min_words <= len(normalized.split()) <= max_words:
                result.append(normalized)
    return result
