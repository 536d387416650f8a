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

from speechssl.config import save_config
from speechssl.data.batch import AudioBatch
from speechssl.data.dataset import AudioDataset, SkippedUtterances, collate, worker_init
from speechssl.data.sampler import BucketBatchSampler, round_up_sizes
from speechssl.io.atomic import atomic_write_text, remove_stale_temporaries
from speechssl.io.audio import SAMPLE_RATE
from speechssl.objectives.base import Objective
from speechssl.progress import progress_bar
from speechssl.train import checkpoint as ckpt
from speechssl.train.budget import FlopBudget, group_flops, milestone_name, write_milestones
from speechssl.train.config import OptimConfig, ScheduleConfig, TrainerConfig
from speechssl.train.curves import plot_learning_curve
from speechssl.train.distributed import (
    World,
    all_gather_objects,
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
ProbeFn = Callable[[Objective], dict]


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
    probe: ProbeFn | None = None,
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
        probe: optional ``fn(objective) -> {monitor: value}`` run on rank 0 every
            ``trainer.collapse_every`` updates (the collapse metric); it must only read (no RNG
            draw, no state change), and its values join the next progress record.
        resume: continue from the newest complete checkpoint in ``exp_dir`` (fresh start if none);
            implied when torchrun restarts the job after a rank died (``--max-restarts``).
    """
    cfg = trainer_cfg
    if max(cfg.max_updates, cfg.max_epochs, cfg.max_wall_seconds, cfg.max_flops) <= 0:
        raise ValueError(
            "set trainer.max_updates, trainer.max_epochs, trainer.max_wall_seconds or trainer.max_flops"
        )
    budget = FlopBudget(cfg)
    if budget.counts_flops and flops_fn is None:
        raise ValueError("trainer.max_flops and trainer.keep_flops_milestones need a FLOP count (flops_fn)")
    world = world or init_world(cfg.device)
    exp_dir = Path(exp_dir)
    restarts = int(os.environ.get("TORCHELASTIC_RESTART_COUNT", "0"))
    resume = resume or restarts > 0  # torchrun restarted the job after a rank died
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
        "milestones": [],
        "skipped_utterances": {},
    }
    resumed_from = latest if resume else None
    if resumed_from is not None:
        try:
            weights, state = ckpt.load_checkpoint(latest)
        except ckpt.CheckpointError as error:
            previous = ckpt.list_checkpoints(exp_dir)[:-1]
            hint = f"delete it to resume from {previous[-1].name}" if previous else "start a new --exp-dir"
            raise ckpt.CheckpointError(f"{error}; {hint}") from None
        trainer.load_state_dict(state, weights)
        run.update(state["run"])
        budget = FlopBudget(cfg, run["milestones"])
        for passed in budget.drop_passed(run["training_flops"]):
            logger.warning("milestone %.4g FLOPs was passed before this resume: no checkpoint kept", passed)
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
    monitor = TrainingMonitor(exp_dir, world.is_main, trainer.num_updates)  # from here on in train.log
    if restarts > 0:
        logger.info("torchrun restart %d: resuming from the newest checkpoint of %s", restarts, exp_dir)
    if resumed_from is not None:
        logger.info("resumed from %s at update %d", resumed_from, trainer.num_updates)
    if world.is_main and (removed := remove_stale_temporaries(exp_dir)):  # a killed write's leftovers
        logger.info("removed temporaries of interrupted writes: %s", ", ".join(p.name for p in removed))
    peak = (
        measure_peak_flops(world.device, AUTOCAST_DTYPES.get(cfg.precision, torch.float32))
        if flops_fn
        else 0.0
    )
    session_start = time.perf_counter()
    elapsed_before = run["elapsed"]
    skipped = SkippedUtterances(run["skipped_utterances"])

    def elapsed() -> float:
        return elapsed_before + time.perf_counter() - session_start

    def save(name: str) -> None:
        state = trainer.state_dict()  # collective: gathers every rank's RNG state
        skipped.merge(all_gather_objects(skipped.reasons))
        run["skipped_utterances"] = skipped.reasons
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

    bar = progress_bar(
        total=cfg.max_updates or None, initial=trainer.num_updates, desc="train", disable=not world.is_main
    )
    interval, last_train, last_valid, probed = _Interval(), {}, {}, {}
    saved_at = validated_at = -1
    empty_in_a_row, epoch_batches = 0, len(sampler)
    stop = "max_epochs"
    while True:
        if cfg.max_updates > 0 and trainer.num_updates >= cfg.max_updates:
            stop = "max_updates"
            break
        if budget.exhausted(run["training_flops"]):  # a resumed run that had spent its budget
            stop = "max_flops"
            break
        group = [item for _, item in zip(range(cfg.update_freq), stream)]
        if not group:
            break
        run["epoch"], run["consumed"] = group[-1][0], group[-1][1]
        batches = _usable_batches([batch for _, _, batch in group], skipped, world)
        if not batches:
            empty_in_a_row += 1
            if empty_in_a_row > epoch_batches:  # every rank agrees: emptiness is all-reduced
                bar.close()
                monitor.close()
                raise ValueError(
                    f"{train_set.data_dir}: no usable utterance in a whole epoch ({len(skipped.reasons)}"
                    f" skipped); check it with `speechssl data validate {train_set.data_dir}`"
                )
            continue
        empty_in_a_row = 0
        if budget.max_flops > 0:  # the schedule ends where the budget will, at the FLOPs per update so far
            next_flops = group_flops(flops_fn, batches, world.device)
            trainer.schedule_horizon = budget.horizon_updates(
                trainer.num_updates, run["training_flops"], next_flops
            )
            bar.total = trainer.schedule_horizon  # the updates the budget is expected to give
        stats = trainer.train_step(batches)
        run["audio_seconds"] += stats["audio_samples"] / SAMPLE_RATE
        run["training_flops"] += stats["training_flops"]
        interval.add(stats)
        out_of_budget = ""
        if cfg.max_wall_seconds > 0 and world.size == 1:  # alone: the host clock, no device round trip
            out_of_budget = "max_wall_seconds" if elapsed() > cfg.max_wall_seconds else ""
        elif cfg.max_wall_seconds > 0:  # every rank must agree, or one would wait for the others forever
            late = torch.tensor([float(elapsed() > cfg.max_wall_seconds)], device=world.device)
            out_of_budget = "max_wall_seconds" if all_reduce_sum(late).item() > 0 else ""
        if budget.exhausted(run["training_flops"]):  # the same count on every rank: no vote needed
            out_of_budget = out_of_budget or "max_flops"
        if stats["skipped"] and not out_of_budget:
            continue
        bar.update(1)
        updates = trainer.num_updates
        if probe is not None and world.is_main and cfg.collapse_every > 0 and updates % cfg.collapse_every == 0:
            probed = probe(trainer.objective)
        if updates % cfg.log_interval == 0:
            last_train = _log_interval(trainer, monitor, interval, run, elapsed(), peak, world, probed)
            probed = {}
            bar.set_postfix(loss=f"{last_train['loss']:.3f}", lr=f"{last_train['lr']:.2e}")
            interval = _Interval()
        due = budget.due(run["training_flops"])
        if due:
            run["milestones"] = budget.record(due, updates, run["training_flops"])
            save(milestone_name(updates))
            if world.is_main:
                write_milestones(exp_dir, run["milestones"])
        if out_of_budget:
            stop = out_of_budget
            break
        if cfg.validate_interval_updates > 0 and updates % cfg.validate_interval_updates == 0:
            last_valid, validated_at = validation() or last_valid, updates
        if cfg.save_interval_updates > 0 and updates % cfg.save_interval_updates == 0:
            save(ckpt.checkpoint_name(updates))
            saved_at = updates
    bar.close()
    if interval.updates:
        last_train = _log_interval(trainer, monitor, interval, run, elapsed(), peak, world, probed)
    if validated_at != trainer.num_updates:
        last_valid = validation() or last_valid
    if saved_at != trainer.num_updates:
        save(ckpt.checkpoint_name(trainer.num_updates))
    skipped.merge(all_gather_objects(skipped.reasons))
    if skipped.reasons:
        logger.warning(
            "skipped %d utterance(s) whose audio cannot be used; `speechssl data validate DIR "
            "--fix OUT` writes a data dir without them", len(skipped.reasons)
        )
    summary = {
        "stopped_by": stop,
        "updates": trainer.num_updates,
        "epoch": run["epoch"],
        "wall_seconds": elapsed(),
        "audio_seconds": run["audio_seconds"],
        "training_flops": run["training_flops"],
        "milestones": run["milestones"],
        "skipped_steps": trainer.skipped_steps,
        "skipped_utterances": len(skipped.reasons),
        "skipped_utterance_problems": dict(sorted(skipped.reasons.items())[:100]),
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


def _usable_batches(batches: list[AudioBatch], skipped: SkippedUtterances, world: World) -> list:
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


def _log_interval(
    trainer: Trainer,
    monitor: TrainingMonitor,
    interval: _Interval,
    run: dict,
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
    record.update(probed)
    monitor.log_train(record)
    return record
