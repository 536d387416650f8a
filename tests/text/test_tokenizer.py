"""Letter and SentencePiece tokenizers: ids, round trips on LibriSpeech transcripts, errors."""

import pytest

from speechssl.text.tokenizer import (
    LetterTokenizer,
    SentencePieceTokenizer,
    TokenizerError,
    build_tokenizer,
    load_tokenizer,
    parse_units,
)

TRANSCRIPTS = [
    "HE HOPED THERE WOULD BE STEW FOR DINNER TURNIPS AND CARROTS AND BRUISED POTATOES",
    "STUFF IT INTO YOU HIS BELLY COUNSELLED HIM",
    "I DON'T KNOW WHAT YOU'RE TALKING ABOUT O'CLOCK SAID THE KING'S MAN",
    "AFTER EARLY NIGHTFALL THE YELLOW LAMPS WOULD LIGHT UP HERE AND THERE THE SQUALID QUARTER",
    "A",
    "JUST EXACTLY QUIZZICAL VEXING ZEBRAS",
]


def test_letter_inventory_matches_fairseq_letter_dict():
    tokenizer = LetterTokenizer()
    assert tokenizer.vocab_size == 29
    assert tokenizer.tokens[:4] == ["<blank>", "|", "'", "A"]
    assert tokenizer.tokens[-1] == "Z"
    assert tokenizer.blank == 0


def test_letter_encoding_ends_every_word_with_boundary():
    tokenizer = LetterTokenizer()
    ids = tokenizer.encode("IT'S A")
    assert [tokenizer.tokens[i] for i in ids] == ["I", "T", "'", "S", "|", "A", "|"]
    assert tokenizer.spell("DOG") == ["D", "O", "G", "|"]


@pytest.mark.parametrize("text", TRANSCRIPTS)
def test_letter_round_trip(text):
    tokenizer = LetterTokenizer()
    assert tokenizer.decode(tokenizer.encode(text)) == text


def test_decode_drops_blanks_but_keeps_repeats():
    tokenizer = LetterTokenizer()
    index = {t: i for i, t in enumerate(tokenizer.tokens)}
    ids = [0, index["L"], index["L"], 0, index["|"], index["|"], index["A"], 0]
    assert tokenizer.decode(ids) == "LL A"


@pytest.mark.parametrize("text, bad", [("HELLO, WORLD", ","), ("hello", "ehlo"), ("ROOM 101", "01")])
def test_unknown_characters_name_the_utterance(text, bad):
    with pytest.raises(TokenizerError, match=f"utterance '1089-134686-0000'.*{bad!r}"):
        LetterTokenizer().encode(text, "1089-134686-0000")


def test_sentencepiece_round_trip_and_blank(tmp_path):
    tokenizer = build_tokenizer("bpe:40", TRANSCRIPTS * 3, tmp_path)
    assert isinstance(tokenizer, SentencePieceTokenizer)
    assert tokenizer.tokens[0] == "<blank>"
    assert len(set(tokenizer.tokens)) == tokenizer.vocab_size <= 41
    for text in TRANSCRIPTS:
        ids = tokenizer.encode(text)
        assert 0 not in ids
        assert tokenizer.decode(ids) == text
    assert "".join(tokenizer.spell("STEW")).replace("\u2581", "") == "STEW"
    loaded = load_tokenizer(tmp_path)
    assert loaded.tokens == tokenizer.tokens
    assert loaded.encode(TRANSCRIPTS[2]) == tokenizer.encode(TRANSCRIPTS[2])


def test_sentencepiece_unknown_character(tmp_path):
    tokenizer = build_tokenizer("bpe:30", TRANSCRIPTS, tmp_path)
    with pytest.raises(TokenizerError, match="utterance 'spk-1'.*'5'"):
        tokenizer.encode("STEW 5", "spk-1")


def test_letter_save_load_and_mismatch(tmp_path):
    build_tokenizer("letters", [], tmp_path)
    assert load_tokenizer(tmp_path).tokens == LetterTokenizer().tokens
    (tmp_path / "tokenizer.json").write_text('{"kind": "letters", "tokens": ["<blank>", "A"]}')
    with pytest.raises(TokenizerError, match="does not match"):
        load_tokenizer(tmp_path)
    with pytest.raises(TokenizerError, match="not found"):
        load_tokenizer(tmp_path / "missing")


def test_parse_units():
    assert parse_units("letters") == ("letters", 0)
    assert parse_units("bpe:300") == ("bpe", 300)
    for bad in ("bpe", "bpe:x", "chars", "bpe:1"):
        with pytest.raises(TokenizerError, match="letters' or 'bpe:N'"):
            parse_units(bad)
