"""The training run shared by pre-training and fine-tuning: data loading, the update loop, stopping,
validation, checkpoints, exact resume, and the end-of-run summary (``summary.json``, curve PNG).
"""

from __future__ import annotations

import functools
import json
import logging
import os
import time
from pathlib import Path
from typing import Any, Callable, Iterator

import torch
from torch.utils.data import DataLoader
from tqdm import tqdm

from speechssl.config import save_config
from speechssl.data.dataset import AudioDataset, collate, worker_init
from speechssl.data.sampler import BucketBatchSampler, round_up_sizes
from speechssl.io.atomic import atomic_write_text
from speechssl.io.audio import SAMPLE_RATE
from speechssl.objectives.base import Objective
from speechssl.train import checkpoint as ckpt
from speechssl.train.config import OptimConfig, ScheduleConfig, TrainerConfig
from speechssl.train.curves import plot_learning_curve
from speechssl.train.distributed import (
    World,
    all_reduce_sum,
    barrier,
    get_rng_state,
    init_world,
    seed_everything,
    set_rng_state,
)
from speechssl.train.mfu import measure_peak_flops, mfu
from speechssl.train.monitor import TrainingMonitor
from speechssl.train.trainer import AUTOCAST_DTYPES, FlopsFn, Trainer

logger = logging.getLogger("speechssl.train")
ValidateFn = Callable[[Objective], dict]


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


class _Interval:
    """Sums over one log interval (loss, sample size and gradient norm stay device tensors until
    ``_log_interval`` reads them back)."""

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


def run_training(
    objective: Objective,
    train_set: AudioDataset,
    valid_set: AudioDataset | None,
    trainer_cfg: TrainerConfig,
    optim_cfg: OptimConfig,
    schedule_cfg: ScheduleConfig,
    exp_dir: str | os.PathLike,
    resume: bool = False,
    validate: ValidateFn | None = None,
    best_metric: str = "valid_loss",
    maximize_best: bool = False,
    flops_fn: FlopsFn | None = None,
    config: Any = None,
    world: World | None = None,
) -> dict:
    """Train ``objective`` and return the run summary (also written to ``exp_dir/summary.json``).

    Args:
        validate: optional ``fn(objective) -> {metric: value}`` run on every rank after the valid
            loss (e.g. dev WER); the objective is in eval mode and RNG states are restored after.
        best_metric: key of the validation stats that selects ``checkpoint_best`` (lower is better
            unless ``maximize_best``).
        flops_fn: training FLOPs of a batch (forward + backward), for the MFU estimate and
            summary.json (None = no MFU; see speechssl.train.mfu.training_flops_fn).
        config: the resolved run config, saved as ``exp_dir/config.yaml``.
        resume: continue from the newest complete checkpoint in ``exp_dir`` (fresh start if none).
    """
    cfg = trainer_cfg
    if cfg.max_updates <= 0 and cfg.max_epochs <= 0 and cfg.max_wall_seconds <= 0:
        raise ValueError("set trainer.max_updates, trainer.max_epochs or trainer.max_wall_seconds")
    world = world or init_world(cfg.device)
    exp_dir = Path(exp_dir)
    latest = ckpt.latest_checkpoint(exp_dir)
    if latest is not None and not resume:
        raise ValueError(f"{exp_dir} already holds {latest.name}: pass --resume, or use a new --exp-dir")
    trainer = Trainer(objective, optim_cfg, schedule_cfg, cfg, world, flops_fn)
    run = {
        "epoch": 1,
        "consumed": 0,
        "elapsed": 0.0,
        "audio_seconds": 0.0,
        "training_flops": 0.0,
        "best": None,
    }
    if resume and latest is not None:
        try:
            weights, state = ckpt.load_checkpoint(latest)
        except ckpt.CheckpointError as error:
            previous = ckpt.list_checkpoints(exp_dir)[:-1]
            hint = f"delete it to resume from {previous[-1].name}" if previous else "start a new --exp-dir"
            raise ckpt.CheckpointError(f"{error}; {hint}") from None
        trainer.load_state_dict(state, weights)
        run.update(state["run"])
        logger.info("resumed from %s at update %d", latest, trainer.num_updates)
    else:
        seed_everything(cfg.seed + 1000 * world.rank)  # ranks draw different masks
    if world.is_main and config is not None:
        save_config(config, exp_dir / "config.yaml")
    sampler = BucketBatchSampler(
        round_up_sizes(train_set.sizes, cfg.static_lengths),
        cfg.max_tokens,
        cfg.seed,
        world.rank,
        world.size,
        length_noise=cfg.length_noise,
    )
    stream = batch_stream(train_set, sampler, cfg, world.device, run["epoch"], run["consumed"])
    monitor = TrainingMonitor(exp_dir, world.is_main, trainer.num_updates)
    peak = (
        measure_peak_flops(world.device, AUTOCAST_DTYPES.get(cfg.precision, torch.float32))
        if flops_fn
        else 0.0
    )
    session_start = time.perf_counter()
    elapsed_before = run["elapsed"]

    def elapsed() -> float:
        return elapsed_before + time.perf_counter() - session_start

    def save(name: str) -> None:
        state = trainer.state_dict()  # collective: gathers every rank's RNG state
        if world.is_main:
            state["run"] = {**run, "elapsed": elapsed()}
            state["world_size"] = world.size
            ckpt.save_checkpoint(exp_dir, name, trainer.objective.state_dict(), state)
            if name != ckpt.BEST_NAME:
                ckpt.prune_checkpoints(exp_dir, cfg.keep_last)
        barrier()

    def validation() -> dict:
        """Valid loss + ``validate``; RNG states are restored after, so the training run is unchanged."""
        rng, stats = get_rng_state(), {}
        if valid_set is not None:
            valid_sampler = BucketBatchSampler(
                valid_set.sizes, cfg.max_tokens, cfg.seed, world.rank, world.size, shuffle=False
            )
            stats.update(trainer.valid_loss(make_loader(valid_set, valid_sampler, cfg, world.device)))
        if validate is not None:
            trainer.objective.eval()
            stats.update(validate(trainer.objective))
        set_rng_state(rng)
        if not stats:
            return stats
        if best_metric not in stats:
            raise ValueError(f"best_metric '{best_metric}' is not among the validation stats {sorted(stats)}")
        value = float(stats[best_metric])
        best = run["best"]
        if best is None or (value > best["value"] if maximize_best else value < best["value"]):
            run["best"] = {"metric": best_metric, "value": value, "update": trainer.num_updates}
            save(ckpt.BEST_NAME)
        monitor.log_valid({"update": trainer.num_updates, **stats, "best": run["best"]["value"]})
        return stats

    bar = tqdm(
        total=cfg.max_updates or None, initial=trainer.num_updates, desc="train", disable=not world.is_main
    )
    interval, last_train, last_valid = _Interval(), {}, {}
    saved_at = validated_at = -1
    stop = "max_epochs"
    while True:
        if cfg.max_updates > 0 and trainer.num_updates >= cfg.max_updates:
            stop = "max_updates"
            break
        group = [item for _, item in zip(range(cfg.update_freq), stream)]
        if not group:
            break
        run["epoch"], run["consumed"] = group[-1][0], group[-1][1]
        stats = trainer.train_step([batch for _, _, batch in group])
        run["audio_seconds"] += stats["audio_samples"] / SAMPLE_RATE
        run["training_flops"] += stats["training_flops"]
        interval.add(stats)
        out_of_time = False
        if cfg.max_wall_seconds > 0 and world.size == 1:  # alone: the host clock, no device round trip
            out_of_time = elapsed() > cfg.max_wall_seconds
        elif cfg.max_wall_seconds > 0:  # every rank must agree, or one would wait for the others forever
            late = torch.tensor([float(elapsed() > cfg.max_wall_seconds)], device=world.device)
            out_of_time = bool(all_reduce_sum(late).item() > 0)
        if stats["skipped"] and not out_of_time:
            continue
        bar.update(1)
        updates = trainer.num_updates
        if updates % cfg.log_interval == 0:
            last_train = _log_interval(trainer, monitor, interval, run, elapsed(), peak, world)
            bar.set_postfix(loss=f"{last_train['loss']:.3f}", lr=f"{last_train['lr']:.2e}")
            interval = _Interval()
        if out_of_time:
            stop = "max_wall_seconds"
            break
        if cfg.validate_interval_updates > 0 and updates % cfg.validate_interval_updates == 0:
            last_valid, validated_at = validation() or last_valid, updates
        if cfg.save_interval_updates > 0 and updates % cfg.save_interval_updates == 0:
            save(ckpt.checkpoint_name(updates))
            saved_at = updates
    bar.close()
    if interval.updates:
        last_train = _log_interval(trainer, monitor, interval, run, elapsed(), peak, world)
    if validated_at != trainer.num_updates:
        last_valid = validation() or last_valid
    if saved_at != trainer.num_updates:
        save(ckpt.checkpoint_name(trainer.num_updates))
    summary = {
        "stopped_by": stop,
        "updates": trainer.num_updates,
        "epoch": run["epoch"],
        "wall_seconds": elapsed(),
        "audio_seconds": run["audio_seconds"],
        "training_flops": run["training_flops"],
        "skipped_steps": trainer.skipped_steps,
        "train_loss": last_train.get("loss"),
        "valid": last_valid,
        "best": run["best"],
        "world_size": world.size,
        "precision": cfg.precision,
        "device": str(world.device),
    }
    if world.is_main:
        atomic_write_text(exp_dir / "summary.json", json.dumps(summary, indent=2) + "\n")
        plot_learning_curve(
            monitor.progress.records, monitor.valid.records, exp_dir / "learning_curve.png", exp_dir.name
        )
        logger.info("done: %s", json.dumps(summary))
    monitor.close()
    barrier()
    return summary


def _log_interval(
    trainer: Trainer,
    monitor: TrainingMonitor,
    interval: _Interval,
    run: dict,
    elapsed: float,
    peak: float,
    world: World,
) -> dict:
    """Write one progress record for ``interval`` (a collective call: merges every rank's logs)."""
    seconds = max(time.perf_counter() - interval.start, 1e-9)
    logs = trainer.pop_logs()  # first: it also counts the steps the device skipped
    record = {
        "update": trainer.num_updates,
        "epoch": run["epoch"],
        "loss": float(interval.loss_sum) / max(float(interval.sample_size), 1.0),
        "lr": trainer.optimizer.param_groups[0]["lr"],
        "grad_norm": float(interval.grad_norm) / max(interval.updates, 1),
        "elapsed": elapsed,
        "audio_seconds": run["audio_seconds"],
        "audio_seconds_per_second": interval.audio_samples / SAMPLE_RATE / seconds,
        "skipped_steps": trainer.skipped_steps,
    }
    if peak > 0:
        record["mfu"] = mfu(interval.flops, seconds, peak * world.size)
    record.update(logs)
    monitor.log_train(record)
    return record
