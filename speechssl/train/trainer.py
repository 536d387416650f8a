"""One optimizer update of any Objective: accumulation, DDP, mixed precision, clipping, skipping.

Gradients are divided by the update's total ``sample_size`` over ranks and micro-batches (fairseq).
"""

from __future__ import annotations

import contextlib
import logging
import math
from collections import defaultdict
from typing import Callable

import torch
from torch.nn.parallel import DistributedDataParallel

from speechssl.data.batch import AudioBatch
from speechssl.data.dataset import SkippedUtterances
from speechssl.objectives.base import Objective
from speechssl.train.config import OptimConfig, ScheduleConfig, TrainerConfig
from speechssl.train.distributed import (
    World,
    all_gather_objects,
    all_reduce_sum,
    get_rng_state,
    set_rng_state,
)
from speechssl.train.optim import build_optimizer, lr_scale, set_lr

logger = logging.getLogger(__name__)

AUTOCAST_DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}
FlopsFn = Callable[[AudioBatch], float]


class TrainingDiverged(RuntimeError):
    """Too many consecutive steps had a non-finite loss or gradient norm; the message names the
    utterances of the last such step (the CLI prints it as one line)."""


def _utterance_list(batches: list[AudioBatch], limit: int = 8) -> str:
    utts = [utt for batch in batches for utt in batch.utt_ids]
    more = f" and {len(utts) - limit} more" if len(utts) > limit else ""
    return ", ".join(utts[:limit]) + more


def merge_logs(per_rank: list[dict[str, list[float]]]) -> dict[str, float]:
    """Average ``{key: [sum, count]}`` accumulators of every rank into ``{key: mean}``."""
    totals: dict[str, list[float]] = defaultdict(lambda: [0.0, 0.0])
    for logs in per_rank:
        for key, (total, count) in logs.items():
            totals[key][0] += total
            totals[key][1] += count
    return {key: total / count for key, (total, count) in sorted(totals.items()) if count}


def uses_layerdrop(module: torch.nn.Module) -> bool:
    """True when some sub-module skips layers at random (DDP must then look for unused parameters)."""
    return any(float(getattr(m, "layerdrop", 0.0) or 0.0) > 0 for m in module.modules())


class Trainer:
    """Holds the objective (DDP-wrapped when distributed), optimizer, GradScaler and counters."""

    def __init__(
        self,
        objective: Objective,
        optim_cfg: OptimConfig,
        schedule_cfg: ScheduleConfig,
        trainer_cfg: TrainerConfig,
        world: World,
        flops_fn: FlopsFn | None = None,
    ):
        self.cfg = trainer_cfg
        self.optim_cfg = optim_cfg
        self.schedule_cfg = schedule_cfg
        self.world = world
        self.device = world.device
        self.flops_fn = flops_fn
        self.objective = objective.to(self.device)
        self.model: torch.nn.Module = self.objective
        if world.size > 1:
            unused = trainer_cfg.find_unused_parameters
            find_unused = unused == "true" or (unused == "auto" and uses_layerdrop(objective))
            device_ids = [self.device.index] if self.device.type == "cuda" else None
            self.model = DistributedDataParallel(
                self.objective, device_ids=device_ids, find_unused_parameters=find_unused
            )
        self.params = list(self.objective.trainable_parameters())
        self.optimizer = build_optimizer(self.params, optim_cfg)
        self.scaler = torch.amp.GradScaler(self.device.type, enabled=trainer_cfg.precision == "fp16")
        self.num_updates = 0
        self.schedule_horizon = trainer_cfg.max_updates  # a FLOP budget sets it before each update
        self.skipped_steps = 0
        self.skipped_in_a_row = 0
        self.logs: dict[str, list[float]] = defaultdict(lambda: [0.0, 0.0])
        self.valid_skipped = SkippedUtterances(what="validation")

    def autocast(self) -> contextlib.AbstractContextManager:
        dtype = AUTOCAST_DTYPES.get(self.cfg.precision)
        if dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(device_type=self.device.type, dtype=dtype)

    def current_lr(self) -> float:
        """Learning rate of the next optimizer step."""
        scale = lr_scale(self.num_updates + 1, self.schedule_cfg, self.schedule_horizon)
        return self.optim_cfg.lr * scale

    def train_step(self, batches: list[AudioBatch]) -> dict:
        """Forward/backward ``batches`` (one update's micro-batches) and step the optimizer.

        Returns stats summed over ranks: loss_sum, sample_size, audio_samples, training_flops,
        grad_norm, lr and ``skipped`` (1.0 when the step was dropped for a non-finite value).
        """
        self.model.train()
        lr = self.current_lr()
        set_lr(self.optimizer, lr)
        self.optimizer.zero_grad(set_to_none=True)
        local = torch.zeros(4, dtype=torch.float64)  # loss_sum, sample_size, audio_samples, flops
        for i, batch in enumerate(batches):
            batch = batch.to(self.device)
            last = i == len(batches) - 1
            sync = contextlib.nullcontext() if last or self.world.size == 1 else self.model.no_sync()
            with sync:
                with self.autocast():
                    output = self.model(batch)
                self.scaler.scale(output.loss.float()).backward()
            local[0] += float(output.loss.detach())
            local[1] += float(output.sample_size)
            local[2] += float(batch.audio_lengths.sum())
            local[3] += float(self.flops_fn(batch)) if self.flops_fn is not None else 0.0
            for key, value in output.logs.items():
                self.logs[key][0] += float(value)
                self.logs[key][1] += 1.0
        totals = all_reduce_sum(local.to(self.device)).cpu()
        self.scaler.unscale_(self.optimizer)
        # DDP averaged gradients over ranks; fairseq divides their sum by the total sample size.
        multiplier = self.world.size / max(float(totals[1]), 1.0)
        for param in self.params:
            if param.grad is not None:
                param.grad.mul_(multiplier)
        max_norm = self.optim_cfg.clip_norm if self.optim_cfg.clip_norm > 0 else math.inf
        grad_norm = float(torch.nn.utils.clip_grad_norm_(self.params, max_norm))
        finite = math.isfinite(float(totals[0])) and math.isfinite(grad_norm)
        if finite:
            self.scaler.step(self.optimizer)
            self.num_updates += 1
            self.skipped_in_a_row = 0
            self.objective.after_update(self.num_updates)
        else:
            self.skipped_steps += 1
            self.skipped_in_a_row += 1
            utterances = _utterance_list(batches)
            logger.warning(
                "skipped a step at update %d: loss %s, gradient norm %s (%d skipped so far); "
                "utterances of the batch on rank %d: %s",
                self.num_updates,
                float(totals[0]),
                grad_norm,
                self.skipped_steps,
                self.world.rank,
                utterances,
            )
            if self.skipped_in_a_row >= self.cfg.max_skipped_in_a_row:
                advice = (
                    "lower optim.lr" if self.cfg.precision == "fp32"
                    else "lower optim.lr or use trainer.precision=fp32"
                )
                raise TrainingDiverged(
                    f"{self.skipped_in_a_row} steps in a row had a non-finite loss or gradient "
                    f"(precision {self.cfg.precision}; last batch on rank {self.world.rank}: "
                    f"{utterances}): {advice}, or check those utterances with "
                    "`speechssl data validate`"
                )
        self.scaler.update()
        self.optimizer.zero_grad(set_to_none=True)
        return {
            "loss_sum": float(totals[0]) if finite else 0.0,
            "sample_size": float(totals[1]) if finite else 0.0,
            "audio_samples": float(totals[2]),
            "training_flops": float(totals[3]),
            "grad_norm": grad_norm,
            "lr": lr,
            "skipped": 0.0 if finite else 1.0,
        }

    def pop_logs(self) -> dict[str, float]:
        """Objective logs averaged over the micro-batches of every rank since the last call."""
        merged = merge_logs(all_gather_objects({k: list(v) for k, v in self.logs.items()}))
        self.logs.clear()
        return merged

    @torch.no_grad()
    def valid_loss(self, batches) -> dict[str, float]:
        """Loss per sample_size unit and averaged logs over ``batches``, all ranks together."""
        self.objective.eval()
        local = torch.zeros(3, dtype=torch.float64)  # loss_sum, sample_size, skipped utterances
        logs: dict[str, list[float]] = defaultdict(lambda: [0.0, 0.0])
        for batch in batches:
            self.valid_skipped.add(batch)
            local[2] += len(batch.skipped)
            if batch.size == 0:
                continue
            with self.autocast():
                output = self.objective(batch.to(self.device))
            local[0] += float(output.loss.detach())
            local[1] += float(output.sample_size)
            for key, value in output.logs.items():
                logs[key][0] += float(value)
                logs[key][1] += 1.0
        totals = all_reduce_sum(local.to(self.device)).cpu()
        merged = merge_logs(all_gather_objects({k: list(v) for k, v in logs.items()}))
        stats = {"valid_loss": float(totals[0]) / max(float(totals[1]), 1.0)}
        if totals[2] > 0:
            stats["valid_skipped_utterances"] = float(totals[2])
        stats.update({f"valid_{key}": value for key, value in merged.items()})
        return stats

    def state_dict(self) -> dict:
        """Optimizer, scaler, counters and every rank's RNG state (a collective call)."""
        return {
            "num_updates": self.num_updates,
            "skipped_steps": self.skipped_steps,
            "optimizer": self.optimizer.state_dict(),
            "scaler": self.scaler.state_dict(),
            "rng": all_gather_objects(get_rng_state()),
        }

    def load_state_dict(self, state: dict, weights: dict[str, torch.Tensor]) -> None:
        """Restore a checkpoint written by ``state_dict`` (+ the objective's weights)."""
        missing, unexpected = self.objective.load_state_dict(weights, strict=False)
        if missing or unexpected:
            raise ValueError(
                f"checkpoint does not match the objective: missing {missing[:3]}, unexpected {unexpected[:3]}"
            )
        self.optimizer.load_state_dict(state["optimizer"])
        self.scaler.load_state_dict(state["scaler"])
        self.num_updates = int(state["num_updates"])
        self.skipped_steps = int(state["skipped_steps"])
        rng = state["rng"]
        if len(rng) == self.world.size:
            set_rng_state(rng[self.world.rank])
        else:
            logger.warning(
                "checkpoint saved with %d ranks, running %d: RNG streams restart", len(rng), self.world.size
            )
            torch.manual_seed(self.cfg.seed * 1000 + self.world.rank + self.num_updates)
