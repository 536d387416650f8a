"""Reference frame labels for label quality: forced alignment of transcripts with a CTC letter model.

For data dirs without true phone timings (the mini corpus has them: ``speechssl kmeans quality
--phones``), the references are *letter* alignments from a CTC model fine-tuned on the labelled
set, and the "phone purity" is then a letter purity: a proxy, comparable between label sets on
the same reference, not with the phone numbers of the HuBERT paper.

Blank frames get a letter too: a run of blanks between two emitted letters is split at its middle
(first half to the letter before, second half to the letter after: CTC spikes fall anywhere inside
a unit); blanks before the first and after the last letter are leading/trailing silence and get
their own class ``<sil>`` (which takes the blank's index). Word boundaries ``|`` are a class.
"""

from __future__ import annotations

import numpy as np
import torch
import torchaudio.functional as audio_functional

SILENCE = "<sil>"


class AlignmentError(ValueError):
    """A transcript that cannot be aligned to its audio; the message names the utterance."""


def force_align(
    log_probs: torch.Tensor, targets: list[int], blank: int = 0, utt: str = ""
) -> np.ndarray:
    """Best CTC path of ``targets`` through ``log_probs`` (Viterbi).

    Args:
        log_probs: shape (T, V), log-softmax outputs of one utterance.
        targets: S token ids (no blanks).
    Returns:
        shape (T,) int64: the token id on every frame, ``blank`` where the path is in a blank.
    Raises:
        AlignmentError: empty transcript, or too few frames for the transcript.
    """
    if not targets:
        raise AlignmentError(f"utterance '{utt}': empty transcript, nothing to align")
    repeats = sum(a == b for a, b in zip(targets, targets[1:]))
    if log_probs.shape[0] < len(targets) + repeats:
        raise AlignmentError(
            f"utterance '{utt}': {log_probs.shape[0]} frames cannot hold {len(targets)} tokens "
            f"(+{repeats} blanks between repeats); audio too short for its transcript?"
        )
    path, _ = audio_functional.forced_align(
        log_probs[None].float().cpu(), torch.tensor([targets], dtype=torch.int32), blank=blank
    )
    return path[0].numpy().astype(np.int64)


def fill_blanks(path: np.ndarray, blank: int = 0) -> np.ndarray:
    """Give every blank frame of a CTC path a class, by the rule in the module docstring.

    Args:
        path: shape (T,), token ids with ``blank``.
    Returns:
        shape (T,) int64: token ids; ``blank`` remains only on leading/trailing silence.
    """
    labels = path.copy()
    emitted = np.flatnonzero(path != blank)
    if emitted.size == 0:
        return labels
    for left, right in zip(emitted[:-1], emitted[1:]):
        gap = right - left - 1
        if gap > 0:
            middle = left + 1 + (gap + 1) // 2  # the odd frame goes to the letter before
            labels[left + 1 : middle] = path[left]
            labels[middle:right] = path[right]
    return labels


def reference_frames(
    log_probs: torch.Tensor, targets: list[int], blank: int = 0, utt: str = ""
) -> np.ndarray:
    """Frame classes of one utterance: forced alignment, then ``fill_blanks``. Shape (T,) int64."""
    return fill_blanks(force_align(log_probs, targets, blank, utt), blank)


def reference_symbols(tokens: list[str], blank: int = 0) -> list[str]:
    """Symbols of the reference classes: the tokenizer's, with the blank renamed ``<sil>``."""
    symbols = list(tokens)
    symbols[blank] = SILENCE
    return symbols
