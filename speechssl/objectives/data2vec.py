"""data2vec (audio): regress the teacher's averaged top-K layers at masked frames.

The student sees span-masked input, the EMA teacher the same input unmasked.
"""

from __future__ import annotations

from dataclasses import dataclass

from torch import nn

from speechssl.data.batch import AudioBatch
from speechssl.objectives.base import ObjectiveOutput
from speechssl.objectives.masked_input import (
    SpanMaskConfig,
    draw_span_masks,
)
from speechssl.objectives.regression import RegressionConfig
from speechssl.objectives.teacher_student import TeacherStudentObjective


@dataclass
class Data2VecConfig(RegressionConfig, SpanMaskConfig):
    """data2vec audio BASE: teacher/target/loss fields from ``RegressionConfig`` (tau 0.999 ->
    0.9999 over 30k updates, K = 8, L2 loss), masking fields from ``SpanMaskConfig``."""

    mask_prob: float = 0.65
    mask_length: int = 10
    min_masks: int = 1


class Data2VecObjective(TeacherStudentObjective):
    """Student = backbone with mask embedding + ``final_proj`` Linear(D, D); teacher = EMA."""

    hf_model_type = "data2vec-audio"
    fairseq_models = ("data2vec_audio",)

    def __init__(self, backbone: nn.Module, config: Data2VecConfig | None = None):
        super().__init__(backbone, config or Data2VecConfig())
        dim = backbone.config.embed_dim
        self.final_proj = nn.Linear(dim, dim)

    def forward(self, batch: AudioBatch) -> ObjectiveOutput:
        """Loss summed over masked frames; sample_size = number of masked frames (a tensor).

        Every frame is predicted and the masked ones selected by weight, not by indexing, so
        the step has static shapes and reads nothing back on a GPU.
        """
        front = self.backbone.front_end(batch.audio, batch.audio_lengths)
        time_mask, channel_mask = draw_span_masks(
            self.config, front.padding_mask, front.x.shape[-1], batch.utt_ids
        )
        encoded = self.backbone.encode(front, time_mask, channel_mask)
        pred = self.final_proj(encoded.output).flatten(0, 1)  # (B*F, D)
        target = self.teacher_targets(self.teacher_input(batch, front), front.padding_mask).flatten(0, 1)
        return self.regression_output(pred, target, weight=time_mask.flatten())
