"""The span masks every masked-prediction objective draws on ``Backbone.front_end`` frames.

``SpanMaskConfig`` holds the masking fields each objective config inherits (defaults per paper).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from speechssl import masking


@dataclass
class SpanMaskConfig:
    """Time and channel span masking (fairseq ``compute_mask_indices`` semantics).

    Attributes:
        mask_prob: probability of a frame starting a span, times ``mask_length`` (0.65 / 10 masks
            about half the frames because spans overlap).
        mask_length: frames per span.
        min_masks: at least this many spans per utterance.
        no_overlap: place spans at least ``min_space`` frames apart instead of independently.
        min_space: gap between spans when ``no_overlap``.
        mask_channel_prob / mask_channel_length: channel spans zeroed on every frame (0 = off).
    """

    mask_prob: float = 0.65
    mask_length: int = 10
    min_masks: int = 2
    no_overlap: bool = False
    min_space: int = 1
    mask_channel_prob: float = 0.0
    mask_channel_length: int = 10


def feature_penalty(features: torch.Tensor) -> torch.Tensor:
    """Mean squared activation of the conv features (B, F, C): wav2vec 2.0's L2 penalty."""
    return features.float().pow(2).mean()


def draw_span_masks(
    config: SpanMaskConfig,
    padding_mask: torch.Tensor,
    channels: int,
    utt_ids: list[str] | None = None,
    generator: torch.Generator | None = None,
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Time mask (B, F) and channel mask (B, D) or None, per ``config``.

    Raises:
        ValueError: when no frame of the batch was masked (utterances too short to mask); checked
            on CPU tensors only, since on a GPU the check would stall every step on a read-back.
    """
    time_mask = masking.compute_span_mask(
        tuple(padding_mask.shape),
        padding_mask,
        config.mask_prob,
        config.mask_length,
        min_masks=config.min_masks,
        no_overlap=config.no_overlap,
        min_space=config.min_space,
        require_same_masks=True,
        generator=generator,
    )
    if config.mask_prob > 0 and time_mask.device.type == "cpu" and not bool(time_mask.any()):
        names = ", ".join(utt_ids or []) or f"{padding_mask.shape[0]} utterances"
        raise ValueError(
            f"no frame masked in batch ({names}): utterances of {padding_mask.shape[1]} frames are "
            f"too short for mask_length {config.mask_length}; drop shorter audio in the data config"
        )
    channel_mask = None
    if config.mask_channel_prob > 0:
        channel_mask = masking.compute_channel_mask(
            padding_mask.shape[0],
            channels,
            config.mask_channel_prob,
            config.mask_channel_length,
            generator=generator,
            device=padding_mask.device,
        )
    return time_mask, channel_mask
