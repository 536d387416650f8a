"""Training FLOPs a run will count, known before it starts: the bucketing sampler's batches depend only
on (seed, epoch) and the crop sizes, so the trainer's analytic count can be replayed without training.

Used to set FLOP budgets and milestones in units of "N updates of a config" (docs/budgets.md).
"""

from __future__ import annotations

from typing import Callable, Iterator

import numpy as np

from speechssl.data.sampler import BucketBatchSampler
from speechssl.train.config import TrainerConfig


def _batches(sizes: np.ndarray, cfg: TrainerConfig, world_size: int) -> Iterator[list[int]]:
    """Every rank's batches in the order the trainer takes them, epoch after epoch (up to
    ``max_epochs`` when set)."""
    samplers = [
        BucketBatchSampler(sizes, cfg.max_tokens, cfg.seed, rank, world_size, length_noise=cfg.length_noise)
        for rank in range(world_size)
    ]
    epoch = 1
    while cfg.max_epochs <= 0 or epoch <= cfg.max_epochs:
        for sampler in samplers:
            sampler.set_epoch(epoch)
        for step in zip(*(sampler.rank_batches() for sampler in samplers)):
            yield [index for batch in step for index in batch]
        epoch += 1


def planned_flops(
    sizes: np.ndarray, cfg: TrainerConfig, flops_of: Callable[[int], float], updates: int, world_size: int = 1
) -> np.ndarray:
    """Cumulative training FLOPs after each of the first ``updates`` updates, every rank together.

    Args:
        sizes: shape (utterances,), samples of each training example after cropping
            (``AudioDataset.sizes``).
        cfg: the run's trainer settings (max_tokens, seed, length_noise, update_freq, max_epochs).
        flops_of: training FLOPs of one utterance by its length (``speechssl.train.mfu.utterance_flops_fn``).

    Returns:
        shape (n,) float64, n = ``updates`` unless ``max_epochs`` ends the run sooner. Steps skipped
        for a non-finite loss are counted by the trainer but cannot be foreseen here.
    """
    totals, step_flops, done = [], 0.0, 0.0
    for count, indices in enumerate(_batches(np.asarray(sizes), cfg, world_size), start=1):
        step_flops += sum(flops_of(int(sizes[i])) for i in indices)
        if count % cfg.update_freq == 0:
            done += step_flops
            totals.append(done)
            step_flops = 0.0
            if len(totals) == updates:
                break
    if step_flops and len(totals) < updates:  # the last epoch's partial group still makes an update
        totals.append(done + step_flops)
    return np.asarray(totals, dtype=np.float64)
