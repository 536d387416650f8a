"""What a training run carries from update to update: the resumable ``RunState`` (saved in every
checkpoint's ``run`` entry), the per-log-interval sums and the progress record built from them.
"""

from __future__ import annotations

import dataclasses
import logging
import time

import torch

from speechssl.data.batch import AudioBatch
from speechssl.data.dataset import SkippedUtterances
from speechssl.io.audio import SAMPLE_RATE
from speechssl.train.distributed import World, all_reduce_sum
from speechssl.train.mfu import mfu
from speechssl.train.monitor import TrainingMonitor
from speechssl.train.trainer import Trainer

logger = logging.getLogger("speechssl.train")


@dataclasses.dataclass
class RunState:
    """The counters that survive ``--resume`` (``elapsed``: wall seconds of the earlier sessions;
    ``best``: ``{metric, value, update}`` of ``checkpoint_best``; ``skipped_utterances``: utt -> problem)."""

    epoch: int = 1
    consumed: int = 0
    elapsed: float = 0.0
    audio_seconds: float = 0.0
    training_flops: float = 0.0
    best: dict | None = None
    milestones: list = dataclasses.field(default_factory=list)
    skipped_utterances: dict = dataclasses.field(default_factory=dict)

    def as_dict(self, elapsed: float) -> dict:
        """The checkpoint's ``run`` entry, with ``elapsed`` the wall seconds up to now."""
        return {**dataclasses.asdict(self), "elapsed": elapsed}

    def update(self, saved: dict) -> None:
        """Take the values of a checkpoint's ``run`` entry."""
        for name, value in saved.items():
            setattr(self, name, value)


class Interval:
    """Sums over one log interval (loss, sample size and gradient norm stay device tensors until
    ``log_interval`` reads them back)."""

    def __init__(self) -> None:
        self.loss_sum = self.sample_size = self.audio_samples = self.flops = self.grad_norm = 0.0
        self.updates = 0
        self.start = time.perf_counter()

    def add(self, stats: dict) -> None:
        self.loss_sum += stats["loss_sum"]
        self.sample_size += stats["sample_size"]
        self.audio_samples += stats["audio_samples"]
        self.flops += stats["training_flops"]
        self.grad_norm += stats["grad_norm"] if not stats["skipped"] else 0.0
        self.updates += 0 if stats["skipped"] else 1


def usable_batches(batches: list[AudioBatch], skipped: SkippedUtterances, world: World) -> list:
    """``batches`` without the empty ones (every utterance skipped), the skipped utterances
    counted; [] on every rank when some rank has nothing left (DDP needs each rank's backward)."""
    for batch in batches:
        skipped.add(batch)
    usable = [batch for batch in batches if batch.size > 0]
    empty = float(not usable)
    if world.size > 1:
        empty = float(all_reduce_sum(torch.tensor([empty], device=world.device)).item())
    if empty:
        logger.warning("no usable utterance in the batches of %d rank(s): update skipped", int(empty))
        return []
    return usable


def log_interval(
    trainer: Trainer,
    monitor: TrainingMonitor,
    interval: Interval,
    state: RunState,
    elapsed: float,
    peak: float,
    world: World,
    probed: dict,
) -> dict:
    """Write one progress record for ``interval`` plus the ``probed`` monitors (a collective call:
    merges every rank's logs)."""
    seconds = max(time.perf_counter() - interval.start, 1e-9)
    logs = trainer.pop_logs()  # first: it also counts the steps the device skipped
    record = {
        "update": trainer.num_updates,
        "epoch": state.epoch,
        "loss": float(interval.loss_sum) / max(float(interval.sample_size), 1.0),
        "lr": trainer.optimizer.param_groups[0]["lr"],
        "grad_norm": float(interval.grad_norm) / max(interval.updates, 1),
        "elapsed": elapsed,
        "audio_seconds": state.audio_seconds,
        "audio_seconds_per_second": interval.audio_samples / SAMPLE_RATE / seconds,
        "skipped_steps": trainer.skipped_steps,
    }
    if peak > 0:
        record["mfu"] = mfu(interval.flops, seconds, peak * world.size)
    record.update(logs)
    record.update(probed)
    monitor.log_train(record)
    return record
