"""The named steps of a training run over one ``TrainingRun`` object: resume, train step, stop
check, validate and keep best, save, summary (``run.run_training`` calls them in order).
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import torch

from speechssl.config import save_config
from speechssl.data.dataset import AudioDataset, SkippedUtterances
from speechssl.data.sampler import BucketBatchSampler, round_up_sizes
from speechssl.io.atomic import remove_stale_temporaries
from speechssl.io.audio import SAMPLE_RATE
from speechssl.objectives.base import Objective
from speechssl.progress import progress_bar
from speechssl.train import checkpoint as ckpt
from speechssl.train.batches import batch_stream, make_loader
from speechssl.train.budget import FlopBudget, group_flops, milestone_name, write_milestones
from speechssl.train.config import TrainerConfig
from speechssl.train.curves import plot_learning_curve
from speechssl.train.distributed import (
    World,
    all_gather_objects,
    all_reduce_sum,
    barrier,
    get_rng_state,
    seed_everything,
    set_rng_state,
)
from speechssl.train.mfu import measure_peak_flops
from speechssl.train.monitor import TrainingMonitor
from speechssl.train.rundir import RunDir
from speechssl.train.state import Interval, RunState, log_interval, usable_batches
from speechssl.train.trainer import AUTOCAST_DTYPES, FlopsFn, Trainer

logger = logging.getLogger("speechssl.train")
ValidateFn = Callable[[Objective], dict]
ProbeFn = Callable[[Objective], dict]


@dataclass
class RunHooks:
    """What the caller adds to the loop (see ``run_training``'s arguments of the same names)."""

    validate: ValidateFn | None = None
    best_metric: str = "valid_loss"
    maximize_best: bool = False
    flops_fn: FlopsFn | None = None
    probe: ProbeFn | None = None


class TrainingRun:
    """One training session of ``trainer`` in ``exp_dir``: the resumable ``state`` plus what this
    session holds (batch stream, monitor, progress bar, log-interval sums, last stats)."""

    def __init__(self, trainer: Trainer, train_set: AudioDataset, valid_set: AudioDataset | None,
                 cfg: TrainerConfig, exp_dir: Path, world: World, hooks: RunHooks, budget: FlopBudget):
        self.trainer, self.train_set, self.valid_set = trainer, train_set, valid_set
        self.cfg, self.exp_dir, self.world, self.hooks, self.budget = cfg, exp_dir, world, hooks, budget
        self.state = RunState()
        self.interval, self.last_train, self.last_valid, self.probed = Interval(), {}, {}, {}
        self.saved_at = self.validated_at = -1

    def resume(self, latest: Path | None) -> None:
        """Load ``latest`` (weights, optimiser, RNG, run state), or seed a fresh run when None."""
        if latest is None:
            seed_everything(self.cfg.seed + 1000 * self.world.rank)  # ranks draw different masks
            return
        try:
            weights, state = ckpt.load_checkpoint(latest)
        except ckpt.CheckpointError as error:
            previous = ckpt.list_checkpoints(self.exp_dir)[:-1]
            hint = f"delete it to resume from {previous[-1].name}" if previous else "start a new --exp-dir"
            raise ckpt.CheckpointError(f"{error}; {hint}") from None
        self.trainer.load_state_dict(state, weights)
        self.state.update(state["run"])
        self.budget = FlopBudget(self.cfg, self.state.milestones)
        for passed in self.budget.drop_passed(self.state.training_flops):
            logger.warning("milestone %.4g FLOPs was passed before this resume: no checkpoint kept", passed)

    def open(self, config: Any, restarts: int, resumed_from: Path | None) -> None:
        """Save the config, open the batch stream and the logs, clear stale temporaries, start the clock."""
        cfg, world = self.cfg, self.world
        if world.is_main and config is not None:
            save_config(config, self.exp_dir / "config.yaml")
        self.sampler = BucketBatchSampler(
            round_up_sizes(self.train_set.sizes, cfg.static_lengths), cfg.max_tokens, cfg.seed,
            world.rank, world.size, length_noise=cfg.length_noise,
        )
        self.stream = batch_stream(
            self.train_set, self.sampler, cfg, world.device, self.state.epoch, self.state.consumed
        )
        self.monitor = TrainingMonitor(self.exp_dir, world.is_main, self.trainer.num_updates)  # train.log
        if restarts > 0:
            logger.info(
                "torchrun restart %d: resuming from the newest checkpoint of %s", restarts, self.exp_dir
            )
        if resumed_from is not None:
            logger.info("resumed from %s at update %d", resumed_from, self.trainer.num_updates)
        removed = remove_stale_temporaries(self.exp_dir) if world.is_main else []  # killed writes' leftovers
        if removed:
            logger.info("removed temporaries of interrupted writes: %s", ", ".join(p.name for p in removed))
        dtype = AUTOCAST_DTYPES.get(cfg.precision, torch.float32)
        self.peak = measure_peak_flops(world.device, dtype) if self.hooks.flops_fn else 0.0
        self.session_start = time.perf_counter()
        self.skipped = SkippedUtterances(self.state.skipped_utterances)

    def elapsed(self) -> float:
        """Wall seconds of this run, earlier sessions included."""
        return self.state.elapsed + time.perf_counter() - self.session_start

    def save(self, name: str) -> None:
        """Write checkpoint ``name`` (a collective call: gathers every rank's RNG state and skips)."""
        state = self.trainer.state_dict()
        self.skipped.merge(all_gather_objects(self.skipped.reasons))
        self.state.skipped_utterances = self.skipped.reasons
        if self.world.is_main:
            state["run"] = self.state.as_dict(self.elapsed())
            state["world_size"] = self.world.size
            ckpt.save_checkpoint(self.exp_dir, name, self.trainer.objective.state_dict(), state)
            if name != ckpt.BEST_NAME:
                ckpt.prune_checkpoints(self.exp_dir, self.cfg.keep_last)
        barrier()

    def validate_and_keep_best(self) -> None:
        """Valid loss + ``validate``, ``checkpoint_best`` on a better ``best_metric``; RNG states are
        restored after, so the training run is unchanged."""
        cfg, world, trainer, hooks = self.cfg, self.world, self.trainer, self.hooks
        rng, stats = get_rng_state(), {}
        if self.valid_set is not None:
            valid_sampler = BucketBatchSampler(
                self.valid_set.sizes, cfg.max_tokens, cfg.seed, world.rank, world.size, shuffle=False
            )
            stats.update(trainer.valid_loss(make_loader(self.valid_set, valid_sampler, cfg, world.device)))
        if hooks.validate is not None:
            trainer.objective.eval()
            stats.update(hooks.validate(trainer.objective))
        set_rng_state(rng)
        self.validated_at = trainer.num_updates
        if not stats:
            return
        if hooks.best_metric not in stats:
            raise ValueError(
                f"best_metric '{hooks.best_metric}' is not among the validation stats {sorted(stats)}"
            )
        value, best = float(stats[hooks.best_metric]), self.state.best
        if best is None or (value > best["value"] if hooks.maximize_best else value < best["value"]):
            self.state.best = {"metric": hooks.best_metric, "value": value, "update": trainer.num_updates}
            self.save(ckpt.BEST_NAME)
        self.monitor.log_valid({"update": trainer.num_updates, **stats, "best": self.state.best["value"]})
        self.last_valid = stats

    def stop_before_update(self) -> str:
        """The reason to stop before the next update ('' to go on)."""
        if self.cfg.max_updates > 0 and self.trainer.num_updates >= self.cfg.max_updates:
            return "max_updates"
        if self.budget.exhausted(self.state.training_flops):  # a resumed run that had spent its budget
            return "max_flops"
        return ""

    def out_of_budget(self) -> str:
        """After an update: 'max_wall_seconds' or 'max_flops' when a budget is spent, else ''."""
        cfg, world, reason = self.cfg, self.world, ""
        if cfg.max_wall_seconds > 0 and world.size == 1:  # alone: the host clock, no device round trip
            reason = "max_wall_seconds" if self.elapsed() > cfg.max_wall_seconds else ""
        elif cfg.max_wall_seconds > 0:  # every rank must agree, or one would wait for the others forever
            late = torch.tensor([float(self.elapsed() > cfg.max_wall_seconds)], device=world.device)
            reason = "max_wall_seconds" if all_reduce_sum(late).item() > 0 else ""
        if self.budget.exhausted(self.state.training_flops):  # the same count on every rank: no vote needed
            reason = reason or "max_flops"
        return reason

    def train_step(self, batches: list) -> dict:
        """One (accumulated) update on ``batches``; the schedule's horizon follows a FLOP budget."""
        trainer, state = self.trainer, self.state
        # the schedule ends where the budget will, at the FLOPs per update so far
        if self.budget.max_flops > 0:
            next_flops = group_flops(self.hooks.flops_fn, batches, self.world.device)
            trainer.schedule_horizon = self.budget.horizon_updates(
                trainer.num_updates, state.training_flops, next_flops
            )
            self.bar.total = trainer.schedule_horizon  # the updates the budget is expected to give
        stats = trainer.train_step(batches)
        state.audio_seconds += stats["audio_samples"] / SAMPLE_RATE
        state.training_flops += stats["training_flops"]
        self.interval.add(stats)
        return stats

    def after_update(self) -> None:
        """Progress bar, collapse probe, the log interval's record, and a FLOP milestone when due."""
        cfg, updates = self.cfg, self.trainer.num_updates
        self.bar.update(1)
        probe = self.hooks.probe
        probe_due = cfg.collapse_every > 0 and updates % cfg.collapse_every == 0
        if probe is not None and self.world.is_main and probe_due:
            self.probed = probe(self.trainer.objective)
        if updates % cfg.log_interval == 0:
            self.log_train()
            self.bar.set_postfix(loss=f"{self.last_train['loss']:.3f}", lr=f"{self.last_train['lr']:.2e}")
        due = self.budget.due(self.state.training_flops)
        if due:
            self.state.milestones = self.budget.record(due, updates, self.state.training_flops)
            self.save(milestone_name(updates))
            if self.world.is_main:
                write_milestones(self.exp_dir, self.state.milestones)

    def log_train(self) -> None:
        """Write the progress record of the interval so far and start a new one."""
        self.last_train = log_interval(
            self.trainer, self.monitor, self.interval, self.state, self.elapsed(), self.peak, self.world,
            self.probed,
        )
        self.probed, self.interval = {}, Interval()

    def validate_and_save_on_schedule(self) -> None:
        """Validate every ``validate_interval_updates``, checkpoint every ``save_interval_updates``."""
        cfg, updates = self.cfg, self.trainer.num_updates
        if cfg.validate_interval_updates > 0 and updates % cfg.validate_interval_updates == 0:
            self.validate_and_keep_best()
        if cfg.save_interval_updates > 0 and updates % cfg.save_interval_updates == 0:
            self.save(ckpt.checkpoint_name(updates))
            self.saved_at = updates

    def next_batches(self) -> list | None:
        """The next update's usable batches: None at the end of the data, [] when all were skipped."""
        group = [item for _, item in zip(range(self.cfg.update_freq), self.stream)]
        if not group:
            return None
        self.state.epoch, self.state.consumed = group[-1][0], group[-1][1]
        return usable_batches([batch for _, _, batch in group], self.skipped, self.world)

    def train(self) -> str:
        """Update until a stop condition holds; returns what stopped the run."""
        self.bar = progress_bar(total=self.cfg.max_updates or None, initial=self.trainer.num_updates,
                                desc="train", disable=not self.world.is_main)
        empty_in_a_row, epoch_batches = 0, len(self.sampler)
        while not (stop := self.stop_before_update()):
            batches = self.next_batches()
            if batches is None:
                stop = "max_epochs"
                break
            if not batches:
                empty_in_a_row += 1
                if empty_in_a_row > epoch_batches:  # every rank agrees: emptiness is all-reduced
                    self.bar.close()
                    self.monitor.close()
                    data_dir = self.train_set.data_dir
                    raise ValueError(
                        f"{data_dir}: no usable utterance in a whole epoch ({len(self.skipped.reasons)}"
                        f" skipped); check it with `speechssl data validate {data_dir}`"
                    )
                continue
            empty_in_a_row = 0
            stats = self.train_step(batches)
            out_of_budget = self.out_of_budget()
            if stats["skipped"] and not out_of_budget:
                continue
            self.after_update()
            if out_of_budget:
                stop = out_of_budget
                break
            self.validate_and_save_on_schedule()
        self.bar.close()
        return stop

    def finish(self, stop: str) -> dict:
        """Last log, validation and checkpoint if not just done; ``summary.json`` and the curve PNG."""
        trainer, world = self.trainer, self.world
        if self.interval.updates:
            self.log_train()
        if self.validated_at != trainer.num_updates:
            self.validate_and_keep_best()
        if self.saved_at != trainer.num_updates:
            self.save(ckpt.checkpoint_name(trainer.num_updates))
        self.skipped.merge(all_gather_objects(self.skipped.reasons))
        if self.skipped.reasons:
            logger.warning(
                "skipped %d utterance(s) whose audio cannot be used; `speechssl data validate DIR "
                "--fix OUT` writes a data dir without them", len(self.skipped.reasons)
            )
        summary = self.summary(stop)
        if world.is_main:
            RunDir(self.exp_dir).write_summary(summary)
            plot_learning_curve(self.monitor.progress.records, self.monitor.valid.records,
                                self.exp_dir / "learning_curve.png", self.exp_dir.name)
            logger.info("done: %s", json.dumps(summary))
        self.monitor.close()
        barrier()
        return summary

    def summary(self, stop: str) -> dict:
        """The run summary (``summary.json``)."""
        state, trainer, reasons = self.state, self.trainer, self.skipped.reasons
        return {
            "stopped_by": stop,
            "updates": trainer.num_updates,
            "epoch": state.epoch,
            "wall_seconds": self.elapsed(),
            "audio_seconds": state.audio_seconds,
            "training_flops": state.training_flops,
            "milestones": state.milestones,
            "skipped_steps": trainer.skipped_steps,
            "skipped_utterances": len(reasons),
            "skipped_utterance_problems": dict(sorted(reasons.items())[:100]),
            "train_loss": self.last_train.get("loss"),
            "valid": self.last_valid,
            "best": state.best,
            "world_size": self.world.size,
            "precision": self.cfg.precision,
            "device": str(self.world.device),
        }
