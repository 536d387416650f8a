"""The probe tasks' losses and frame scoring: CTC over token sequences, cross-entropy over frames.

Both take the probe model's log-probabilities (B, T, V) with frame lengths (B,) and per-utterance
target lists, so the one training loop serves every task through ``ProbeTask.loss``.
"""

from __future__ import annotations

import torch
from torch.nn import functional as F

IGNORE = -100  # frame label of padding: ignored by the cross-entropy


def pad_targets(items: list[list[int]], value: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Id lists -> padded (B, S) long (pad ``value``) and lengths (B,)."""
    lengths = torch.tensor([len(t) for t in items])
    out = torch.full((len(items), int(lengths.max())), value, dtype=torch.long)
    for row, t in enumerate(items):
        out[row, : len(t)] = torch.tensor(t)
    return out, lengths


def ctc_loss(log_probs: torch.Tensor, lengths: torch.Tensor, targets: list[list[int]]) -> torch.Tensor:
    """Mean over the batch of each utterance's CTC loss per target token (blank 0); log_probs (B, T, V)."""
    padded, target_lengths = pad_targets(targets)
    return F.ctc_loss(log_probs.transpose(0, 1), padded.to(log_probs.device), lengths, target_lengths,
                      blank=0, reduction="mean", zero_infinity=True)


def frame_cross_entropy(log_probs: torch.Tensor, lengths: torch.Tensor,
                        labels: list[list[int]]) -> torch.Tensor:
    """Mean cross-entropy over every real frame of the batch; log_probs (B, T, V), one label a frame.

    Raises:
        ValueError: an utterance whose label count differs from its frame count.
    """
    for row, frame_labels in enumerate(labels):
        if len(frame_labels) != int(lengths[row]):
            raise ValueError(f"batch row {row}: {len(frame_labels)} frame labels for "
                             f"{int(lengths[row])} frames")
    padded, _ = pad_targets(labels, IGNORE)
    padded = padded.to(log_probs.device)
    frames = padded.shape[1]
    return F.nll_loss(log_probs[:, :frames].reshape(-1, log_probs.shape[-1]), padded.reshape(-1),
                      ignore_index=IGNORE)


def frame_error(emissions: dict[str, torch.Tensor], labels: dict[str, list[int]]) -> float:
    """1 - accuracy of the per-frame argmax over every frame of ``labels``' utterances.

    Args:
        emissions: ``utt -> (frames, V)`` log-probabilities; labels: ``utt -> frame labels``.
    """
    wrong = total = 0
    for utt, frame_labels in labels.items():
        predicted = emissions[utt].argmax(dim=-1)
        wrong += int((predicted != torch.tensor(frame_labels)).sum())
        total += len(frame_labels)
    if total == 0:
        raise ValueError("frame_error: no frame to score")
    return wrong / total
