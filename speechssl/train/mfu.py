"""Model FLOPs utilisation: achieved training FLOP/s over a measured matmul peak of the device.

Training FLOPs are estimated as 3x the forward FLOPs (backward costs about twice the forward).
"""

from __future__ import annotations

import time

import torch

BACKWARD_FACTOR = 3.0


def measure_peak_flops(
    device: torch.device, dtype: torch.dtype = torch.float32, seconds: float = 0.3
) -> float:
    """FLOP/s of repeated square matmuls on ``device`` in ``dtype`` (the practical peak)."""
    size = 2048 if device.type == "cuda" else 512
    generator = torch.Generator(device=device).manual_seed(0)  # leaves the global RNG untouched
    a = torch.randn(size, size, device=device, generator=generator).to(dtype)
    b = torch.randn(size, size, device=device, generator=generator).to(dtype)
    torch.matmul(a, b)  # warm-up: kernel selection, allocations
    _sync(device)
    runs, start = 0, time.perf_counter()
    while True:
        torch.matmul(a, b)
        runs += 1
        if runs % 4 == 0:
            _sync(device)
            elapsed = time.perf_counter() - start
            if elapsed >= seconds:
                return 2.0 * size**3 * runs / elapsed


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def mfu(forward_flops: float, seconds: float, peak_flops: float) -> float:
    """Fraction of ``peak_flops`` achieved by training on ``forward_flops`` in ``seconds``."""
    if seconds <= 0 or peak_flops <= 0:
        return 0.0
    return BACKWARD_FACTOR * forward_flops / seconds / peak_flops


def backbone_flops_fn(config):
    """``fn(batch) -> forward FLOPs`` of a backbone of ``config`` (BackboneConfig) on a batch's
    valid samples, from the analytic count in ``speechssl.models.flops``."""
    from speechssl.models.flops import count_flops

    def forward_flops(batch) -> float:
        return float(sum(count_flops(config, int(n)).forward for n in batch.audio_lengths.tolist()))

    return forward_flops
