"""CTC heads of the probes: SUPERB PR's linear layer and SUPERB ASR's BiLSTM (scaled to the corpus).

Both map featurizer output (B, T, D) with lengths (B,) to logits (B, T, vocab).
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence


class LinearHead(nn.Module):
    """One linear layer to the CTC vocabulary (s3prl's libriphone downstream)."""

    def __init__(self, input_dim: int, vocab_size: int) -> None:
        super().__init__()
        self.proj = nn.Linear(input_dim, vocab_size)

    def forward(self, x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """x (B, T, D), lengths (B,) -> logits (B, T, vocab)."""
        return self.proj(x)


class BiLSTMHead(nn.Module):
    """Stacked bidirectional LSTMs, dropout between them, then a linear layer to the vocabulary.

    SUPERB ASR uses 2 x 1024 units per direction for 100 h of LibriSpeech; the probes default to
    2 x 256 for the mini corpus's minutes of speech (see docs/probes.md).
    """

    def __init__(self, input_dim: int, vocab_size: int, hidden_size: int = 256,
                 num_layers: int = 2, dropout: float = 0.2) -> None:
        super().__init__()
        self.lstm = nn.LSTM(input_dim, hidden_size, num_layers=num_layers, batch_first=True,
                            bidirectional=True, dropout=dropout if num_layers > 1 else 0.0)
        self.dropout = nn.Dropout(dropout)
        self.proj = nn.Linear(2 * hidden_size, vocab_size)

    def forward(self, x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """x (B, T, D), lengths (B,) -> logits (B, T, vocab); padded frames are not read."""
        packed = pack_padded_sequence(x, lengths.cpu(), batch_first=True, enforce_sorted=False)
        output, _ = self.lstm(packed)
        output, _ = pad_packed_sequence(output, batch_first=True, total_length=x.shape[1])
        return self.proj(self.dropout(output))
