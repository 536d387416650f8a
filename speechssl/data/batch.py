"""The batch that travels from the data loader to objectives and the CTC model."""

from __future__ import annotations

from dataclasses import dataclass, field, fields

import torch

LABEL_PAD = -100  # padding value of frame labels and CTC targets; ignored by every loss


@dataclass
class AudioBatch:
    """A padded batch of utterances.

    Attributes:
        audio: shape (batch, samples), float32, zero padded.
        audio_lengths: shape (batch,), int64, valid samples per row.
        utt_ids: utterance ids, length batch.
        labels: shape (batch, label_frames), int64 frame labels (HuBERT) padded with LABEL_PAD.
        label_lengths: shape (batch,), int64.
        targets: shape (batch, target_len), int64 token ids (CTC) padded with LABEL_PAD.
        target_lengths: shape (batch,), int64.
        clean_audio: shape (batch, samples), float32, ``audio`` before augmentation (teacher input),
            present only when the loader augments (speechssl.data.augment).
        skipped: ``utt -> one-line problem`` (naming the file) of the utterances left out of the
            batch because their audio cannot be used; a batch may hold no rows (``size == 0``).
    """

    audio: torch.Tensor
    audio_lengths: torch.Tensor
    utt_ids: list[str] = field(default_factory=list)
    labels: torch.Tensor | None = None
    label_lengths: torch.Tensor | None = None
    targets: torch.Tensor | None = None
    target_lengths: torch.Tensor | None = None
    clean_audio: torch.Tensor | None = None
    skipped: dict[str, str] = field(default_factory=dict)

    @property
    def size(self) -> int:
        return self.audio.shape[0]

    def _map_tensors(self, fn) -> "AudioBatch":
        values = {f.name: getattr(self, f.name) for f in fields(self)}
        return AudioBatch(**{k: fn(v) if torch.is_tensor(v) else v for k, v in values.items()})

    def to(self, device: torch.device | str) -> "AudioBatch":
        """Copy every tensor to ``device`` (non-blocking when pinned)."""
        return self._map_tensors(lambda t: t.to(device, non_blocking=True))

    def pin_memory(self) -> "AudioBatch":
        """Page-locked copy of every tensor; DataLoader(pin_memory=True) calls this."""
        return self._map_tensors(lambda t: t.pin_memory())

    def padding_mask(self) -> torch.Tensor:
        """shape (batch, samples), True at padded samples."""
        positions = torch.arange(self.audio.shape[1], device=self.audio.device)
        return positions[None, :] >= self.audio_lengths[:, None]
