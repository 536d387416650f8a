"""bench.compute_curve_runs: the overrides of a curve run (schedule, budget, milestones) load as a valid
config with exact FLOP values, and STATUS.json rows read a run folder."""

from __future__ import annotations

import json
from pathlib import Path

from bench.compute_curve_runs import CurvePlan, run_overrides, schedule_overrides, status_row
from speechssl.train.config import load_pretrain_config

CONF = Path(__file__).resolve().parents[2] / "conf" / "pretrain"


def test_schedules_warm_up_as_the_300_update_run_and_decay_over_the_horizon():
    assert schedule_overrides("hubert", 32) == ["schedule.warmup_ratio=0", "schedule.warmup_updates=24"]
    assert schedule_overrides("data2vec2", 32) == ["schedule.warmup_ratio=0", "schedule.warmup_updates=6"]
    assert schedule_overrides("data2vec", 32) == ["schedule.phase_ratio=[0.0009375, 0.929062, 0.07]"]


def test_run_overrides_give_a_valid_config_with_exact_budgets(tmp_path):
    plan = CurvePlan(data=str(tmp_path / "pretrain"), labels=str(tmp_path / "labels"), out=tmp_path)
    unit = 5806851545088.0
    for objective in ("hubert", "data2vec"):
        overrides = run_overrides(objective, plan, unit, 8)
        cfg = load_pretrain_config(CONF / f"{objective}_tiny.yaml", overrides)
        assert cfg.trainer.max_flops == 8 * unit and cfg.trainer.horizon_flops == 32 * unit
        assert cfg.trainer.keep_flops_milestones == [m * unit for m in (1, 2, 4, 8, 16, 32)]
        assert cfg.trainer.max_updates == 0 and cfg.data.valid == ""
        assert (cfg.data.labels == plan.labels) == (objective == "hubert")


def test_status_row_reads_progress_and_milestones(tmp_path):
    (tmp_path / "progress.jsonl").write_text(
        json.dumps({"update": 590, "elapsed": 1200.04}) + "\n" + json.dumps({"update": 610, "elapsed": 1234.56}) + "\n"
    )
    rows = [{"budget": 100.0 * k, "update": 300 * k, "training_flops": 100.0 * k,
             "weights": f"milestone_{300 * k}.safetensors"} for k in (1, 2)]
    (tmp_path / "milestones.json").write_text(json.dumps(rows))
    for k in (1, 2):
        (tmp_path / f"milestone_{300 * k}.safetensors").write_bytes(b"w")
    row = status_row("hubert", tmp_path, 100.0, 8, "running")
    assert row == {"objective": "hubert", "target": "8x", "state": "running", "milestone_reached": "2x",
                   "milestones": {"1x": 300, "2x": 600}, "updates": 610, "wall_seconds": 1234.6,
                   "unit_flops": 100.0}
    assert status_row("hubert", tmp_path / "none", 100.0, 8, "running")["updates"] == 0
