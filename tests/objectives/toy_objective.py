"""A fifth objective that lives in the test tree: the encoder reconstructs its own (unmasked) input.

It is registered at run time (``OBJECTIVES["toy"] = ...``) to show that a new objective is one module
plus one registry line: the CLI, the trainer, the FLOP count and fine-tuning pick it up unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from speechssl.data.batch import AudioBatch
from speechssl.masking import compute_span_mask
from speechssl.objectives.base import Objective, ObjectiveOutput


@dataclass
class ToyConfig:
    """Attributes: mask_prob / mask_length: span masking of the student input (fairseq semantics)."""

    mask_prob: float = 0.3
    mask_length: int = 2


class ToyObjective(Objective):
    """MSE between the encoder output on masked frames (B, F, D) and the projected input there."""

    def __init__(self, backbone, config: ToyConfig) -> None:
        super().__init__()
        self.backbone = backbone
        self.config = config

    def forward(self, batch: AudioBatch) -> ObjectiveOutput:
        front = self.backbone.front_end(batch.audio, batch.audio_lengths)
        mask = compute_span_mask(
            tuple(front.x.shape[:2]), front.padding_mask, self.config.mask_prob, self.config.mask_length,
            min_masks=1, device=front.x.device,
        )
        output = self.backbone.encode(front, time_mask=mask).output
        errors = (output - front.projected.detach()).pow(2).mean(-1)  # (B, F)
        loss = errors[mask].sum()
        return ObjectiveOutput(loss=loss, sample_size=int(mask.sum()), logs={"masked_frames": float(mask.sum())})
