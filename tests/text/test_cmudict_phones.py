"""CMUdict phone transcripts: first pronunciation, stress removed, out-of-dictionary utterances skipped."""

from __future__ import annotations

from speechssl.text.arpabet import PHONES
from speechssl.text.cmudict_phones import load_cmudict, phone_transcripts, word_phones


def test_known_words_take_their_first_pronunciation_without_stress():
    assert word_phones("HELLO") == ("HH", "AH", "L", "OW")
    assert word_phones("world") == ("W", "ER", "L", "D")
    assert word_phones("SPEECH") == ("S", "P", "IY", "CH")
    assert word_phones("DON'T") == ("D", "OW", "N", "T")
    assert word_phones("TOMATO") == ("T", "AH", "M", "EY", "T", "OW")  # not T AH M AA T OW
    assert word_phones("XQZZYVW") is None
    dictionary = load_cmudict()
    assert len(dictionary) > 120_000
    assert {p for pron in dictionary.values() for p in pron} == set(PHONES)


def test_utterances_with_unknown_words_are_skipped_and_counted():
    texts = {"a": "HELLO WORLD", "b": "HELLO XQZZYVW", "c": "XQZZYVW PLORBT XQZZYVW", "d": ""}
    result = phone_transcripts(texts)
    assert result.phones == {"a": ["HH", "AH", "L", "OW", "W", "ER", "L", "D"]}
    assert result.skipped == ["b", "c", "d"]
    assert result.oov_words == {"XQZZYVW": 3, "PLORBT": 1}
