"""Learning-rate schedules at their key updates, and the optimizer settings."""

from __future__ import annotations

import math

import pytest
import torch

from speechssl.train.config import OptimConfig, ScheduleConfig
from speechssl.train.optim import build_optimizer, lr_scale


def test_polynomial_warmup_then_linear_decay():
    cfg = ScheduleConfig(name="polynomial", warmup_updates=100, end_lr_scale=0.0)
    assert lr_scale(1, cfg, 1000) == pytest.approx(0.01)
    assert lr_scale(50, cfg, 1000) == pytest.approx(0.5)
    assert lr_scale(100, cfg, 1000) == pytest.approx(1.0)
    assert lr_scale(550, cfg, 1000) == pytest.approx(0.5)
    assert lr_scale(1000, cfg, 1000) == pytest.approx(0.0)
    ratio = ScheduleConfig(name="polynomial", warmup_ratio=0.08)
    assert lr_scale(32_000, ratio, 400_000) == pytest.approx(1.0)
    assert lr_scale(16_000, ratio, 400_000) == pytest.approx(0.5)


def test_tri_stage_fine_tuning_shape():
    cfg = ScheduleConfig(
        name="tri_stage", phase_ratio=(0.1, 0.4, 0.5), init_lr_scale=0.01, final_lr_scale=0.05
    )
    assert lr_scale(0, cfg, 1000) == pytest.approx(0.01)
    assert lr_scale(50, cfg, 1000) == pytest.approx(0.01 + 0.99 * 0.5)
    assert lr_scale(100, cfg, 1000) == pytest.approx(1.0)
    assert lr_scale(499, cfg, 1000) == pytest.approx(1.0)
    assert lr_scale(750, cfg, 1000) == pytest.approx(math.sqrt(0.05))  # halfway in log space
    assert lr_scale(1000, cfg, 1000) == pytest.approx(0.05)
    assert lr_scale(5000, cfg, 1000) == pytest.approx(0.05)


def test_cosine_and_constant():
    cfg = ScheduleConfig(name="cosine", warmup_updates=10, end_lr_scale=0.1)
    assert lr_scale(10, cfg, 110) == pytest.approx(1.0)
    assert lr_scale(60, cfg, 110) == pytest.approx(0.55)
    assert lr_scale(110, cfg, 110) == pytest.approx(0.1)
    assert lr_scale(7, ScheduleConfig(name="constant", warmup_updates=0), 0) == 1.0
    with pytest.raises(ValueError, match="max_updates > 0"):
        lr_scale(5, ScheduleConfig(name="polynomial"), 0)


def test_adamw_defaults_follow_fairseq():
    optimizer = build_optimizer([torch.nn.Parameter(torch.zeros(3))], OptimConfig())
    group = optimizer.param_groups[0]
    assert isinstance(optimizer, torch.optim.AdamW)
    assert group["betas"] == (0.9, 0.98) and group["eps"] == 1e-6 and group["weight_decay"] == 0.01
    assert isinstance(
        build_optimizer([torch.nn.Parameter(torch.zeros(1))], OptimConfig(name="adam")), torch.optim.Adam
    )
