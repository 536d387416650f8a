"""LM weight / word score grid search, and the emissions cache with its fingerprint."""

import pytest
import torch

from letter_emissions import letter_emissions, spelled
from speechssl.decode.beam import BeamConfig, BeamDecoder, find_lm_binary, prepare_lexicon
from speechssl.decode.emissions import fingerprint, load_cached, save_cached
from speechssl.decode.tune import parse_grid, tune_lm_weights
from speechssl.text.tokenizer import LetterTokenizer


def test_grid_search_picks_the_lm_weight_that_fixes_dev(tiny_lm, tmp_path):
    lexicon, tokens = prepare_lexicon(tiny_lm, LetterTokenizer(), tmp_path)
    lm = find_lm_binary(tiny_lm)
    dev = {
        "u1": letter_emissions([*spelled("THE|"), {"M": 0.5, "C": 0.45}, *spelled("AT|SAT|")]),
        "u2": letter_emissions(spelled("THE|DOG|")),
    }
    refs = {"u1": "THE CAT SAT", "u2": "THE DOG"}
    result = tune_lm_weights(
        dev, refs, lambda config: BeamDecoder(lexicon, tokens, LetterTokenizer(), lm, config),
        BeamConfig(beam_size=20), lm_weights=[0.0, 2.0], word_scores=[0.0, 1.0],
    )
    assert len(result.trials) == 4
    assert [t["wer"] for t in result.trials if t["lm_weight"] == 0.0] == [0.2, 0.2]
    assert result.best.lm_weight == 2.0 and result.best_wer == 0.0
    assert result.best.beam_size == 20


def test_parse_grid():
    assert parse_grid("0, 0.5,2", "--lm-weights") == [0.0, 0.5, 2.0]
    with pytest.raises(ValueError, match="--word-scores"):
        parse_grid("a,b", "--word-scores")


def test_cache_round_trip_and_staleness(tmp_path):
    checkpoint = tmp_path / "checkpoint_best.safetensors"
    checkpoint.write_bytes(b"weights v1")
    data = tmp_path / "data"
    data.mkdir()
    (data / "wav.scp").write_text("u1 a.wav\n")
    tag = fingerprint(checkpoint, data)
    emissions = {"u1": torch.randn(7, 29), "u2": torch.randn(3, 29)}
    save_cached(tmp_path / "cache.safetensors", emissions, tag)
    loaded = load_cached(tmp_path / "cache.safetensors", tag)
    assert set(loaded) == {"u1", "u2"}
    torch.testing.assert_close(loaded["u1"], emissions["u1"])
    checkpoint.write_bytes(b"weights v2, retrained")
    assert fingerprint(checkpoint, data) != tag
    assert load_cached(tmp_path / "cache.safetensors", fingerprint(checkpoint, data)) is None
    assert load_cached(tmp_path / "absent.safetensors", tag) is None
