"""The training run shared by pre-training and fine-tuning: ``run_training`` checks the stopping
options and the folder, then runs the named steps of ``speechssl.train.loop.TrainingRun``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from speechssl.data.dataset import AudioDataset
from speechssl.objectives.base import Objective
from speechssl.train import checkpoint as ckpt
from speechssl.train.batches import batch_stream, make_loader
from speechssl.train.budget import FlopBudget
from speechssl.train.config import OptimConfig, ScheduleConfig, TrainerConfig
from speechssl.train.distributed import World, init_world
from speechssl.train.loop import ProbeFn, RunHooks, TrainingRun, ValidateFn
from speechssl.train.trainer import FlopsFn, Trainer

__all__ = ["batch_stream", "make_loader", "run_training"]


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
    hooks = RunHooks(validate, best_metric, maximize_best, flops_fn, probe)
    run = TrainingRun(trainer, train_set, valid_set, cfg, exp_dir, world, hooks, budget)
    resumed_from = latest if resume else None
    run.resume(resumed_from)
    run.open(config, restarts, resumed_from)
    stop = run.train()
    return run.finish(stop)
