"""Adam(W) construction and the learning-rate schedules (polynomial, tri-stage, cosine, constant).

Schedules are pure functions of the update number, so resuming needs no scheduler state beyond it.
"""

from __future__ import annotations

import math
from typing import Iterable

import torch

from speechssl.train.config import OptimConfig, ScheduleConfig


def build_optimizer(params: Iterable[torch.nn.Parameter], config: OptimConfig) -> torch.optim.Optimizer:
    """Adam or AdamW over ``params`` with the configured betas, eps and weight decay; fused (one
    kernel for every tensor, able to drop a non-finite step on the device) per ``config.fused``,
    by default when they are all on a GPU."""
    params = list(params)
    if not params:
        raise ValueError("the objective has no trainable parameters")
    cls = torch.optim.AdamW if config.name == "adamw" else torch.optim.Adam
    fused = config.fused == "true" or (config.fused == "auto" and all(p.is_cuda for p in params))
    return cls(
        params,
        lr=config.lr,
        betas=tuple(config.betas),
        eps=config.eps,
        weight_decay=config.weight_decay,
        fused=fused or None,
    )


def _warmup_updates(config: ScheduleConfig, max_updates: int) -> int:
    if config.warmup_ratio > 0:
        return int(round(config.warmup_ratio * max_updates))
    return config.warmup_updates


def lr_scale(update: int, config: ScheduleConfig, max_updates: int) -> float:
    """Multiplier of the peak lr for the optimizer step that makes ``update`` (1-based) updates.

    ``max_updates`` is the planned length of training (the decay horizon); it must be > 0 for the
    decaying schedules.
    """
    if config.name == "tri_stage":
        return _tri_stage(update, config, max_updates)
    warmup = _warmup_updates(config, max_updates)
    if update <= warmup:
        return update / warmup
    if config.name == "constant":
        return 1.0
    if max_updates <= 0:
        raise ValueError(f"schedule {config.name} needs trainer.max_updates > 0 as its decay horizon")
    progress = min(1.0, (update - warmup) / max(1, max_updates - warmup))
    end = config.end_lr_scale
    if config.name == "polynomial":
        return end + (1.0 - end) * (1.0 - progress) ** config.power
    return end + (1.0 - end) * 0.5 * (1.0 + math.cos(math.pi * progress))


def _tri_stage(update: int, config: ScheduleConfig, max_updates: int) -> float:
    """Linear warmup from init_lr_scale, hold at 1, exponential decay to final_lr_scale, then hold."""
    if max_updates <= 0:
        raise ValueError("schedule tri_stage needs trainer.max_updates > 0 to place its stages")
    warmup, hold, decay = (int(round(r * max_updates)) for r in config.phase_ratio)
    if update < warmup:
        return config.init_lr_scale + (1.0 - config.init_lr_scale) * update / warmup
    update -= warmup
    if update < hold:
        return 1.0
    update -= hold
    if update <= decay and decay > 0:
        return math.exp(math.log(config.final_lr_scale) * update / decay)
    return config.final_lr_scale


def set_lr(optimizer: torch.optim.Optimizer, lr: float) -> None:
    """Write ``lr`` into every parameter group."""
    for group in optimizer.param_groups:
        group["lr"] = lr
