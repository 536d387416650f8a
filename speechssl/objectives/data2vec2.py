"""data2vec 2.0 (audio): M masked clones per utterance, student encodes unmasked frames only.

A light conv decoder fills the masked frames back in; the EMA teacher runs once per utterance.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch
from torch import nn

from speechssl import masking
from speechssl.data.batch import AudioBatch
from speechssl.models.backbone import FrontEnd
from speechssl.models.flops import FlopCount
from speechssl.objectives.base import ObjectiveOutput
from speechssl.objectives.decoder import ConvDecoder, DecoderConfig
from speechssl.objectives.regression import RegressionConfig
from speechssl.objectives.teacher_student import TeacherStudentObjective


@dataclass
class Data2Vec2Config(RegressionConfig):
    """data2vec 2.0 audio BASE (teacher/target/loss fields from ``RegressionConfig``).

    Attributes:
        mask_prob: span start probability (fairseq's 0.5 plus its ``mask_prob_adjust`` 0.05).
        mask_length: frames per span; min_masks: spans at least per clone.
        clone_batch: M, independently masked copies of each utterance.
        decoder: the conv decoder.
    """

    mask_prob: float = 0.55
    mask_length: int = 5
    min_masks: int = 1
    clone_batch: int = 8
    ema_end_decay: float = 0.99999
    ema_anneal_end_step: int = 75000
    decoder: DecoderConfig = field(default_factory=DecoderConfig)


def check_some_masked(mask: torch.Tensor, batch: AudioBatch, mask_length: int) -> None:
    """Raise ``ValueError`` naming the batch's utterances when a CPU mask (N, T) masks nothing
    (on a GPU it would cost a read-back; ``gather_unmasked`` reads U back there anyway)."""
    if mask.device.type == "cpu" and not bool(mask.any()):
        raise ValueError(
            f"no frame masked in batch ({', '.join(batch.utt_ids)}): {mask.shape[1]} frames are too "
            f"short for mask_length {mask_length}; drop shorter audio in the data config"
        )


def encode_unmasked(
    backbone: nn.Module, x: torch.Tensor, padding_mask: torch.Tensor, mask: torch.Tensor
) -> torch.Tensor:
    """The backbone's Transformer over the kept frames only (data2vec 2.0, also masked reconstruction).

    Args:
        x: shape (N, T, D) projected features (N = B*M clones).
        padding_mask: shape (N, T) bool, True at padding.
        mask: shape (N, T) bool, True at masked frames, the same count per row.

    Returns:
        shape (N, U, D) with U = T - masked frames per row.
    """
    # masked frames are zeroed (not dropped) for the positional conv, as fairseq does
    x = backbone.add_positions(x.masked_fill(mask.unsqueeze(-1), 0.0), padding_mask)
    kept, index = masking.gather_unmasked(x, mask)
    kept_padding = padding_mask.gather(1, index)
    return backbone.transformer(kept, kept_padding, attn_bias=backbone.attention_bias(kept, index)).output


@dataclass
class MaskedClones:
    """The student side of a multi-mask step (``encode_masked_clones``).

    Attributes:
        front: the batch's front end (``features``, ``padding_mask`` (B, T), ``x`` (B, T, D), ...).
        mask: shape (B*M, T) bool, True at masked frames; row ``b * M + m`` is clone m of utterance b.
        encoded: shape (B*M, U, D), the Transformer over each clone's U unmasked frames.
    """

    front: FrontEnd
    mask: torch.Tensor
    encoded: torch.Tensor


def encode_masked_clones(backbone: nn.Module, batch: AudioBatch, config) -> MaskedClones:
    """Front end once, ``config.clone_batch`` masks per utterance (``mask_prob``, ``mask_length``,
    ``min_masks``), then the Transformer over the unmasked frames of every clone (data2vec 2.0, mae)."""
    front = backbone.front_end(batch.audio, batch.audio_lengths)
    clones = config.clone_batch
    mask = masking.compute_clone_masks(
        tuple(front.padding_mask.shape),
        front.padding_mask,
        clones,
        config.mask_prob,
        config.mask_length,
        min_masks=config.min_masks,
        device=front.x.device,
    )
    check_some_masked(mask, batch, config.mask_length)
    padding = front.padding_mask.repeat_interleave(clones, dim=0)
    encoded = encode_unmasked(backbone, front.x.repeat_interleave(clones, dim=0), padding, mask)
    return MaskedClones(front, mask, encoded)


class Data2Vec2Objective(TeacherStudentObjective):
    """Student: masked frames dropped before the Transformer; ``decoder`` predicts all frames."""

    fairseq_models = ("data2vec_multi",)

    def __init__(self, backbone: nn.Module, config: Data2Vec2Config | None = None):
        config = config or Data2Vec2Config()
        if config.clone_batch < 1:
            raise ValueError(f"data2vec2: clone_batch must be >= 1, got {config.clone_batch}")
        super().__init__(backbone, config)
        dim = backbone.config.embed_dim
        self.decoder = ConvDecoder(dim, dim, config.decoder)

    def training_flops(self, count: FlopCount) -> float:
        """Conv encoder once, the student Transformer on M clones of the unmasked frames, the
        teacher's forward once. Spans overlap, so a fraction ~1 - exp(-mask_prob) is masked."""
        kept = math.exp(-self.config.mask_prob)
        once = count.training - 3.0 * count.transformer
        return once + 3.0 * self.config.clone_batch * kept * count.transformer + count.transformer

    def forward(self, batch: AudioBatch) -> ObjectiveOutput:
        """Loss summed over masked frames of every clone; sample_size = their number."""
        clones = self.config.clone_batch
        student = encode_masked_clones(self.backbone, batch, self.config)
        front, mask, encoded = student.front, student.mask, student.encoded
        decoded = self.decoder(encoded, ~mask)  # (B*M, T, D)
        target = self.teacher_targets(self.teacher_input(batch, front), front.padding_mask)
        target = target.repeat_interleave(clones, dim=0)  # (B*M, T, D)
        logs = {"student_frames": float(encoded.shape[1]), "masked_pct": mask.float().mean()}
        # masked frames selected by weight: no data-dependent shape past the gather of kept frames
        return self.regression_output(decoded.flatten(0, 1), target.flatten(0, 1), logs, mask.flatten())
