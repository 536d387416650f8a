"""Exponential-moving-average teacher of data2vec and data2vec 2.0, with its decay schedule.

The teacher is a frozen fp32 copy of some student modules, updated after every optimizer step.
"""

from __future__ import annotations

import contextlib
import copy

import torch
from torch import nn


def ema_decay_at(num_updates: int, start: float, end: float, anneal_end_step: int) -> float:
    """Decay tau: linear from ``start`` at update 0 to ``end`` at ``anneal_end_step``, then ``end``."""
    if num_updates >= anneal_end_step or anneal_end_step <= 0:
        return end
    return start + (end - start) * num_updates / anneal_end_step


class EMATeacher(nn.Module):
    """Holds ``self.model``: a deep copy of ``student`` in fp32, in eval mode, without gradients.

    ``update(student, decay)`` sets each teacher parameter to ``decay * teacher + (1 - decay) *
    student``; buffers are copied. The teacher stays in eval mode whatever ``train()`` is called
    with (no dropout / LayerDrop in the targets). ``autocast``: its forward keeps the caller's
    autocast (bf16 matmuls on fp32 weights); else it runs with autocast off, in fp32.
    """

    def __init__(self, student: nn.Module, autocast: bool = False):
        super().__init__()
        self.autocast = autocast
        self.model = copy.deepcopy(student).float()
        for param in self.model.parameters():
            param.requires_grad_(False)
        self.model.eval()
        self.decay = 0.0

    def train(self, mode: bool = True) -> "EMATeacher":
        super().train(mode)
        self.model.eval()
        return self

    @torch.no_grad()
    def update(self, student: nn.Module, decay: float) -> None:
        """One EMA step towards the current ``student`` (same structure as the copy)."""
        self.decay = decay
        teacher_params = dict(self.model.named_parameters())
        pairs = [(teacher_params[name], param.detach().float()) for name, param in student.named_parameters()]
        targets, sources = [t for t, _ in pairs], [s for _, s in pairs]
        # one multi-tensor kernel per op on a GPU (the same elementwise result as a loop)
        torch._foreach_mul_(targets, decay)
        torch._foreach_add_(targets, sources, alpha=1.0 - decay)
        teacher_buffers = dict(self.model.named_buffers())
        for name, buf in student.named_buffers():
            teacher_buffers[name].copy_(buf)

    def forward(self, *args, **kwargs):
        """Run the teacher copy under no_grad (float tensors cast up to fp32; autocast off unless
        ``self.autocast``)."""
        args = tuple(_fp32(a) for a in args)
        kwargs = {k: _fp32(v) for k, v in kwargs.items()}
        precision = (
            contextlib.nullcontext()
            if self.autocast
            else torch.autocast(device_type=_device_type(self.model), enabled=False)
        )
        with torch.no_grad(), precision:
            return self.model(*args, **kwargs)


def _fp32(value):
    if torch.is_tensor(value) and value.is_floating_point():
        return value.float()
    return value


def _device_type(module: nn.Module) -> str:
    for param in module.parameters():
        return param.device.type
    return "cpu"
