"""A toy Objective for trainer tests: a two-layer conv that denoises masked audio (MSE).

It draws random masks and uses dropout, so exact-resume tests also cover the RNG state.
"""

from __future__ import annotations

import time

import torch
from torch import nn

from speechssl.data.batch import AudioBatch
from speechssl.objectives.base import Objective, ObjectiveOutput


class ToyBackbone(nn.Module):
    """audio (B, T) -> reconstruction (B, T)."""

    def __init__(self, channels: int = 8):
        super().__init__()
        self.conv_in = nn.Conv1d(1, channels, 9, padding=4)
        self.dropout = nn.Dropout(0.1)
        self.conv_out = nn.Conv1d(channels, 1, 9, padding=4)

    def forward(self, audio: torch.Tensor) -> torch.Tensor:
        hidden = self.dropout(torch.nn.functional.gelu(self.conv_in(audio[:, None])))
        return self.conv_out(hidden)[:, 0]


class ToyObjective(Objective):
    """Loss = squared error summed over valid samples; sample_size = valid samples.

    ``sleep`` seconds per forward slow it down so a test can kill it mid-run.
    """

    def __init__(self, channels: int = 8, sleep: float = 0.0):
        super().__init__()
        self.backbone = ToyBackbone(channels)
        self.gain = nn.Parameter(torch.ones(1))
        self.register_buffer("updates_seen", torch.zeros((), dtype=torch.long))
        self.sleep = sleep

    def forward(self, batch: AudioBatch) -> ObjectiveOutput:
        if self.sleep:
            time.sleep(self.sleep)
        valid = (~batch.padding_mask()).float()
        keep = (torch.rand_like(batch.audio) > 0.2).float()
        prediction = self.gain * self.backbone(batch.audio * keep)
        loss = ((prediction - batch.audio) ** 2 * valid).sum()
        return ObjectiveOutput(loss=loss, sample_size=int(valid.sum()), logs={"keep": float(keep.mean())})

    def after_update(self, num_updates: int) -> None:
        self.updates_seen.fill_(num_updates)
