"""Greedy (best-path) CTC decoding: argmax per frame, merge repeats, drop blanks.

Works on batched log-probabilities with valid lengths, or on one utterance's emissions.
"""

from __future__ import annotations

import torch


def best_path(emissions: torch.Tensor, blank: int = 0) -> list[int]:
    """Token ids of one utterance.

    Args:
        emissions: shape (frames, vocab), log-probabilities or logits (only the argmax matters).
    Returns:
        ids with consecutive repeats merged and blanks removed.
    """
    frames = emissions.argmax(dim=-1)
    if frames.numel() == 0:
        return []
    keep = torch.ones_like(frames, dtype=torch.bool)
    keep[1:] = frames[1:] != frames[:-1]
    keep &= frames != blank
    return frames[keep].tolist()


def greedy_decode(log_probs: torch.Tensor, lengths: torch.Tensor, blank: int = 0) -> list[list[int]]:
    """Best path of every row of a padded batch.

    Args:
        log_probs: shape (batch, frames, vocab).
        lengths: shape (batch,), valid frames per row; padded frames are ignored.
    """
    return [best_path(log_probs[i, : int(n)], blank) for i, n in enumerate(lengths.tolist())]
