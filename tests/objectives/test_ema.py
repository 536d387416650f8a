"""EMA teacher: decay schedule endpoints and exact update values on a 2-parameter module."""

import math

import pytest
import torch
from torch import nn

from speechssl.objectives.ema import EMATeacher, ema_decay_at


def test_decay_schedule_endpoints():
    assert ema_decay_at(0, 0.999, 0.9999, 30000) == 0.999
    assert math.isclose(ema_decay_at(15000, 0.999, 0.9999, 30000), 0.99945, rel_tol=1e-12)
    assert ema_decay_at(30000, 0.999, 0.9999, 30000) == 0.9999
    assert ema_decay_at(10**6, 0.999, 0.9999, 30000) == 0.9999
    assert math.isclose(ema_decay_at(37500, 0.999, 0.99999, 75000), 0.999495, rel_tol=1e-12)
    assert ema_decay_at(75000, 0.999, 0.99999, 75000) == 0.99999


def test_ema_update_values_two_parameters():
    student = nn.Linear(1, 1)
    with torch.no_grad():
        student.weight.fill_(1.0)
        student.bias.fill_(2.0)
    teacher = EMATeacher(student)
    assert not any(p.requires_grad for p in teacher.parameters())
    with torch.no_grad():
        student.weight.fill_(3.0)
        student.bias.fill_(-2.0)
    teacher.update(student, 0.9)
    # 0.9 * 1 + 0.1 * 3 = 1.2 ; 0.9 * 2 + 0.1 * -2 = 1.6
    assert teacher.model.weight.item() == pytest.approx(1.2)
    assert teacher.model.bias.item() == pytest.approx(1.6)
    teacher.update(student, 0.5)
    assert teacher.model.weight.item() == pytest.approx(2.1)
    assert teacher.model.bias.item() == pytest.approx(-0.2)
    # the copy is independent of the student and stays in eval mode
    assert student.weight.item() == 3.0
    teacher.train()
    assert not teacher.model.training
    out = teacher(torch.ones(1, 1, dtype=torch.float64).float())
    assert out.item() == pytest.approx(1.9) and not out.requires_grad


def test_teacher_keeps_the_steps_autocast_only_when_asked():
    student = nn.Linear(4, 4)
    x = torch.randn(2, 4)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        assert EMATeacher(student, autocast=True)(x).dtype == torch.bfloat16  # fairseq's fp16 teacher
        assert EMATeacher(student)(x).dtype == torch.float32
    teacher = EMATeacher(student, autocast=True)
    assert teacher.model.weight.dtype == torch.float32 and teacher(x).dtype == torch.float32  # fp32 runs
