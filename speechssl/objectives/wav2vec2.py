"""wav2vec 2.0: pick the quantized latent of each masked frame among distractors (contrastive).

Loss = cross-entropy over [positive, 100 negatives] + 0.1 diversity + 10 feature L2 penalty.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from speechssl.data.batch import AudioBatch
from speechssl.objectives.base import Objective, ObjectiveOutput
from speechssl.objectives.contrastive import contrastive_logits, sample_negatives
from speechssl.objectives.masked_input import (
    SpanMaskConfig,
    draw_span_masks,
    feature_penalty,
)
from speechssl.objectives.quantizer import (
    GumbelQuantizer,
    diversity_loss,
    temperature_at,
)


@dataclass
class Wav2Vec2Config(SpanMaskConfig):
    """wav2vec 2.0 BASE settings (masking fields from ``SpanMaskConfig``).

    The dropout on the quantizer input is the backbone's ``dropout_features``.

    Attributes:
        final_dim: size of the space where predictions and targets are compared.
        quantize_targets: targets are Gumbel-quantized (True) or the projected features.
        latent_vars: V entries per codebook; latent_groups: G codebooks.
        latent_dim: codevector size before ``project_q`` (0 -> final_dim).
        latent_temp: (start, floor, decay per update) of the Gumbel temperature.
        num_negatives: distractors per masked frame, from other masked frames of the utterance.
        logit_temp: kappa, cosine similarities are divided by it.
        diversity_weight: weight of (G*V - perplexity) / (G*V), times sample_size.
        feature_pen_weight: weight of the conv features' mean square, times sample_size.
    """

    mask_prob: float = 0.65
    mask_length: int = 10
    min_masks: int = 2
    final_dim: int = 256
    quantize_targets: bool = True
    latent_vars: int = 320
    latent_groups: int = 2
    latent_dim: int = 0
    latent_temp: tuple[float, float, float] = (2.0, 0.5, 0.999995)
    num_negatives: int = 100
    logit_temp: float = 0.1
    diversity_weight: float = 0.1
    feature_pen_weight: float = 10.0


class Wav2Vec2Objective(Objective):
    """Contrastive task over quantized conv features at masked frames.

    Modules: ``final_proj`` (D -> final_dim) on the Transformer output, ``quantizer`` (C ->
    latent_dim) and ``project_q`` (latent_dim or C -> final_dim) on the targets.
    """

    hf_model_type = "wav2vec2"
    fairseq_models = ("wav2vec2",)

    def __init__(self, backbone: nn.Module, config: Wav2Vec2Config | None = None):
        super().__init__()
        self.backbone = backbone
        self.config = config = config or Wav2Vec2Config()
        conv_dim, embed_dim = backbone.config.conv_dim, backbone.config.embed_dim
        self.final_proj = nn.Linear(embed_dim, config.final_dim)
        self.quantizer: GumbelQuantizer | None = None
        if config.quantize_targets:
            vq_dim = config.latent_dim if config.latent_dim > 0 else config.final_dim
            self.quantizer = GumbelQuantizer(
                conv_dim, config.latent_groups, config.latent_vars, vq_dim
            )
            self.project_q = nn.Linear(vq_dim, config.final_dim)
        else:
            self.project_q = nn.Linear(conv_dim, config.final_dim)
        self.after_update(0)

    def after_update(self, num_updates: int) -> None:
        """Set the Gumbel temperature for the next update."""
        if self.quantizer is not None:
            self.quantizer.set_temperature(temperature_at(num_updates, *self.config.latent_temp))

    def forward(self, batch: AudioBatch) -> ObjectiveOutput:
        """Loss summed over masked frames; sample_size = number of masked frames."""
        cfg = self.config
        front = self.backbone.front_end(batch.audio, batch.audio_lengths)
        time_mask, channel_mask = draw_span_masks(
            cfg, front.padding_mask, front.x.shape[-1], batch.utt_ids
        )
        encoded = self.backbone.encode(front, time_mask, channel_mask)
        pred = self.final_proj(encoded.output[time_mask])  # (N, final_dim)

        latents = self.backbone.dropout_features(front.normed)[time_mask]  # (N, C)
        logs: dict[str, float | torch.Tensor] = {}
        extra = torch.zeros((), device=pred.device)
        if self.quantizer is not None:
            quantized = self.quantizer(latents)
            targets = self.project_q(quantized.quantized)
            diversity = diversity_loss(quantized.prob_perplexity, quantized.num_codes)
            extra = extra + cfg.diversity_weight * diversity
            logs.update(
                code_perplexity=quantized.code_perplexity.detach(),
                prob_perplexity=quantized.prob_perplexity.detach(),
                temperature=self.quantizer.temperature.detach(),
                diversity_loss=diversity.detach(),
            )
        else:
            targets = self.project_q(latents)
        penalty = feature_penalty(front.features)
        extra = extra + cfg.feature_pen_weight * penalty

        neg_index, neg_valid = sample_negatives(time_mask, cfg.num_negatives)
        logits = contrastive_logits(pred, targets, neg_index, neg_valid, cfg.logit_temp)
        positives = torch.zeros(logits.shape[0], dtype=torch.long, device=logits.device)
        contrastive = F.cross_entropy(logits, positives, reduction="sum")
        sample_size = int(logits.shape[0])
        loss = contrastive + extra * sample_size

        with torch.no_grad():
            best = logits.argmax(dim=-1)
            # a row whose logits are all equal (max == min) counts as wrong, as fairseq does
            correct = (best == 0) & (best != logits.argmin(dim=-1))
        logs.update(
            contrastive_loss=contrastive.detach() / max(sample_size, 1),
            feature_pen=penalty.detach(),
            accuracy=correct.float().mean(),
            masked_frames=float(sample_size),
        )
        return ObjectiveOutput(loss=loss, sample_size=sample_size, logs=logs)
