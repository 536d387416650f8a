"""Base class of data2vec and data2vec 2.0: EMA teacher, its targets, loss and collapse guard.

Subclasses build the student's predictions; everything about the teacher lives here.
"""

from __future__ import annotations

import torch
from torch import nn

from speechssl.data.batch import AudioBatch
from speechssl.models.backbone import FrontEnd
from speechssl.models.flops import FlopCount
from speechssl.objectives.base import Objective, ObjectiveOutput
from speechssl.objectives.ema import EMATeacher, ema_decay_at
from speechssl.objectives.regression import (
    RegressionConfig,
    build_targets,
    check_collapse,
    feature_std,
    regression_loss,
)


class TeacherStudentObjective(Objective):
    """Holds ``backbone``, ``config`` and ``teacher``: an EMA copy of ``backbone.encoder``.

    The conv feature encoder, projection and positional conv are the student's, shared rather
    than copied (fairseq's ``ema_transformer_only``); the teacher sees unmasked input.
    """

    def __init__(self, backbone: nn.Module, config: RegressionConfig):
        super().__init__()
        num_layers = backbone.config.num_layers
        if not 1 <= config.average_top_k_layers <= num_layers:
            raise ValueError(
                f"average_top_k_layers={config.average_top_k_layers} but the backbone has "
                f"{num_layers} layers; set it to at most {num_layers}"
            )
        self.backbone = backbone
        self.config = config
        self.teacher = EMATeacher(backbone.encoder, autocast=config.teacher_autocast)
        # A buffer, so that a resumed run knows how far the collapse check has gone.
        self.register_buffer("num_updates", torch.zeros((), dtype=torch.long))
        self._host_updates: int | None = 0  # host copy of num_updates (no read-back per step)
        self.register_load_state_dict_post_hook(self._reset_host_updates)
        self.teacher.decay = ema_decay_at(
            0, config.ema_decay, config.ema_end_decay, config.ema_anneal_end_step
        )

    def _reset_host_updates(self, *_) -> None:
        self._host_updates = None  # a loaded state dict brings its own count: read it once

    def _collapse_check_due(self, device: torch.device) -> bool:
        """Whether this step reads the variance monitors back: every step on the CPU (free there),
        every ``var_check_interval`` updates elsewhere (a read-back stalls a GPU step)."""
        cfg = self.config
        if cfg.min_target_var <= 0 and cfg.min_pred_var <= 0:
            return False
        if self._host_updates is None:
            self._host_updates = int(self.num_updates)
        if self._host_updates <= cfg.var_check_after:
            return False
        return device.type == "cpu" or self._host_updates % cfg.var_check_interval == 0

    def after_update(self, num_updates: int) -> None:
        """Move the teacher towards the student with the decay of this update."""
        self.num_updates.fill_(num_updates)
        self._host_updates = num_updates
        cfg = self.config
        decay = ema_decay_at(num_updates, cfg.ema_decay, cfg.ema_end_decay, cfg.ema_anneal_end_step)
        if decay < 1.0:
            self.teacher.update(self.backbone.encoder, decay)
        self.teacher.decay = decay

    def training_flops(self, count: FlopCount) -> float:
        """Student forward + backward, plus the teacher's forward of the Transformer."""
        return count.training + count.transformer

    def trainable_parameters(self) -> list[nn.Parameter]:
        """Every student parameter; the teacher copy is excluded."""
        teacher = {id(p) for p in self.teacher.parameters()}
        return [p for p in self.parameters() if p.requires_grad and id(p) not in teacher]

    def teacher_input(self, batch: AudioBatch, front: FrontEnd) -> torch.Tensor:
        """(B, T, D) projected features the teacher sees: the student's own (``front.projected``),
        or those of ``batch.clean_audio`` when the loader augmented the student's input (same
        lengths, so the same frames; no dropout, hence no draw from the RNG)."""
        if batch.clean_audio is None:
            return front.projected
        with torch.no_grad():
            return self.backbone.front_end(batch.clean_audio, batch.audio_lengths, input_dropout=False).x

    def teacher_targets(self, x: torch.Tensor, padding_mask: torch.Tensor | None) -> torch.Tensor:
        """Targets from the teacher on unmasked input.

        Args:
            x: shape (B, T, D), projected features without masking, before positions.
            padding_mask: shape (B, T) bool, True at padding.

        Returns:
            shape (B, T, D) float32: average of the top-K normalised teacher layers.
        """
        backbone = self.backbone
        with torch.no_grad():
            x = backbone.add_positions(x.detach().float(), padding_mask)
            out = self.teacher(x, padding_mask, attn_bias=backbone.attention_bias(x), output_layers=True)
            layers = out.layer_outputs if self.config.end_of_block_targets else out.ffn_outputs
            return build_targets(layers, self.config, padding_mask)

    def regression_output(
        self,
        pred: torch.Tensor,
        target: torch.Tensor,
        logs: dict[str, float | torch.Tensor] | None = None,
        weight: torch.Tensor | None = None,
    ) -> ObjectiveOutput:
        """Loss over N predicted frames, variance monitors and the collapse check.

        Args:
            pred: shape (N, D) student predictions (at masked frames, or at every frame).
            target: shape (N, D) teacher targets at the same frames.
            weight: shape (N,) bool, True at the frames that count (None: all): selecting by
                weight keeps N a static shape, so the GPU step never reads a count back.
        """
        cfg = self.config
        loss = regression_loss(pred, target, cfg.loss_beta, cfg.loss_scale, weight)
        target_var = feature_std(target, weight).detach()
        pred_var = feature_std(pred, weight).detach()
        if self.training and self._collapse_check_due(pred.device):
            check_collapse(target_var, pred_var, self._host_updates, cfg)
        sample_size = int(pred.shape[0]) if weight is None else weight.sum()
        logs = dict(logs or {})
        logs.update(
            target_var=target_var,
            pred_var=pred_var,
            ema_decay=self.teacher.decay,
            masked_frames=float(sample_size) if weight is None else sample_size.float(),
        )
        return ObjectiveOutput(loss=loss, sample_size=sample_size, logs=logs)
