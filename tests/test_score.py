"""WER/CER scoring: agreement with jiwer, hand-counted edits, utterance-set errors, the CLI."""

import jiwer
import pytest

from speechssl.cli.main import main
from speechssl.io.kaldi_dir import write_table
from speechssl.score import ScoreError, score_files, score_texts

REFS = {"a-1": "THE CAT SAT ON THE MAT", "a-2": "HELLO WORLD", "b-1": "GOOD MORNING"}
HYPS = {"a-1": "THE BAT SAT ON MAT", "a-2": "HELLO WORLD AGAIN", "b-1": "GOOD MORNING"}


def test_hand_counted_word_edits():
    result = score_texts(REFS, HYPS)
    # a-1: CAT->BAT (S), THE deleted (D); a-2: AGAIN inserted (I); 10 reference words.
    assert (result.words.substitutions, result.words.deletions, result.words.insertions) == (1, 1, 1)
    assert result.words.reference_length == 10
    assert result.wer == pytest.approx(0.3)
    assert result.num_utterances == 3


def test_matches_jiwer():
    keys = sorted(REFS)
    refs, hyps = [REFS[k] for k in keys], [HYPS[k] for k in keys]
    result = score_texts(REFS, HYPS)
    assert result.wer == pytest.approx(jiwer.wer(refs, hyps))
    assert result.cer == pytest.approx(jiwer.cer(refs, hyps))


def test_hand_counted_character_edits():
    result = score_texts({"u": "AB CD"}, {"u": "AB CX E"})
    # D->X (S) and " E" inserted (2 I) over 5 reference characters.
    assert (result.chars.substitutions, result.chars.deletions, result.chars.insertions) == (1, 0, 2)
    assert result.cer == pytest.approx(3 / 5)


def test_empty_hypothesis_is_all_deletions():
    result = score_texts({"u": "ONE TWO"}, {"u": ""})
    assert result.words.deletions == 2
    assert result.wer == 1.0


def test_missing_and_extra_utterances_are_named():
    with pytest.raises(ScoreError, match="no hypothesis for utterance 'a-2'"):
        score_texts(REFS, {"a-1": "X", "b-1": "Y"})
    with pytest.raises(ScoreError, match="utterance 'c-9' has no reference"):
        score_texts(REFS, {**HYPS, "c-9": "Z"})


def test_score_files_and_cli(tmp_path, capsys):
    write_table(tmp_path / "ref", REFS)
    write_table(tmp_path / "hyp", HYPS)
    assert score_files(tmp_path / "ref", tmp_path / "hyp").wer == pytest.approx(0.3)
    assert main(["score", "--ref", str(tmp_path / "ref"), "--hyp", str(tmp_path / "hyp")]) == 0
    assert "WER 30.00% [1 sub, 1 del, 1 ins of 10 words]" in capsys.readouterr().out
    write_table(tmp_path / "short", {"a-1": "X"})
    assert main(["score", "--ref", str(tmp_path / "ref"), "--hyp", str(tmp_path / "short")]) == 1
    assert "no hypothesis for utterance 'a-2'" in capsys.readouterr().err
