"""HuBERT: predict offline cluster labels (k-means units) of masked frames.

Cosine logits between projected Transformer outputs and learned label embeddings, / 0.1.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from speechssl.data.batch import LABEL_PAD, AudioBatch
from speechssl.objectives.base import Objective, ObjectiveOutput
from speechssl.objectives.contrastive import cosine_logits_table
from speechssl.objectives.label_alignment import align_labels, check_label_lengths
from speechssl.objectives.masked_input import (
    SpanMaskConfig,
    draw_span_masks,
    feature_penalty,
)


@dataclass
class HubertConfig(SpanMaskConfig):
    """HuBERT BASE settings (masking fields from ``SpanMaskConfig``).

    Attributes:
        num_classes: number of label types (lines of the label dir's ``dict.txt``).
        label_rate: labels per second (50 for MFCC/layer k-means at 20 ms, 100 at 10 ms).
        sample_rate: audio sample rate; with the backbone's downsampling gives the frame rate.
        label_tolerance: largest allowed frame-count mismatch before an error (cropped below).
        final_dim: size of the projection and of the label embeddings.
        logit_temp: kappa, cosine similarities are divided by it.
        pred_masked_weight / pred_nomask_weight: loss weights of masked / unmasked frames.
        feature_pen_weight: weight of the conv features' mean square, times sample_size.
    """

    mask_prob: float = 0.8
    mask_length: int = 10
    min_masks: int = 2
    num_classes: int = 500
    label_rate: float = 50.0
    sample_rate: int = 16000
    label_tolerance: int = 2
    final_dim: int = 256
    logit_temp: float = 0.1
    pred_masked_weight: float = 1.0
    pred_nomask_weight: float = 0.0
    feature_pen_weight: float = 10.0


class HubertObjective(Objective):
    """Masked prediction of frame labels from ``batch.labels``.

    Modules: ``final_proj`` (D -> final_dim) and ``label_embeddings`` (num_classes, final_dim).
    """

    hf_model_type = "hubert"
    fairseq_models = ("hubert",)
    needs_labels = True
    iterations = 2

    def __init__(self, backbone: nn.Module, config: HubertConfig | None = None):
        super().__init__()
        self.backbone = backbone
        self.config = config = config or HubertConfig()
        if config.num_classes < 2:
            raise ValueError(f"hubert: num_classes must be >= 2, got {config.num_classes}")
        self.final_proj = nn.Linear(backbone.config.embed_dim, config.final_dim)
        self.label_embeddings = nn.Parameter(torch.empty(config.num_classes, config.final_dim))
        nn.init.uniform_(self.label_embeddings)
        self.frame_rate = config.sample_rate / backbone.config.downsampling

    def check_batch(self, batch: AudioBatch) -> None:
        """Host-side checks of the labels: present, as many as the audio's frames, below num_classes."""
        if batch.labels is None:
            raise ValueError(
                f"hubert needs frame labels but the batch ({', '.join(batch.utt_ids)}) has none; "
                "set the data config's label dir"
            )
        label_lengths = batch.label_lengths
        if label_lengths is None:
            label_lengths = (batch.labels != LABEL_PAD).sum(dim=1)
        frame_lengths = self.backbone.frame_lengths(batch.audio_lengths)
        cfg = self.config
        check_label_lengths(
            label_lengths, frame_lengths, cfg.label_rate, self.frame_rate, batch.utt_ids, cfg.label_tolerance
        )
        too_big = batch.labels >= cfg.num_classes
        if bool(too_big.any()):
            row = int(too_big.any(dim=1).nonzero()[0])
            utt = batch.utt_ids[row] if row < len(batch.utt_ids) else f"row {row}"
            raise ValueError(
                f"utterance {utt}: label {int(batch.labels[row].max())} >= num_classes "
                f"{cfg.num_classes}; set num_classes to the size of dict.txt"
            )

    def frame_labels(self, batch: AudioBatch, frame_lengths: torch.Tensor, num_frames: int) -> torch.Tensor:
        """(B, F) label of each model frame, ``LABEL_PAD`` where there is none."""
        if batch.labels is None or batch.labels.device.type == "cpu":
            self.check_batch(batch)  # free on the CPU; the trainer runs it before a GPU copy
        return align_labels(
            batch.labels,
            batch.label_lengths,
            frame_lengths,
            num_frames,
            self.config.label_rate,
            self.frame_rate,
            batch.utt_ids,
            self.config.label_tolerance,
        )

    def _frame_losses(self, proj: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Cross-entropy (B*F,) of every frame (0 at ``LABEL_PAD``) and whether its argmax is right.

        Every frame is scored, masked or not, so that no step depends on a data-dependent count
        (a GPU step then never reads back); the parts are selected by weighting, not indexing.
        """
        logits = cosine_logits_table(proj.flatten(0, 1), self.label_embeddings, self.config.logit_temp)
        target = labels.flatten()
        loss = F.cross_entropy(logits, target, reduction="none", ignore_index=LABEL_PAD)
        with torch.no_grad():
            correct = logits.argmax(dim=-1) == target
        return loss, correct

    def forward(self, batch: AudioBatch) -> ObjectiveOutput:
        """Loss summed over the frames that carry weight; sample_size = their number (a tensor)."""
        cfg = self.config
        front = self.backbone.front_end(batch.audio, batch.audio_lengths)
        labels = self.frame_labels(batch, front.frame_lengths, front.x.shape[1])
        time_mask, channel_mask = draw_span_masks(
            cfg, front.padding_mask, front.x.shape[-1], batch.utt_ids
        )
        encoded = self.backbone.encode(front, time_mask, channel_mask)
        proj = self.final_proj(encoded.output)  # (B, F, final_dim)
        labelled = labels != LABEL_PAD
        frame_loss, frame_correct = self._frame_losses(proj, labels)

        loss = torch.zeros((), device=proj.device)
        sample_size = torch.zeros((), dtype=torch.long, device=proj.device)
        logs: dict[str, torch.Tensor] = {}
        for name, select, weight in (
            ("masked", time_mask & labelled, cfg.pred_masked_weight),
            ("unmasked", ~time_mask & labelled, cfg.pred_nomask_weight),
        ):
            select = select.flatten()
            part = torch.where(select, frame_loss, 0.0).sum()
            count = select.sum()
            if weight > 0:
                loss = loss + weight * part
                sample_size = sample_size + count
            denominator = count.clamp(min=1)
            logs[f"{name}_accuracy"] = (frame_correct & select).sum() / denominator
            logs[f"{name}_loss"] = part.detach() / denominator
        penalty = feature_penalty(front.features)
        loss = loss + cfg.feature_pen_weight * penalty * sample_size
        logs["feature_pen"] = penalty.detach()
        return ObjectiveOutput(loss=loss, sample_size=sample_size, logs=logs)
