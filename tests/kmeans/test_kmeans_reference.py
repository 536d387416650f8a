"""Reference letter alignment on hand-made emission matrices."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from speechssl.kmeans.reference import (
    AlignmentError,
    fill_blanks,
    force_align,
    reference_frames,
    reference_symbols,
)


def emissions(best: list[int], vocab: int = 4) -> torch.Tensor:
    """(T, vocab) log-probs where token ``best[t]`` has probability 0.9 on frame t."""
    probs = torch.full((len(best), vocab), 0.1 / (vocab - 1))
    probs[torch.arange(len(best)), torch.tensor(best)] = 0.9
    return probs.log()


def test_forced_path_and_blank_filling():
    # blank=0, A=1, B=2, |=3: the frame-wise best path already spells "A B |".
    log_probs = emissions([0, 0, 1, 0, 0, 2, 2, 0, 3, 0])
    path = force_align(log_probs, [1, 2, 3])
    np.testing.assert_array_equal(path, [0, 0, 1, 0, 0, 2, 2, 0, 3, 0])
    # blanks between A and B split 1/1, the lone blank after B goes to B, edges are silence (0)
    np.testing.assert_array_equal(fill_blanks(path), [0, 0, 1, 1, 2, 2, 2, 2, 3, 0])


def test_alignment_follows_the_transcript_not_the_argmax():
    # the argmax says "B A" but the transcript is "A B": the path must still emit A before B.
    log_probs = emissions([2, 2, 0, 1, 1, 0])
    path = force_align(log_probs, [1, 2])
    emitted = [int(t) for t in path if t != 0]
    assert emitted[0] == 1 and emitted[-1] == 2
    assert all(a <= b for a, b in zip(emitted, emitted[1:]))


def test_odd_gap_goes_to_the_letter_before_and_repeats_need_a_blank():
    np.testing.assert_array_equal(fill_blanks(np.array([1, 0, 0, 0, 2])), [1, 1, 1, 2, 2])
    labels = reference_frames(emissions([1, 0, 1, 0]), [1, 1])
    np.testing.assert_array_equal(labels, [1, 1, 1, 0])  # the trailing blank is silence
    with pytest.raises(AlignmentError, match="utterance 'u1': 2 frames cannot hold 2 tokens \\(\\+1"):
        force_align(emissions([1, 1]), [1, 1], utt="u1")
    with pytest.raises(AlignmentError, match="utterance 'u2': empty transcript"):
        force_align(emissions([0, 0]), [], utt="u2")


def test_reference_symbols_rename_blank():
    assert reference_symbols(["<blank>", "|", "A"]) == ["<sil>", "|", "A"]
