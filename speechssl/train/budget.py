"""Training-FLOP budgets of a run: when it stops, the schedule horizon the budget implies, and the
milestone checkpoints kept for compute curves (``milestone_<update>.*`` listed in ``milestones.json``).

Everything here is a function of the analytic FLOP count and the update counter, never of the clock,
so two runs of one config stop, schedule and keep milestones at the same updates on any machine.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import asdict, dataclass
from pathlib import Path

import torch

from speechssl.io.atomic import atomic_write_text
from speechssl.train.config import TrainerConfig
from speechssl.train.distributed import all_reduce_sum

MILESTONES_INDEX = "milestones.json"


def milestone_name(update: int) -> str:
    """Checkpoint name of the milestone kept at ``update`` (``milestone_<update>.safetensors``)."""
    return f"milestone_{update}"


@dataclass
class Milestone:
    """A checkpoint kept because the run's cumulative training FLOPs reached ``budget``.

    Attributes:
        budget: the FLOP budget asked for in ``trainer.keep_flops_milestones``.
        update: the first update whose cumulative training FLOPs reached it.
        training_flops: the cumulative training FLOPs at that update (>= budget, by under one update).
        weights: the checkpoint's weights file name, beside ``milestones.json``.
    """

    budget: float
    update: int
    training_flops: float
    weights: str


def group_flops(flops_fn, batches: list, device: torch.device) -> float:
    """Training FLOPs of one update's micro-batches, summed over every rank (a collective call)."""
    local = torch.tensor([sum(float(flops_fn(batch)) for batch in batches)], dtype=torch.float64)
    return float(all_reduce_sum(local.to(device)).item())


class FlopBudget:
    """The FLOP settings of a ``TrainerConfig`` and the milestones a run has reached so far."""

    def __init__(self, cfg: TrainerConfig, reached: list[dict] | None = None):
        self.max_flops = cfg.max_flops
        self.horizon_flops = cfg.horizon_flops or cfg.max_flops
        self.max_updates = cfg.max_updates
        self.milestones = sorted(set(cfg.keep_flops_milestones))
        self.reached = [Milestone(**entry) for entry in reached or []]

    @property
    def counts_flops(self) -> bool:
        """True when the run needs the FLOP count before each update (a budget or milestones)."""
        return self.max_flops > 0 or bool(self.milestones)

    def horizon_updates(self, updates_done: int, flops_done: float, next_flops: float) -> int:
        """Decay horizon, in updates, of the learning-rate schedule for the next update.

        The updates that ``horizon_flops`` allows at the mean FLOPs per update so far (the next one
        included), capped by ``max_updates`` when set; it settles as the mean converges.
        """
        mean = (flops_done + next_flops) / (updates_done + 1)
        horizon = max(updates_done + 1, math.ceil(self.horizon_flops / max(mean, 1e-30) - 1e-9))
        return min(horizon, self.max_updates) if self.max_updates > 0 else horizon

    def exhausted(self, flops_done: float) -> bool:
        """True once the cumulative training FLOPs reach ``max_flops`` (never without a budget)."""
        return self.max_flops > 0 and flops_done >= self.max_flops

    def due(self, flops_done: float) -> list[float]:
        """Milestone budgets reached by ``flops_done`` that have no checkpoint yet, smallest first."""
        kept = {m.budget for m in self.reached}
        return [m for m in self.milestones if m <= flops_done and m not in kept]

    def drop_passed(self, flops_done: float) -> list[float]:
        """Forget milestones below ``flops_done`` that have no checkpoint (asked for only on a resume
        past them: a checkpoint now would not be at their budget); returns them."""
        passed = self.due(flops_done)
        self.milestones = [m for m in self.milestones if m not in passed]
        return passed

    def record(self, budgets: list[float], update: int, flops_done: float) -> list[dict]:
        """Add ``budgets`` as reached at ``update``; returns every milestone as plain dicts."""
        weights = f"{milestone_name(update)}.safetensors"
        self.reached += [Milestone(b, update, flops_done, weights) for b in budgets]
        return [asdict(m) for m in self.reached]


def write_milestones(exp_dir: str | os.PathLike, milestones: list[dict]) -> None:
    """Write ``exp_dir/milestones.json`` (atomic): the milestones reached, smallest budget first."""
    rows = sorted(milestones, key=lambda m: m["budget"])
    atomic_write_text(Path(exp_dir) / MILESTONES_INDEX, json.dumps(rows, indent=2) + "\n")


def read_milestones(exp_dir: str | os.PathLike) -> list[Milestone]:
    """The milestones of a run folder whose checkpoint files exist ([] when it kept none).

    Raises:
        ValueError: naming ``milestones.json`` when it is not a list of milestone records.
    """
    path = Path(exp_dir) / MILESTONES_INDEX
    if not path.is_file():
        return []
    try:
        milestones = [Milestone(**row) for row in json.loads(path.read_text(encoding="utf-8"))]
    except (ValueError, TypeError) as error:
        raise ValueError(f"{path}: not a milestone index ({error}); delete it or re-run training") from None
    return [m for m in milestones if (path.parent / m.weights).is_file()]
