"""LM weight / word score grid search, and the emissions cache with its fingerprint."""

import pytest
import torch

from letter_emissions import letter_emissions, spelled
from speechssl.decode.beam import BeamConfig, BeamDecoder, find_lm_binary, prepare_lexicon
from speechssl.decode.emissions import fingerprint, load_cached, save_cached
from speechssl.decode.tune import TuneResult, load_tuning, parse_grid, save_tuning, tune_lm_weights, tuning_key
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


def test_tuning_record_round_trip_and_key(tmp_path):
    lm = tmp_path / "lm.bin"
    lm.write_bytes(b"lm v1")
    base = BeamConfig(beam_size=7)
    key = tuning_key("ckpt+dev", lm, base, [0.0, 1.0], [0.0])
    assert key != tuning_key("ckpt+dev", lm, base, [0.0, 2.0], [0.0])
    assert key != tuning_key("other", lm, base, [0.0, 1.0], [0.0])
    trials = [{"lm_weight": 1.0, "word_score": 0.0, "wer": 0.25, "cer": 0.1}]
    save_tuning(tmp_path / "t.json", key, TuneResult(BeamConfig(lm_weight=1.0, word_score=-1.0), 0.25, 0.1, trials))
    loaded = load_tuning(tmp_path / "t.json", key, base)
    assert (loaded.best.lm_weight, loaded.best.word_score, loaded.best.beam_size) == (1.0, -1.0, 7)
    assert (loaded.best_wer, loaded.trials) == (0.25, trials)
    assert load_tuning(tmp_path / "t.json", "another key", base) is None
    assert load_tuning(tmp_path / "missing.json", key, base) is None
    lm.write_bytes(b"lm v2, rebuilt")  # a new LM file version changes the key
    assert tuning_key("ckpt+dev", lm, base, [0.0, 1.0], [0.0]) != key
