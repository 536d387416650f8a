"""Training batches: the DataLoader over a bucket sampler's batches and the endless stream of
(epoch, position, batch) that resumes mid-epoch.
"""

from __future__ import annotations

import functools
from typing import Iterator

import torch
from torch.utils.data import DataLoader

from speechssl.data.dataset import AudioDataset, collate, worker_init
from speechssl.data.sampler import BucketBatchSampler
from speechssl.train.config import TrainerConfig


def make_loader(
    dataset: AudioDataset,
    sampler: BucketBatchSampler,
    cfg: TrainerConfig,
    device: torch.device,
    static_lengths: tuple[int, ...] = (),
) -> DataLoader:
    """A DataLoader over ``sampler``'s batches; its own generator keeps the global RNG untouched.
    ``static_lengths``: pad audio to these sizes (training; see ``collate``)."""
    generator = torch.Generator()
    generator.manual_seed(cfg.seed)
    return DataLoader(
        dataset,
        batch_sampler=sampler,
        collate_fn=functools.partial(collate, static_lengths=static_lengths),
        num_workers=cfg.num_workers,
        worker_init_fn=worker_init if cfg.num_workers > 0 else None,
        pin_memory=device.type == "cuda",
        generator=generator,
    )


def batch_stream(dataset, sampler, cfg: TrainerConfig, device, epoch: int, consumed: int) -> Iterator[tuple]:
    """Yield (epoch, batches consumed in that epoch, batch) from ``consumed`` of ``epoch`` onwards."""
    while cfg.max_epochs <= 0 or epoch <= cfg.max_epochs:
        sampler.set_epoch(epoch, consumed)
        dataset.set_epoch(epoch)
        loader = make_loader(dataset, sampler, cfg, device, cfg.static_lengths)
        for position, batch in enumerate(loader, start=consumed + 1):
            yield epoch, position, batch
        epoch, consumed = epoch + 1, 0
