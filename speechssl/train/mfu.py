"""Model FLOPs utilisation: achieved training FLOP/s over a measured matmul peak of the device.

Training FLOPs come from the analytic count of ``speechssl.models.flops`` (backward = 2x forward)
and each objective's ``training_flops`` (teachers, clones).
"""

from __future__ import annotations

import functools
import time
from typing import Callable

import torch


def matmul_flops(device: torch.device, dtype: torch.dtype, size: int, seconds: float = 0.5) -> float:
    """FLOP/s of the fastest of repeated (size x size) @ (size x size) products on ``device``.

    The fastest run, not the mean, so that other processes on a shared machine lower the
    estimate as little as possible (a low peak would inflate the MFU). At least 3 timed runs.
    """
    generator = torch.Generator(device=device).manual_seed(0)  # leaves the global RNG untouched
    a = torch.randn(size, size, device=device, generator=generator).to(dtype)
    b = torch.randn(size, size, device=device, generator=generator).to(dtype)
    torch.matmul(a, b)  # warm-up: kernel selection, allocations
    _sync(device)
    best, runs, begin = float("inf"), 0, time.perf_counter()
    while runs < 3 or time.perf_counter() - begin < seconds:
        start = time.perf_counter()
        torch.matmul(a, b)
        _sync(device)
        best = min(best, time.perf_counter() - start)
        runs += 1
    return 2.0 * size**3 / best


def measure_peak_flops(
    device: torch.device, dtype: torch.dtype = torch.float32, seconds: float = 0.5
) -> float:
    """The matmul peak the trainer's MFU divides by: ``matmul_flops`` at one size per device
    (4096 on a GPU, 1024 on a CPU)."""
    return matmul_flops(device, dtype, 4096 if device.type == "cuda" else 1024, seconds)


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def mfu(training_flops: float, seconds: float, peak_flops: float) -> float:
    """Fraction of ``peak_flops`` achieved by ``training_flops`` done in ``seconds``."""
    if seconds <= 0 or peak_flops <= 0:
        return 0.0
    return training_flops / seconds / peak_flops


def utterance_flops_fn(objective) -> Callable[[int], float]:
    """``fn(num_samples) -> training FLOPs`` of one step of ``objective`` on one utterance of that
    many samples: the analytic count of ``speechssl.models.flops`` for its backbone, passed through
    ``objective.training_flops``, asked at every call (CTC's count changes when the Transformer
    thaws); the backbone count is memoised by length (crops repeat a few lengths)."""
    from speechssl.models.flops import count_flops

    backbone_count = functools.lru_cache(maxsize=None)(functools.partial(count_flops, objective.backbone.config))

    def flops(num_samples: int) -> float:
        return float(objective.training_flops(backbone_count(int(num_samples))))

    return flops


def training_flops_fn(objective):
    """``fn(batch) -> training FLOPs`` of one step of ``objective`` on a batch's valid samples, the
    sum of ``utterance_flops_fn`` over its utterances."""
    per_utterance = utterance_flops_fn(objective)

    def training_flops(batch) -> float:
        return sum(per_utterance(n) for n in batch.audio_lengths.tolist())

    return training_flops
