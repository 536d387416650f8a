"""Lexicon beam search with a KenLM built by lmplz in the test: the LM fixes what greedy gets wrong."""

import pytest

from speechssl.decode.beam import BeamConfig, BeamDecoder, find_lm_binary, prepare_lexicon
from speechssl.decode.greedy import best_path
from speechssl.text.tokenizer import LetterTokenizer, build_tokenizer

from letter_emissions import LM_TEXT, letter_emissions, spelled


@pytest.fixture
def decoder_files(tiny_lm, tmp_path):
    return prepare_lexicon(tiny_lm, LetterTokenizer(), tmp_path)


def decoder(decoder_files, lm, **config):
    lexicon, tokens = decoder_files
    return BeamDecoder(lexicon, tokens, LetterTokenizer(), lm, BeamConfig(**config))


def test_lm_beam_prefers_in_vocabulary_word(tiny_lm, decoder_files):
    # "?AT SAT": the first letter is K (0.55) or C (0.44); KAT is not a word.
    frames = [{"-": 0.9}, {"K": 0.55, "C": 0.44}, *spelled("AT|SAT-")]
    emissions = letter_emissions(frames)
    assert LetterTokenizer().decode(best_path(emissions)) == "KAT SAT"
    assert decoder(decoder_files, find_lm_binary(tiny_lm), lm_weight=1.0).decode(emissions) == "CAT SAT"


def test_lm_context_picks_between_two_words(tiny_lm, decoder_files):
    # "THE ?AT SAT" with M slightly above C: both are words, but only "CAT SAT" is in the LM text.
    frames = [*spelled("THE|"), {"M": 0.5, "C": 0.45}, *spelled("AT|SAT|")]
    emissions = letter_emissions(frames)
    assert LetterTokenizer().decode(best_path(emissions)) == "THE MAT SAT"
    lm = find_lm_binary(tiny_lm)
    assert decoder(decoder_files, lm, lm_weight=0.0).decode(emissions) == "THE MAT SAT"
    assert decoder(decoder_files, lm, lm_weight=2.0).decode(emissions) == "THE CAT SAT"


def test_decode_all_returns_every_utterance(tiny_lm, decoder_files):
    emissions = {"u2": letter_emissions(spelled("DOG|")), "u1": letter_emissions(spelled("A|CAT|"))}
    texts = decoder(decoder_files, find_lm_binary(tiny_lm)).decode_all(emissions)
    assert texts == {"u1": "A CAT", "u2": "DOG"}


def test_subword_lexicon_decodes(tiny_lm, tmp_path):
    tokenizer = build_tokenizer("bpe:20", LM_TEXT.splitlines() * 5, tmp_path)
    lexicon, tokens = prepare_lexicon(tiny_lm, tokenizer, tmp_path)
    assert "CAT\t" in lexicon.read_text()
    import torch

    ids = tokenizer.encode("THE CAT SAT")
    rows = []
    for i in ids:
        for token in (i, tokenizer.blank):
            probs = torch.full((tokenizer.vocab_size,), 1e-3)
            probs[token] = 0.9
            rows.append((probs / probs.sum()).log())
    beam = BeamDecoder(lexicon, tokens, tokenizer, find_lm_binary(tiny_lm), BeamConfig(lm_weight=1.0))
    assert beam.decode(torch.stack(rows)) == "THE CAT SAT"


def test_missing_lm_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="speechssl lm build"):
        find_lm_binary(tmp_path)
