"""The training loop in-process: non-finite steps, loss normalisation, precisions, validation,
best checkpoint, wall-time stop and the run's output files."""

from __future__ import annotations

import json
import math

import pytest
import torch

from speechssl.data.dataset import AudioDataset, collate
from speechssl.train import checkpoint as ckpt
from speechssl.train.config import OptimConfig, ScheduleConfig, TrainerConfig
from speechssl.train.distributed import World, seed_everything
from speechssl.train.run import run_training
from speechssl.train.trainer import Trainer, TrainingDiverged
from tests.data.tiny_dirs import make_data_dir
from tests.train.toy import ToyObjective


def _cfg(**changes) -> TrainerConfig:
    base = dict(
        max_updates=6,
        max_tokens=16000,
        max_sample_size=6400,
        min_sample_size=0,
        num_workers=0,
        log_interval=2,
        save_interval_updates=0,
        validate_interval_updates=0,
        device="cpu",
        seed=1,
    )
    return TrainerConfig(**{**base, **changes})


def _train(tmp_path, data, cfg, **kwargs) -> dict:
    seed_everything(cfg.seed)
    objective = ToyObjective()
    train = AudioDataset(data, max_sample_size=cfg.max_sample_size, seed=cfg.seed)
    valid = kwargs.pop("valid", None)
    schedule = ScheduleConfig(name="polynomial", warmup_updates=2)
    summary = run_training(
        objective, train, valid, cfg, OptimConfig(lr=1e-3), schedule, tmp_path / "exp", **kwargs
    )
    assert all(torch.isfinite(p).all() for p in objective.parameters())
    return summary


def test_nan_audio_is_skipped_and_counted(tmp_path):
    """A NaN file never reaches the model: left out of its batch, named once, counted."""
    data = make_data_dir(tmp_path / "corpus", num_utts=4, nan_utts=("spk1-utt001",))
    valid = AudioDataset(data, max_sample_size=None, random_crop=False)
    summary = _train(tmp_path, data, _cfg(max_updates=5, max_tokens=9000), valid=valid)
    assert summary["skipped_steps"] == 0 and summary["updates"] == 5
    assert summary["skipped_utterances"] == 1
    problem = summary["skipped_utterance_problems"]["spk1-utt001"]
    assert problem.startswith("utterance 'spk1-utt001': ") and "spk1-utt001.wav: 1 non-finite" in problem
    assert summary["valid"]["valid_skipped_utterances"] == 1.0
    log = (tmp_path / "exp" / "train.log").read_text()
    assert log.count("skipped in training (1 so far): utterance 'spk1-utt001'") == 1
    assert "skipped 1 utterance(s) whose audio cannot be used" in log
    state = ckpt.load_checkpoint(ckpt.latest_checkpoint(tmp_path / "exp"))[1]
    assert list(state["run"]["skipped_utterances"]) == ["spk1-utt001"]  # survives --resume


class NanLossToy(ToyObjective):
    """The toy whose loss is NaN on every batch holding ``bad``."""

    bad = "spk1-utt001"

    def forward(self, batch):
        output = super().forward(batch)
        if self.bad in batch.utt_ids:
            output.loss = output.loss * float("nan")
        return output


def test_non_finite_loss_names_the_utterances_of_the_batch(tmp_path):
    data = make_data_dir(tmp_path / "corpus", num_utts=4)
    cfg = _cfg(max_updates=3, max_tokens=1_000_000, max_skipped_in_a_row=2)
    train = AudioDataset(data, max_sample_size=cfg.max_sample_size, seed=cfg.seed)
    with pytest.raises(TrainingDiverged) as error:
        run_training(NanLossToy(), train, None, cfg, OptimConfig(lr=1e-3), ScheduleConfig(), tmp_path / "exp")
    message = str(error.value)
    assert "\n" not in message and "precision=fp32" not in message  # the run is fp32 already
    assert message.startswith("2 steps in a row had a non-finite loss or gradient (precision fp32; ")
    assert "spk1-utt001" in message and message.endswith("lower optim.lr, or check those utterances "
                                                          "with `speechssl data validate`")
    log = (tmp_path / "exp" / "train.log").read_text()
    assert "utterances of the batch on rank 0: " in log and "spk1-utt001" in log


def test_gradients_are_divided_by_the_update_sample_size(tmp_path):
    data = make_data_dir(tmp_path / "corpus", num_utts=2, min_len=3000, max_len=3000)
    batches = [collate([example]) for example in AudioDataset(data, max_sample_size=None)]
    objective = ToyObjective()
    objective.backbone.dropout.p = 0.0
    torch.manual_seed(0)
    total = sum(objective(batch).loss for batch in batches)
    total.backward()
    expected = math.sqrt(sum(float((p.grad / 6000).pow(2).sum()) for p in objective.parameters()))
    objective.zero_grad()
    trainer = Trainer(objective, OptimConfig(), ScheduleConfig(name="constant"), _cfg(), World())
    torch.manual_seed(0)
    stats = trainer.train_step(batches)
    assert stats["sample_size"] == 6000 and stats["grad_norm"] == pytest.approx(expected, rel=1e-5)
    assert trainer.num_updates == 1 and int(objective.updates_seen) == 1


@pytest.mark.parametrize("precision", ["bf16", "fp16"])
def test_mixed_precision_on_cpu(tmp_path, precision):
    data = make_data_dir(tmp_path / "corpus", num_utts=4)
    summary = _train(tmp_path, data, _cfg(max_updates=3, precision=precision))
    assert summary["precision"] == precision and summary["updates"] + summary["skipped_steps"] >= 3
    state = torch.load(tmp_path / "exp" / "checkpoint_3.state.pt", weights_only=True)
    assert ("scale" in state["scaler"]) == (precision == "fp16")  # GradScaler only for fp16


def test_validation_best_checkpoint_and_outputs(tmp_path):
    data = make_data_dir(tmp_path / "corpus", num_utts=6)
    valid = AudioDataset(data, max_sample_size=6400, random_crop=False)
    scores = iter([3.0, 1.0, 2.0])
    cfg = _cfg(
        max_updates=6, validate_interval_updates=2, save_interval_updates=2, keep_last=1, num_workers=1
    )
    summary = _train(
        tmp_path,
        data,
        cfg,
        valid=valid,
        validate=lambda objective: {"score": next(scores)},
        best_metric="score",
        flops_fn=lambda batch: 1e6 * batch.size,
    )
    exp = tmp_path / "exp"
    records = [json.loads(line) for line in (exp / "valid.jsonl").read_text().splitlines()]
    assert [r["update"] for r in records] == [2, 4, 6] and [r["score"] for r in records] == [3.0, 1.0, 2.0]
    assert all(r["valid_loss"] > 0 and "valid_keep" in r for r in records)
    assert summary["best"] == {"metric": "score", "value": 1.0, "update": 4}
    assert torch.load(exp / "checkpoint_best.state.pt", weights_only=True)["num_updates"] == 4
    assert [p.name for p in ckpt.list_checkpoints(exp)] == ["checkpoint_6.safetensors"]
    progress = [json.loads(line) for line in (exp / "progress.jsonl").read_text().splitlines()]
    assert {"update", "loss", "lr", "elapsed", "audio_seconds", "mfu", "keep"} <= set(progress[0])
    assert progress[-1]["mfu"] > 0 and summary["training_flops"] > 0
    assert (exp / "learning_curve.png").read_bytes()[:4] == b"\x89PNG"
    assert list((exp / "tensorboard").iterdir())


def test_wall_time_budget_stops_with_a_checkpoint(tmp_path):
    data = make_data_dir(tmp_path / "corpus", num_utts=4)
    summary = _train(tmp_path, data, _cfg(max_updates=10_000, max_wall_seconds=0.5))
    assert summary["stopped_by"] == "max_wall_seconds" and 0 < summary["updates"] < 10_000
    assert ckpt.latest_checkpoint(tmp_path / "exp").name == f"checkpoint_{summary['updates']}.safetensors"


def test_corrupt_checkpoint_blocks_resume_and_previous_one_resumes(tmp_path):
    data = make_data_dir(tmp_path / "corpus", num_utts=4)
    cfg = _cfg(max_updates=4, save_interval_updates=2, keep_last=2)
    _train(tmp_path, data, cfg)
    with pytest.raises(ValueError, match="pass --resume"):
        _train(tmp_path, data, cfg)
    newest = tmp_path / "exp" / "checkpoint_4.safetensors"
    newest.write_bytes(b"\0" * 100)
    with pytest.raises(
        ckpt.CheckpointError, match="checkpoint_4.safetensors: corrupt .*resume from checkpoint_2"
    ):
        _train(tmp_path, data, cfg, resume=True)
    newest.unlink()
    summary = _train(tmp_path, data, cfg, resume=True)
    assert summary["updates"] == 4 and ckpt.latest_checkpoint(tmp_path / "exp").name == newest.name
