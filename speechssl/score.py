"""Word and character error rates of hypotheses against references, computed with jiwer.

Both sides are Kaldi ``text`` files (``utt words...``); the utterance sets must match exactly.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass

import jiwer

from speechssl.io.kaldi_dir import read_table


class ScoreError(ValueError):
    """References and hypotheses do not cover the same utterances; names the first culprit."""


@dataclass
class ErrorCounts:
    """Edit-distance counts at one level (words or characters); ``rate`` = (S + D + I) / N."""

    rate: float = 0.0
    substitutions: int = 0
    deletions: int = 0
    insertions: int = 0
    hits: int = 0
    reference_length: int = 0


@dataclass
class ScoreResult:
    """WER and CER of a set of utterances (rates as fractions, not percent)."""

    wer: float = 0.0
    cer: float = 0.0
    words: ErrorCounts | None = None
    chars: ErrorCounts | None = None
    num_utterances: int = 0

    def to_dict(self) -> dict:
        return asdict(self)

    def summary(self) -> str:
        """One line: ``WER 12.34% [S/D/I of N] CER 5.67% (U utts)``."""
        w = self.words or ErrorCounts()
        return (
            f"WER {100 * self.wer:.2f}% [{w.substitutions} sub, {w.deletions} del, "
            f"{w.insertions} ins of {w.reference_length} words] CER {100 * self.cer:.2f}% "
            f"({self.num_utterances} utterances)"
        )


def check_same_utterances(refs: dict[str, str], hyps: dict[str, str], hyp_name: str) -> None:
    """Raise ScoreError naming the first utterance (sorted) present on one side only."""
    missing = sorted(set(refs) - set(hyps))
    if missing:
        raise ScoreError(
            f"{hyp_name}: no hypothesis for utterance '{missing[0]}' "
            f"({len(missing)} of {len(refs)} missing)"
        )
    extra = sorted(set(hyps) - set(refs))
    if extra:
        raise ScoreError(
            f"{hyp_name}: hypothesis for utterance '{extra[0]}' has no reference "
            f"({len(extra)} extra)"
        )


def _counts(output) -> ErrorCounts:
    errors = output.substitutions + output.deletions + output.insertions
    length = output.substitutions + output.deletions + output.hits
    return ErrorCounts(
        rate=errors / length if length else float(errors > 0),
        substitutions=output.substitutions,
        deletions=output.deletions,
        insertions=output.insertions,
        hits=output.hits,
        reference_length=length,
    )


def score_texts(
    refs: dict[str, str], hyps: dict[str, str], hyp_name: str = "hypotheses"
) -> ScoreResult:
    """Score ``hyps`` against ``refs`` (both ``utt -> text``); words split on whitespace.

    CER counts every character of the space-joined words (spaces included), as jiwer does.
    """
    check_same_utterances(refs, hyps, hyp_name)
    if not refs:
        raise ScoreError(f"{hyp_name}: no utterances to score")
    keys = sorted(refs)
    ref_list = [" ".join(refs[k].split()) for k in keys]
    hyp_list = [" ".join(hyps[k].split()) for k in keys]
    words = _counts(jiwer.process_words(ref_list, hyp_list))
    chars = _counts(jiwer.process_characters(ref_list, hyp_list))
    return ScoreResult(
        wer=words.rate, cer=chars.rate, words=words, chars=chars, num_utterances=len(keys)
    )


def score_files(ref_path: str | os.PathLike, hyp_path: str | os.PathLike) -> ScoreResult:
    """Score two Kaldi ``text`` files."""
    return score_texts(read_table(ref_path), read_table(hyp_path), hyp_name=str(hyp_path))
