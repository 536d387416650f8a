"""The compute-curve pre-training runs: one long run per objective (recipe config) keeping milestone
checkpoints at 1x, 2x, 4x ... of its FLOP unit (1x = the FLOPs of its first 300 updates).

One run at a time, in order (``--plan hubert:8 wav2vec2:8 ... hubert:32``: a later entry of an
objective resumes its run with the larger budget); progress in ``OUT/STATUS.json``. See docs/budgets.md.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from bench.common import REPO_ROOT
from speechssl.objectives import OBJECTIVES
from speechssl.io.atomic import atomic_write_text
from speechssl.train.budget import read_milestones
from speechssl.train.monitor import read_jsonl

UNIT_UPDATES = 300  # the old recipe's pre-training budget: 1x = the FLOPs of these updates


@dataclass
class CurvePlan:
    """Settings shared by every curve run.

    Attributes:
        data, labels: pre-training data dir and the HuBERT iteration-1 label dir of it.
        out: the runs' root (``OUT/<objective>/``).
        horizon: the schedule's horizon in units (the longest planned point, so a run stopped at 8x
            and resumed to 32x follows one schedule).
        milestones: the kept budgets, in units.
    """

    data: str
    labels: str
    out: Path
    horizon: float = 32.0
    milestones: tuple[float, ...] = (1, 2, 4, 8, 16, 32)


def config_path(objective: str) -> Path:
    return REPO_ROOT / "conf" / "pretrain" / f"{objective}_tiny.yaml"


def base_overrides(objective: str, plan: CurvePlan) -> list[str]:
    """The recipe config on ``plan.data`` without validation (labels where the objective needs them)."""
    from speechssl.objectives import OBJECTIVES

    overrides = [f"data.train={plan.data}", 'data.valid=""']
    config_cls = OBJECTIVES[objective][1]
    if "num_classes" in getattr(config_cls, "__dataclass_fields__", {}):
        overrides.append(f"data.labels={plan.labels}")
    return overrides


def planned(objective: str, plan: CurvePlan, updates: int):
    """Cumulative training FLOPs after each of the first ``updates`` updates of the recipe config,
    replayed exactly from its sampler (``speechssl.train.flops_plan``); shape (updates,)."""
    from speechssl.train.pretrain_job import build_datasets
    from speechssl.models.backbone import build_backbone
    from speechssl.objectives import build_objective, objective_config
    from speechssl.train.config import load_pretrain_config
    from speechssl.train.flops_plan import planned_flops
    from speechssl.train.mfu import utterance_flops_fn

    cfg = load_pretrain_config(config_path(objective), base_overrides(objective, plan))
    train, _, values = build_datasets(cfg)
    model = build_objective(cfg.objective, build_backbone(cfg.model), objective_config(cfg.objective, values))
    return planned_flops(train.sizes, cfg.trainer, utterance_flops_fn(model), updates)


def unit_flops(objective: str, plan: CurvePlan) -> float:
    """Training FLOPs of the first ``UNIT_UPDATES`` updates of the recipe config: its 1x."""
    return float(planned(objective, plan, UNIT_UPDATES)[-1])


def print_units(plan: CurvePlan, objectives: list[str], recipe_gflops: float) -> None:
    """Per objective: 1x, mean FLOPs per update, and the updates run.sh's budget gives (objectives
    with several iterations: the budget shared between them)."""
    import numpy as np

    for objective in objectives:
        cumulative = planned(objective, plan, 4 * UNIT_UPDATES)
        budget = recipe_gflops * 1e9 / OBJECTIVES[objective][0].iterations  # run.sh: iterations share it
        updates = int(np.searchsorted(cumulative, budget) + 1)
        print(f"{objective}: 1x = {cumulative[UNIT_UPDATES - 1]:.4e} FLOPs "
              f"({cumulative[UNIT_UPDATES - 1] / UNIT_UPDATES:.4e} per update); "
              f"{budget:.4e} FLOPs = {updates} updates")


def schedule_overrides(objective: str, horizon: float) -> list[str]:
    """Warm up for as many updates as the recipe's 1x run does, then decay over ``horizon`` units."""
    from speechssl.train.config import load_pretrain_config

    schedule = load_pretrain_config(config_path(objective)).schedule
    if schedule.name == "tri_stage":
        warmup, _, decay = schedule.phase_ratio
        phases = [warmup / horizon, 1.0 - warmup / horizon - decay, decay]
        return [f"schedule.phase_ratio=[{', '.join(f'{p:.6g}' for p in phases)}]"]
    if schedule.warmup_ratio > 0:
        return ["schedule.warmup_ratio=0", f"schedule.warmup_updates={round(schedule.warmup_ratio * UNIT_UPDATES)}"]
    return []


def run_overrides(objective: str, plan: CurvePlan, unit: float, target: float) -> list[str]:
    milestones = ", ".join(repr(m * unit) for m in plan.milestones if m <= plan.horizon)
    return base_overrides(objective, plan) + schedule_overrides(objective, plan.horizon) + [
        "trainer.max_updates=0",
        f"trainer.max_flops={target * unit!r}",
        f"trainer.horizon_flops={plan.horizon * unit!r}",
        f"trainer.keep_flops_milestones=[{milestones}]",
        "trainer.save_interval_updates=100",
        "trainer.keep_last=2",
    ]


def pretrain_command(objective: str, exp: Path, overrides: list[str]) -> list[str]:
    """``speechssl pretrain --resume`` of the recipe config of ``objective`` into ``exp`` with ``overrides``."""
    argv = [sys.executable, "-m", "speechssl.cli.main", "pretrain", "--config", str(config_path(objective)),
            "--exp-dir", str(exp), "--resume"]
    for override in overrides:
        argv += ["--set", override]
    return argv


def status_row(objective: str, exp: Path, unit: float, target: float, state: str) -> dict:
    """What STATUS.json says of one run: the largest milestone kept, updates and wall seconds so far."""
    records = read_jsonl(exp / "progress.jsonl") if (exp / "progress.jsonl").is_file() else []
    kept = read_milestones(exp)
    return {
        "objective": objective,
        "target": f"{target:g}x",
        "state": state,
        "milestone_reached": f"{kept[-1].budget / unit:.3g}x" if kept else None,
        "milestones": {f"{m.budget / unit:.3g}x": m.update for m in kept},
        "updates": records[-1]["update"] if records else 0,
        "wall_seconds": round(records[-1]["elapsed"], 1) if records else 0.0,
        "unit_flops": unit,
    }


def write_status(out: Path, rows: dict) -> None:
    atomic_write_text(out / "STATUS.json", json.dumps(list(rows.values()), indent=2) + "\n")


def run_one(objective: str, target: float, plan: CurvePlan, rows: dict) -> None:
    """Pre-train (or resume) ``objective`` up to ``target`` units, refreshing STATUS.json every 30 s."""
    exp = plan.out / objective
    exp.mkdir(parents=True, exist_ok=True)
    budget_file = exp / "unit.json"
    if budget_file.is_file():
        unit = json.loads(budget_file.read_text())["unit_flops"]
    else:
        unit = unit_flops(objective, plan)
        atomic_write_text(budget_file, json.dumps({
            "unit_flops": unit, "unit_updates": UNIT_UPDATES,
            "definition": f"1x = training FLOPs of the first {UNIT_UPDATES} updates of {config_path(objective).name}",
        }, indent=2) + "\n")
    argv = ["nice", "-n", "5", *pretrain_command(objective, exp, run_overrides(objective, plan, unit, target))]
    key = f"{objective}:{target:g}"
    with open(exp / "driver.log", "a") as log:
        log.write(" ".join(argv) + "\n")
        log.flush()
        process = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, cwd=REPO_ROOT)
        while process.poll() is None:
            rows[key] = status_row(objective, exp, unit, target, "running")
            write_status(plan.out, rows)
            time.sleep(30)
    rows[key] = status_row(objective, exp, unit, target, "done" if process.returncode == 0 else
                           f"failed (exit {process.returncode}, see {exp}/driver.log)")
    write_status(plan.out, rows)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=str(REPO_ROOT / "data" / "pretrain"))
    parser.add_argument("--labels", default=str(REPO_ROOT / "exp" / "labels" / "mfcc" / "train"))
    parser.add_argument("--out", type=Path, default=REPO_ROOT / "exp" / "compute_curves")
    parser.add_argument("--plan", nargs="+", default=[f"{name}:8" for name in OBJECTIVES],
                        help="OBJECTIVE:UNITS entries, run in order (default: every objective to 8x; "
                             "the issue's runs: hubert:8 wav2vec2:8 data2vec:8 data2vec2:8 hubert:32 data2vec2:32)")
    parser.add_argument("--print-units", type=float, default=None, metavar="RECIPE_GFLOPS",
                        help="only print each objective's 1x and the updates of this run.sh budget")
    args = parser.parse_args(argv)
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    os.environ.setdefault("MKL_NUM_THREADS", "1")
    plan = CurvePlan(args.data, args.labels, args.out)
    if args.print_units is not None:
        print_units(plan, sorted({entry.partition(":")[0] for entry in args.plan}), args.print_units)
        return
    plan.out.mkdir(parents=True, exist_ok=True)
    rows: dict = {}
    for entry in args.plan:
        objective, _, units = entry.partition(":")
        run_one(objective, float(units), plan, rows)


if __name__ == "__main__":
    main()
