"""Map HuBERT frame labels at their own rate (50 or 100 Hz...) onto the model's frames.

Frame j takes label floor(j * label_rate / frame_rate), as fairseq does; small length
differences are cropped, large ones are an error that names the utterance.
"""

from __future__ import annotations

import torch

from speechssl.data.batch import LABEL_PAD


def align_labels(
    labels: torch.Tensor,
    label_lengths: torch.Tensor | None,
    frame_lengths: torch.Tensor,
    num_frames: int,
    label_rate: float,
    frame_rate: float,
    utt_ids: list[str] | None = None,
    tolerance: int = 2,
) -> torch.Tensor:
    """One label per model frame.

    Args:
        labels: shape (B, L) int64, padded with ``LABEL_PAD``.
        label_lengths: shape (B,), or None to count the non-pad labels.
        frame_lengths: shape (B,) valid model frames per utterance.
        num_frames: F, padded frame count of the batch.
        label_rate: labels per second (50, 100, 25 ...).
        frame_rate: model frames per second (16000 / 320 = 50).
        utt_ids: utterance ids for the error message.
        tolerance: largest allowed |frames - labels converted to frames| before an error.

    Returns:
        shape (B, F) int64, ``LABEL_PAD`` at padded frames and frames past the last label.

    Raises:
        ValueError: naming the utterance when label and frame counts disagree beyond tolerance
            (checked here when the lengths are on the CPU; on a GPU the caller checks the host
            batch with ``check_label_lengths`` before copying it, so the step never reads back).
    """
    if label_rate <= 0:
        raise ValueError(f"label_rate must be positive, got {label_rate}")
    ratio = label_rate / frame_rate
    if label_lengths is None:
        label_lengths = (labels != LABEL_PAD).sum(dim=1)
    if label_lengths.device.type == "cpu" and frame_lengths.device.type == "cpu":
        check_label_lengths(label_lengths, frame_lengths, label_rate, frame_rate, utt_ids, tolerance)
    frames = torch.arange(num_frames, device=labels.device)
    index = torch.floor(frames.double() * ratio + 1e-6).long()  # (F,)
    valid = (index[None, :] < label_lengths[:, None].to(labels.device)) & (
        frames[None, :] < frame_lengths[:, None].to(labels.device)
    )
    gathered = labels.gather(1, index.clamp(max=labels.shape[1] - 1).expand(labels.shape[0], -1))
    return torch.where(valid, gathered, torch.full_like(gathered, LABEL_PAD))


def check_label_lengths(
    label_lengths: torch.Tensor,
    frame_lengths: torch.Tensor,
    label_rate: float,
    frame_rate: float,
    utt_ids: list[str] | None = None,
    tolerance: int = 2,
) -> None:
    """Raise naming the first utterance whose (B,) label count, converted to frames at
    ``frame_rate``, is more than ``tolerance`` off its (B,) frame count (host tensors)."""
    expected = torch.round(label_lengths.double() / (label_rate / frame_rate)).long()
    gap = (expected - frame_lengths).abs()
    bad = (gap > tolerance).nonzero(as_tuple=True)[0]
    if bad.numel():
        b = int(bad[0])
        utt = utt_ids[b] if utt_ids and b < len(utt_ids) else f"row {b}"
        raise ValueError(
            f"utterance {utt}: {int(label_lengths[b])} labels at {label_rate:g} Hz cover "
            f"{int(expected[b])} frames but the audio gives {int(frame_lengths[b])} frames at "
            f"{frame_rate:g} Hz; check label_rate and that the labels belong to this audio"
        )
