"""CTC fine-tuning: the backbone plus a linear head over output units, trained with CTC loss.

Implements the ``Objective`` interface so the one trainer loop runs fine-tuning as well.
"""

from __future__ import annotations

import contextlib
import dataclasses
from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F

from speechssl.data.batch import LABEL_PAD, AudioBatch
from speechssl.models.config import BackboneConfig
from speechssl.models.flops import FlopCount
from speechssl.objectives.base import Objective, ObjectiveOutput
from speechssl.objectives.masked_input import (
    SpanMaskConfig,
    draw_span_masks,
)


@dataclass
class CTCConfig(SpanMaskConfig):
    """Fine-tuning options (fairseq ``wav2vec_ctc`` semantics).

    Masking (inherited): fairseq's recipes use ``mask_prob`` 0.65 for 10 min to 10 h of labels,
    0.5 for 100 h and 0.075 for 960 h, ``mask_length`` 10, ``mask_channel_length`` 64.

    Attributes:
        apply_mask: time/channel masking of the Transformer input in training (SpecAugment-like).
        final_dropout: dropout before the output projection.
        freeze_updates: the Transformer (and everything before it) runs under ``no_grad`` for this
            many updates; only the output projection learns meanwhile.
        freeze_feature_encoder: the conv feature encoder never learns (fairseq feature_grad_mult 0).
        sentence_avg: ``sample_size`` = utterances (fairseq fine-tuning configs set
            ``sentence_avg: true``) instead of target tokens.
        reinit_top_layers: the top N Transformer layers of a pre-trained backbone start from fresh
            weights (0 = fairseq). The last layers of a briefly pre-trained model specialise to its
            pretext task and fine-tune worse than random ones (Pasad et al., 2021, "Layer-wise
            analysis of a self-supervised speech representation model"); docs/mini_diagnosis.md.
        dropout, attention_dropout, activation_dropout, dropout_input, layerdrop: replace the
            pre-training values of the backbone, as fairseq does when it builds the CTC model.
    """

    mask_prob: float = 0.65
    mask_channel_prob: float = 0.25
    mask_channel_length: int = 64
    apply_mask: bool = True
    final_dropout: float = 0.0
    freeze_updates: int = 0
    freeze_feature_encoder: bool = True
    reinit_top_layers: int = 0
    sentence_avg: bool = True
    dropout: float = 0.0
    attention_dropout: float = 0.0
    activation_dropout: float = 0.1
    dropout_input: float = 0.0
    layerdrop: float = 0.1


def finetune_backbone_config(model: BackboneConfig, config: CTCConfig) -> BackboneConfig:
    """The pre-trained backbone's sizes with the fine-tuning regularisation of ``config``."""
    return dataclasses.replace(
        model,
        dropout=config.dropout,
        attention_dropout=config.attention_dropout,
        activation_dropout=config.activation_dropout,
        dropout_input=config.dropout_input,
        layerdrop=config.layerdrop,
        feature_grad_mult=0.0 if config.freeze_feature_encoder else model.feature_grad_mult,
    )


class CTCObjective(Objective):
    """Backbone -> dropout -> Linear(D, vocab); CTC loss against ``batch.targets`` (blank = 0)."""

    def __init__(self, backbone: nn.Module, config: CTCConfig | None = None, vocab_size: int = 29):
        super().__init__()
        self.config = config or CTCConfig()
        if vocab_size < 2:
            raise ValueError(f"vocab_size must be >= 2 (blank + one unit), got {vocab_size}")
        self.backbone = backbone
        self.blank = 0
        self.final_dropout = nn.Dropout(self.config.final_dropout)
        embed_dim = backbone.config.embed_dim
        self.head = nn.Linear(embed_dim, vocab_size)
        nn.init.xavier_uniform_(self.head.weight)
        nn.init.zeros_(self.head.bias)
        # Saved with the weights, so a resumed run knows whether the Transformer is still frozen.
        self.register_buffer("num_updates", torch.zeros((), dtype=torch.long))
        if self.config.freeze_feature_encoder:
            for parameter in backbone.feature_encoder.parameters():
                parameter.requires_grad_(False)

    @property
    def transformer_frozen(self) -> bool:
        return int(self.num_updates) < self.config.freeze_updates

    def after_update(self, num_updates: int) -> None:
        self.num_updates.fill_(num_updates)

    def training_flops(self, count: FlopCount) -> float:
        """While the Transformer is frozen the backbone runs forward only (the head is not counted)."""
        return count.forward if self.transformer_frozen else count.training

    def encode(self, batch: AudioBatch, mask: bool) -> tuple[torch.Tensor, torch.Tensor]:
        """Logits (B, F, V) and valid frames (B,); ``mask`` draws time/channel masks."""
        frozen = self.training and self.transformer_frozen
        context = torch.no_grad() if frozen else contextlib.nullcontext()
        with context:
            front = self.backbone.front_end(batch.audio, batch.audio_lengths)
            time_mask = channel_mask = None
            if mask:
                time_mask, channel_mask = draw_span_masks(
                    self.config, front.padding_mask, front.x.shape[-1], batch.utt_ids
                )
            encoded = self.backbone.encode(front, time_mask, channel_mask).output
        logits = self.head(self.final_dropout(encoded))
        return logits, front.frame_lengths

    def log_probs(self, batch: AudioBatch) -> tuple[torch.Tensor, torch.Tensor]:
        """Log-probabilities (B, F, V) float32 and valid frames (B,), never masked (decoding)."""
        logits, lengths = self.encode(batch, mask=False)
        return F.log_softmax(logits.float(), dim=-1), lengths

    def forward(self, batch: AudioBatch) -> ObjectiveOutput:
        """CTC loss summed over the batch; ``batch.targets`` (B, S) padded with LABEL_PAD."""
        if batch.targets is None or batch.target_lengths is None:
            raise ValueError("CTC fine-tuning needs transcripts: the batch has no targets")
        logits, lengths = self.encode(batch, mask=self.training and self.config.apply_mask)
        log_probs = F.log_softmax(logits.float(), dim=-1)
        targets = batch.targets[batch.targets != LABEL_PAD]
        loss = F.ctc_loss(
            log_probs.transpose(0, 1),
            targets,
            lengths,
            batch.target_lengths,
            blank=self.blank,
            reduction="sum",
            zero_infinity=True,
        )
        num_tokens = int(batch.target_lengths.sum())
        sample_size = batch.size if self.config.sentence_avg else num_tokens
        with torch.no_grad():
            # Frames whose argmax is not blank: collapses to 0 early in training (all-blank phase).
            valid = torch.arange(log_probs.shape[1], device=lengths.device)[None, :] < lengths[:, None]
            emitting = ((log_probs.argmax(-1) != self.blank) & valid).sum() / valid.sum().clamp(min=1)
        logs = {
            "ntokens": float(num_tokens),
            "nsentences": float(batch.size),
            "loss_per_token": float(loss.detach()) / max(num_tokens, 1),
            "non_blank_frames": float(emitting),
            "frozen": float(self.training and self.transformer_frozen),
        }
        return ObjectiveOutput(loss=loss, sample_size=sample_size, logs=logs)
