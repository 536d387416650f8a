"""Teacher targets, regression loss and collapse monitors shared by data2vec and data2vec 2.0.

Targets: instance-normalise each of the top K teacher layers over time, average them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F


@dataclass
class RegressionConfig:
    """Settings shared by both data2vec variants (defaults: data2vec audio BASE).

    Attributes:
        average_top_k_layers: K, number of top teacher layers averaged into a target.
        end_of_block_targets: use the block outputs instead of the FFN outputs (before the last
            residual and LayerNorm, the papers' choice).
        instance_norm_target_layer: instance-norm every layer (over time, per channel) first.
        layer_norm_target_layer: LayerNorm every layer (over channels) first.
        instance_norm_targets / layer_norm_targets: normalise the average once more.
        loss_beta: 0 -> squared error, > 0 -> Smooth L1 with this beta.
        loss_scale: factor on the summed loss; None -> 1 / sqrt(model dim).
        ema_decay / ema_end_decay / ema_anneal_end_step: teacher decay schedule (linear, then flat).
        teacher_autocast: run the teacher's forward under the step's autocast (bf16 / fp16), as
            fairseq's fp16 runs did (its EMA model was half, with fp32 weights for the update);
            False keeps it in fp32. Its weights stay fp32 either way; no effect in fp32 runs.
        min_target_var / min_pred_var: abort when the std monitors fall below these (0 = never).
        var_check_after: the collapse check starts after this many updates.
        var_check_interval: on a GPU the monitors are read back (a synchronisation) every this
            many updates only; on the CPU at every step.
    """

    average_top_k_layers: int = 8
    end_of_block_targets: bool = False
    instance_norm_target_layer: bool = True
    layer_norm_target_layer: bool = False
    instance_norm_targets: bool = False
    layer_norm_targets: bool = False
    loss_beta: float = 0.0
    loss_scale: float | None = None
    ema_decay: float = 0.999
    ema_end_decay: float = 0.9999
    ema_anneal_end_step: int = 30000
    teacher_autocast: bool = True
    min_target_var: float = 0.1
    min_pred_var: float = 0.01
    var_check_after: int = 5000
    var_check_interval: int = 50


class CollapseError(RuntimeError):
    """Target or prediction variance fell below its floor: representations collapsed."""


def instance_norm_time(
    x: torch.Tensor, padding_mask: torch.Tensor | None = None, eps: float = 1e-5
) -> torch.Tensor:
    """Normalise each channel of each utterance over its valid time steps (no affine).

    Equals ``F.instance_norm(x.transpose(1, 2))`` when nothing is padded; padded steps are left
    out of the statistics and set to 0.

    Args:
        x: shape (B, T, C).
        padding_mask: shape (B, T) bool, True at padding, or None.

    Returns:
        shape (B, T, C) float32.
    """
    x = x.float()
    # the fused kernel when nothing is padded; asking that of a GPU tensor would read it back
    unpadded = padding_mask is None or (padding_mask.device.type == "cpu" and not padding_mask.any())
    if unpadded:
        return F.instance_norm(x.transpose(1, 2), eps=eps).transpose(1, 2)
    valid = (~padding_mask).unsqueeze(-1).float()  # (B, T, 1)
    count = valid.sum(dim=1, keepdim=True).clamp(min=1.0)
    mean = (x * valid).sum(dim=1, keepdim=True) / count
    var = (((x - mean) * valid) ** 2).sum(dim=1, keepdim=True) / count
    return (x - mean) / torch.sqrt(var + eps) * valid


def build_targets(
    layers: list[torch.Tensor], config: RegressionConfig, padding_mask: torch.Tensor | None = None
) -> torch.Tensor:
    """Average of the top-K normalised teacher layers.

    Args:
        layers: per layer, shape (B, T, C), bottom first.
        padding_mask: shape (B, T) bool, True at padding, or None.

    Returns:
        shape (B, T, C) float32 targets.
    """
    k = config.average_top_k_layers
    if not 1 <= k <= len(layers):
        raise ValueError(f"average_top_k_layers={k} but the teacher has {len(layers)} layers")
    total = None
    for layer in layers[-k:]:
        layer = layer.float()
        if config.instance_norm_target_layer:
            layer = instance_norm_time(layer, padding_mask)
        if config.layer_norm_target_layer:
            layer = F.layer_norm(layer, layer.shape[-1:])
        total = layer if total is None else total + layer
    y = total / k
    if config.layer_norm_targets:
        y = F.layer_norm(y, y.shape[-1:])
    if config.instance_norm_targets:
        y = instance_norm_time(y, padding_mask)
    return y


def regression_loss(
    pred: torch.Tensor,
    target: torch.Tensor,
    beta: float = 0.0,
    scale: float | None = None,
    weight: torch.Tensor | None = None,
) -> torch.Tensor:
    """Summed squared error (beta 0) or Smooth L1, times ``scale`` (default 1 / sqrt(C)).

    Args:
        pred, target: shape (N, C).
        weight: shape (N,) bool or float, or None: each row's loss times its weight, so that a
            GPU step can score every frame and select the masked ones without indexing.

    Returns:
        scalar float32 tensor summed over N and C.
    """
    pred = pred.float()
    target = target.float()
    if beta == 0:
        loss = F.mse_loss(pred, target, reduction="none")
    else:
        loss = F.smooth_l1_loss(pred, target, reduction="none", beta=beta)
    if scale is None:
        scale = 1.0 / math.sqrt(pred.shape[-1])
    if weight is not None:
        return torch.where(weight.bool()[:, None], loss, 0.0).sum() * scale
    return loss.sum() * scale


def feature_std(y: torch.Tensor, weight: torch.Tensor | None = None) -> torch.Tensor:
    """Collapse monitor: std over rows of each channel, averaged over channels.

    Args:
        y: shape (..., C); every leading dim is treated as a sample (batch * time).
        weight: shape (...,) bool, or None: only the rows where it is True count (unbiased
            variance over them, as ``var``), computed without indexing; 0 below two rows.
    """
    y = y.detach().float().reshape(-1, y.shape[-1])
    if weight is not None:
        keep = weight.reshape(-1, 1).to(y.dtype)
        count = keep.sum()
        mean = (y * keep).sum(dim=0) / count.clamp(min=1)
        var = ((y - mean) ** 2 * keep).sum(dim=0) / (count - 1).clamp(min=1)
        std = torch.sqrt(var + 1e-6).mean()
        return torch.where(count >= 2, std, torch.zeros_like(std))
    if y.shape[0] < 2:
        return torch.zeros((), device=y.device)
    return torch.sqrt(y.var(dim=0) + 1e-6).mean()


def check_collapse(
    target_var: float | torch.Tensor, pred_var: float | torch.Tensor, num_updates: int, config: RegressionConfig
) -> None:
    """Raise ``CollapseError`` once past ``var_check_after`` when a monitor is below its floor
    (0-d tensors are read back only then)."""
    if num_updates <= config.var_check_after:
        return
    target_var, pred_var = float(target_var), float(pred_var)
    if config.min_target_var > 0 and target_var < config.min_target_var:
        raise CollapseError(
            f"target variance {target_var:.4f} < min_target_var {config.min_target_var} at update "
            f"{num_updates}: the teacher collapsed; lower the learning rate or restart from an "
            "earlier checkpoint"
        )
    if config.min_pred_var > 0 and pred_var < config.min_pred_var:
        raise CollapseError(
            f"prediction variance {pred_var:.4f} < min_pred_var {config.min_pred_var} at update "
            f"{num_updates}: the student collapsed; lower the learning rate or restart from an "
            "earlier checkpoint"
        )
