"""Training-FLOP budgets: the stop is independent of machine load (bit-identical weights), the
schedule decays over the budget, milestones are kept at the right updates and survive a resume."""

from __future__ import annotations

import json
import subprocess
import sys
import time

import pytest

from speechssl.config import ConfigError
from speechssl.data.dataset import AudioDataset
from speechssl.train import checkpoint as ckpt
from speechssl.train.budget import FlopBudget, read_milestones
from speechssl.train.config import OptimConfig, ScheduleConfig, TrainerConfig
from speechssl.train.distributed import seed_everything
from speechssl.train.run import run_training
from tests.data.tiny_dirs import make_data_dir
from tests.train.toy import ToyObjective

PEAK_LR = 1e-3


def _cfg(**changes) -> TrainerConfig:
    base = dict(max_updates=0, max_tokens=16000, max_sample_size=6400, min_sample_size=0, num_workers=0,
                log_interval=1, save_interval_updates=0, validate_interval_updates=0, device="cpu", seed=1)
    return TrainerConfig(**{**base, **changes})


def _samples(batch) -> float:
    """A FLOP count that varies with the batch: 1000 per valid audio sample."""
    return 1000.0 * float(batch.audio_lengths.sum())


def _train(exp, data, cfg, flops_fn=_samples, resume=False) -> dict:
    seed_everything(cfg.seed)
    train = AudioDataset(data, max_sample_size=cfg.max_sample_size, seed=cfg.seed)
    schedule = ScheduleConfig(name="polynomial", warmup_updates=2)
    return run_training(ToyObjective(), train, None, cfg, OptimConfig(lr=PEAK_LR), schedule, exp,
                        resume=resume, flops_fn=flops_fn)


def _weights(exp, name: str) -> bytes:
    return (exp / f"{name}.safetensors").read_bytes()


def test_flop_budget_stops_at_the_same_update_with_identical_weights_under_load(tmp_path):
    data = make_data_dir(tmp_path / "corpus", num_utts=8)
    cfg = _cfg(max_flops=1.5e8)
    idle = _train(tmp_path / "idle", data, cfg)

    def slow(batch) -> float:
        time.sleep(0.02)
        return _samples(batch)

    burner = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        busy = _train(tmp_path / "busy", data, cfg, flops_fn=slow)
    finally:
        burner.kill()
        burner.wait()
    assert idle["stopped_by"] == busy["stopped_by"] == "max_flops"
    assert idle["updates"] == busy["updates"] > 4 and busy["wall_seconds"] > idle["wall_seconds"]
    assert idle["training_flops"] == busy["training_flops"] >= 1.5e8
    name = ckpt.checkpoint_name(idle["updates"])
    assert _weights(tmp_path / "idle", name) == _weights(tmp_path / "busy", name)
    progress = [json.loads(line) for line in (tmp_path / "idle" / "progress.jsonl").read_text().splitlines()]
    assert progress[-1]["update"] == idle["updates"]
    # The schedule's horizon is the budget: the lr has decayed to (about) zero at the stop.
    assert max(r["lr"] for r in progress) > 0.5 * PEAK_LR and progress[-1]["lr"] < 0.3 * PEAK_LR


def _one_mflop(batch) -> float:
    return 1e6


def test_milestones_are_kept_at_their_updates_and_survive_a_resume(tmp_path):
    data = make_data_dir(tmp_path / "corpus", num_utts=8)
    cfg = _cfg(max_flops=5e6, horizon_flops=8e6, keep_flops_milestones=[2e6, 3.5e6, 7e6], keep_last=1)
    first = _train(tmp_path / "exp", data, cfg, flops_fn=_one_mflop)
    assert first["updates"] == 5 and first["stopped_by"] == "max_flops"
    kept = read_milestones(tmp_path / "exp")
    assert [(m.budget, m.update, m.training_flops) for m in kept] == [(2e6, 2, 2e6), (3.5e6, 4, 4e6)]
    early = _weights(tmp_path / "exp", "milestone_2")
    longer = _cfg(**{**cfg.__dict__, "max_flops": 8e6, "keep_flops_milestones": [1e6, 2e6, 3.5e6, 7e6]})
    resumed = _train(tmp_path / "exp", data, longer, flops_fn=_one_mflop, resume=True)
    assert resumed["updates"] == 8
    kept = read_milestones(tmp_path / "exp")
    assert [(m.budget, m.update) for m in kept] == [(2e6, 2), (3.5e6, 4), (7e6, 7)]  # 1e6 was passed
    assert [m["update"] for m in resumed["milestones"]] == [2, 4, 7]
    assert _weights(tmp_path / "exp", "milestone_2") == early
    assert not (tmp_path / "exp" / "milestone_1.safetensors").exists()
    assert [p.name for p in ckpt.list_checkpoints(tmp_path / "exp")] == ["checkpoint_8.safetensors"]
    # One straight run under the same horizon gives the same weights as the stop + resume.
    straight = _train(tmp_path / "straight", data, longer, flops_fn=_one_mflop)
    assert straight["updates"] == 8
    for name in ("milestone_7", "checkpoint_8"):
        assert _weights(tmp_path / "straight", name) == _weights(tmp_path / "exp", name)


def test_resuming_a_spent_budget_stops_at_once(tmp_path):
    data = make_data_dir(tmp_path / "corpus", num_utts=4)
    cfg = _cfg(max_flops=3e6)
    assert _train(tmp_path / "exp", data, cfg, flops_fn=_one_mflop)["updates"] == 3
    again = _train(tmp_path / "exp", data, cfg, flops_fn=_one_mflop, resume=True)
    assert again["updates"] == 3 and again["stopped_by"] == "max_flops"


def test_horizon_follows_the_mean_flops_per_update_and_the_update_cap():
    budget = FlopBudget(_cfg(max_flops=1000.0))
    assert budget.horizon_updates(0, 0.0, 10.0) == 100
    assert budget.horizon_updates(9, 90.0, 30.0) == 84  # mean 12 per update -> ceil(1000 / 12)
    assert budget.horizon_updates(99, 990.0, 10.0) == 100
    assert FlopBudget(_cfg(max_flops=1000.0, max_updates=50)).horizon_updates(0, 0.0, 10.0) == 50
    assert FlopBudget(_cfg(max_flops=1000.0, horizon_flops=4000.0)).horizon_updates(0, 0.0, 10.0) == 400
    assert budget.exhausted(1000.0) and not budget.exhausted(999.0)
    assert not FlopBudget(_cfg(max_updates=3)).exhausted(1e30)


def test_flop_settings_are_checked():
    with pytest.raises(ConfigError, match="horizon_flops needs trainer.max_flops"):
        _cfg(horizon_flops=1e9)
    with pytest.raises(ConfigError, match="must be positive"):
        _cfg(keep_flops_milestones=[0.0])


def test_flop_budget_without_a_flop_count_is_an_error(tmp_path):
    data = make_data_dir(tmp_path / "corpus", num_utts=2)
    with pytest.raises(ValueError, match="need a FLOP count"):
        _train(tmp_path / "exp", data, _cfg(max_flops=1e6), flops_fn=None)


def test_a_damaged_milestone_index_names_the_file(tmp_path):
    (tmp_path / "milestones.json").write_text('{"budget": 1}')
    with pytest.raises(ValueError, match="milestones.json: not a milestone index"):
        read_milestones(tmp_path)


def test_planned_flops_replay_the_trainer_count(tmp_path):
    from speechssl.train.flops_plan import planned_flops

    data = make_data_dir(tmp_path / "corpus", num_utts=9, min_len=1000, max_len=9000)
    cfg = _cfg(max_updates=7, update_freq=2, max_tokens=12000)

    def per_utterance(samples: int) -> float:
        return 3.0 * samples + 1e4

    def flops_fn(batch) -> float:
        return sum(per_utterance(n) for n in batch.audio_lengths.tolist())

    summary = _train(tmp_path / "exp", data, cfg, flops_fn=flops_fn)
    sizes = AudioDataset(data, max_sample_size=cfg.max_sample_size).sizes
    plan = planned_flops(sizes, cfg, per_utterance, 7)
    assert summary["epoch"] >= 2 and len(plan) == 7  # the replay crosses an epoch boundary
    assert plan[-1] == summary["training_flops"] and (plan[1:] > plan[:-1]).all()
    plan_2 = planned_flops(sizes, _cfg(max_epochs=1, update_freq=2, max_tokens=12000), per_utterance, 100)
    assert len(plan_2) < 7 and plan_2[-1] == pytest.approx(3.0 * sizes.sum() + 1e4 * len(sizes))
