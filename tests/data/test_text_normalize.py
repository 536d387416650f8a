"""LibriSpeech-style normalisation and sentence splitting of book prose."""

import pytest

from speechssl.text.normalize import book_sentences, is_normalized, normalize, split_sentences


@pytest.mark.parametrize(
    "raw, expected",
    [
        ('"I don\'t know," said Mr. Darcy.', "I DON'T KNOW SAID MR DARCY"),
        ("It was--so to speak--a _very_ odd affair!", "IT WAS SO TO SPEAK A VERY ODD AFFAIR"),
        ("The caf\u00e9 na\u00efve r\u00f4le", "THE CAFE NAIVE ROLE"),
        (
            "\u2018Twas Captain Wentworth\u2019s ship; half-past ten o\u2019clock.",
            "TWAS CAPTAIN WENTWORTH'S SHIP HALF PAST TEN O'CLOCK",
        ),
        ("Bread & butter,  and   tea", "BREAD AND BUTTER AND TEA"),
        ("the sailors' wives", "THE SAILORS WIVES"),
    ],
)
def test_normalize_cases(raw, expected):
    assert normalize(raw) == expected
    assert is_normalized(expected)


@pytest.mark.parametrize("raw", ["Chapter 12", "In 1814 she wrote", "-- ! ?", ""])
def test_normalize_drops_digits_and_empty(raw):
    assert normalize(raw) is None


def test_is_normalized_rejects_bad_transcripts():
    assert not is_normalized("hello WORLD")
    assert not is_normalized("A  B")
    assert not is_normalized(" A B")
    assert not is_normalized("A-B")


def test_split_sentences_keeps_titles_and_initials():
    text = 'Mrs. Bennet spoke.  "What is it?" asked Mr. B. Smith! He left... Then\nshe sat'
    assert split_sentences(text) == [
        "Mrs. Bennet spoke.",
        '"What is it?"',
        "asked Mr. B. Smith!",
        "He left...",
        "Then she sat",
    ]


def test_book_sentences_joins_lines_and_filters_length():
    lines = [
        "CHAPTER 1",
        "",
        "It is a truth universally",
        "acknowledged. Yes.",
        "",
        "One two three four five six.",
    ]
    assert book_sentences(lines, min_words=2, max_words=6) == [
        "IT IS A TRUTH UNIVERSALLY ACKNOWLEDGED",
        "ONE TWO THREE FOUR FIVE SIX",
    ]
    assert book_sentences(lines, min_words=4, max_words=5) == []
