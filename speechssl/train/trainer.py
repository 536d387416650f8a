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
from speechssl.train.config import COMPILE_CHOICES, OptimConfig, ScheduleConfig, TrainerConfig
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
COMPILE_MODES = {"default": None, **{mode: mode for mode in COMPILE_CHOICES if mode not in ("off", "default")}}
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


def compile_objective(objective: Objective, model: torch.nn.Module, mode: str | None) -> torch.nn.Module:
    """``torch.compile`` the whole forward (and, through AOT autograd, backward) of ``model``.

    With LayerDrop, which layers run is drawn in Python each step, and a whole compiled forward
    would compile anew for each pattern: then the conv encoder and each Transformer layer are
    compiled one by one (in place) instead, and the loop over layers stays eager.
    """
    if not uses_layerdrop(objective):
        return torch.compile(model, mode=mode, dynamic=False)
    logger.info("LayerDrop is on: compiling the conv encoder and each Transformer layer, not the whole step")
    backbone = objective.backbone
    for part in (backbone.feature_encoder, *backbone.encoder.layers):
        part.compile(mode=mode, dynamic=False)
    return model


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
        if trainer_cfg.compile != "off":
            self.model = compile_objective(self.objective, self.model, COMPILE_MODES[trainer_cfg.compile])
        self.graphed = trainer_cfg.compile in ("reduce-overhead", "max-autotune")  # CUDA graph modes
        self.params = list(self.objective.trainable_parameters())
        self.optimizer = build_optimizer(self.params, optim_cfg)
        self.scaler = torch.amp.GradScaler(self.device.type, enabled=trainer_cfg.precision == "fp16")
        fused = bool(self.optimizer.defaults.get("fused"))
        self.skip_on_device = fused and not self.scaler.is_enabled()
        self.pending_finite: list[tuple[torch.Tensor, str]] = []  # (finite, utterances)
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

        Returns stats summed over ranks: loss_sum, sample_size, grad_norm (0-d tensors on the
        device, read back by the caller once per log interval), audio_samples, training_flops and
        lr (floats), and ``skipped`` (1.0 when the step was dropped for a non-finite value; on the
        device-side path a dropped step is found at the next ``pop_logs``, see ``_finish_step``).
        """
        self.model.train()
        lr = self.current_lr()
        set_lr(self.optimizer, lr)
        self.optimizer.zero_grad(set_to_none=True)
        # loss_sum, sample_size, audio_samples, flops: summed on the device, no read-back per step
        local = torch.zeros(4, dtype=torch.float64, device=self.device)
        host = [0.0, 0.0]  # audio_samples, flops: known on the host, kept there
        for i, batch in enumerate(batches):
            if self.device.type != "cpu":
                self.objective.check_batch(batch)  # host checks before the copy, none in forward
            audio_samples = float(sum(batch.audio_lengths.tolist()))  # the host batch: no device read
            flops = float(self.flops_fn(batch)) if self.flops_fn is not None else 0.0
            batch = batch.to(self.device)
            last = i == len(batches) - 1
            ddp = getattr(self.model, "_orig_mod", self.model)  # under torch.compile too
            sync = contextlib.nullcontext() if last or self.world.size == 1 else ddp.no_sync()
            if self.graphed:  # CUDA graphs may reuse the last step's output memory from here on
                torch.compiler.cudagraph_mark_step_begin()
            with sync:
                with self.autocast():
                    output = self.model(batch)
                self.scaler.scale(output.loss.float()).backward()
            local[0] += output.loss.detach()
            local[1] += output.sample_size
            local[2] += audio_samples
            local[3] += flops
            host[0] += audio_samples
            host[1] += flops
            for key, value in output.logs.items():
                value = value.detach() if torch.is_tensor(value) else float(value)
                self.logs[key][0] = self.logs[key][0] + value
                self.logs[key][1] += 1.0
        totals = all_reduce_sum(local)
        self.scaler.unscale_(self.optimizer)
        # DDP averaged gradients over ranks; fairseq divides their sum by the total sample size.
        multiplier = (self.world.size / totals[1].clamp(min=1.0)).float()
        grads = [param.grad for param in self.params if param.grad is not None]
        if grads:
            torch._foreach_mul_(grads, multiplier)
        max_norm = self.optim_cfg.clip_norm if self.optim_cfg.clip_norm > 0 else math.inf
        grad_norm = torch.nn.utils.clip_grad_norm_(self.params, max_norm)
        finite = torch.isfinite(totals[0]) & torch.isfinite(grad_norm)
        skipped = self._finish_step(finite, totals[0], grad_norm, _utterance_list(batches))
        self.scaler.update()
        self.optimizer.zero_grad(set_to_none=True)
        zero = torch.zeros((), dtype=torch.float64, device=self.device)
        return {
            "loss_sum": torch.where(finite, totals[0], zero),
            "sample_size": torch.where(finite, totals[1], zero),
            # other ranks' counts need a read-back; alone, the host already has them
            "audio_samples": float(totals[2]) if self.world.size > 1 else host[0],
            "training_flops": float(totals[3]) if self.world.size > 1 else host[1],
            "grad_norm": torch.where(finite, grad_norm.double(), zero),
            "lr": lr,
            "skipped": 1.0 if skipped else 0.0,
        }

    def _finish_step(
        self, finite: torch.Tensor, loss_sum: torch.Tensor, grad_norm: torch.Tensor, utterances: str
    ) -> bool:
        """Step the optimizer unless ``finite`` (0-d bool) is False; True when skipped (known now).

        With a fused AdamW and no GradScaler (CUDA, bf16 or fp32) the kernel itself drops a
        non-finite step (its ``found_inf`` input), so nothing is read back: such a step still
        counts in ``num_updates`` and runs ``after_update``, and is counted in ``skipped_steps``
        (and against ``max_skipped_in_a_row``) at the next ``resolve_skips``. ``utterances``
        names the step's batch in the warning and in ``TrainingDiverged``.
        """
        if self.skip_on_device:
            self.optimizer.found_inf = (~finite).float()
            self.optimizer.step()
            self.pending_finite.append((finite, utterances))
            self._count_update()
            return False
        if bool(finite):
            self.scaler.step(self.optimizer)
            self.skipped_in_a_row = 0
            self._count_update()
            return False
        self._record_skip(f"loss {float(loss_sum)}, gradient norm {float(grad_norm)}", utterances)
        return True

    def _count_update(self) -> None:
        self.num_updates += 1
        self.objective.after_update(self.num_updates)

    def _record_skip(self, detail: str, utterances: str) -> None:
        self.skipped_steps += 1
        self.skipped_in_a_row += 1
        logger.warning(
            "skipped a step at update %d: %s (%d skipped so far); utterances of the batch on rank %d: %s",
            self.num_updates,
            detail,
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

    def resolve_skips(self) -> None:
        """Read back the finite flags of the device-side steps since the last call (one copy)."""
        if not self.pending_finite:
            return
        flags = torch.stack([finite for finite, _ in self.pending_finite]).tolist()
        pending = [utterances for _, utterances in self.pending_finite]
        self.pending_finite.clear()
        for ok, utterances in zip(flags, pending):
            if ok:
                self.skipped_in_a_row = 0
            else:
                self._record_skip("non-finite loss or gradient norm, update left out on the device", utterances)

    def pop_logs(self) -> dict[str, float]:
        """Objective logs averaged over the micro-batches of every rank since the last call."""
        self.resolve_skips()
        logs = {k: [float(total), count] for k, (total, count) in self.logs.items()}
        merged = merge_logs(all_gather_objects(logs))
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
            if self.device.type != "cpu":
                self.objective.check_batch(batch)
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
        self.resolve_skips()
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
