"""Compute estimate: stage arithmetic, synthetic batches, and a short real measurement on the tiny model."""

from __future__ import annotations

from pathlib import Path

import pytest

from speechssl.cli.main import main
from speechssl.objectives import objective_config
from speechssl.finetune import load_finetune_config
from speechssl.train.estimate import (
    Throughput,
    format_estimate,
    run_stage,
    synthetic_batch,
    synthetic_ctc_batch,
)
from speechssl.train.config import load_pretrain_config

CONF = Path(__file__).resolve().parents[2] / "recipes" / "librispeech" / "conf"
PRETRAIN, FINETUNE = CONF / "pretrain", CONF / "finetune"


def test_stage_arithmetic_and_text():
    cfg = load_pretrain_config(PRETRAIN / "wav2vec2_base.yaml")
    stage = run_stage("pre-training", cfg.trainer, reference_gpus=64)
    assert stage.samples_per_update == 89_600_000
    assert stage.audio_seconds == 400_000 * 5600
    # 100 audio-s per step, 10 steps in 5 s -> 200 audio-s/s.
    speed = Throughput("cpu", steps=10, seconds=5.0, batch_samples=1_600_000, peak_memory_gib=0.0)
    assert speed.audio_seconds_per_second == pytest.approx(200.0)
    assert stage.gpu_seconds(speed) == pytest.approx(400_000 * 5600 / 200)
    lines = format_estimate(stage, speed, gpus=8)
    assert lines[1] == ("pre-training: 400,000 updates x 5,600 audio-s/update (622,222 h of audio) ~ "
                        "129.63 GPU-days on this device; ~ 16.2 days wall time on 8 such device(s)")
    with pytest.raises(ValueError, match="reference GPUs must be >= 1"):
        run_stage("pre-training", cfg.trainer, reference_gpus=0)
    finetune = run_stage("fine-tuning", load_finetune_config(FINETUNE / "10h.yaml").trainer, reference_gpus=2)
    assert (finetune.updates, finetune.samples_per_update) == (20_000, 2 * 3_200_000 * 4)


def test_synthetic_hubert_batch_has_labels_at_label_rate():
    cfg = load_pretrain_config(PRETRAIN / "hubert_base_iter1.yaml", ["model=tiny"])
    batch = synthetic_batch(cfg, objective_config(cfg.objective, cfg.objective_config), 40_000)
    assert tuple(batch.audio.shape) == (1, 40_000)  # crop = min(max_sample_size, batch) = 40k
    assert tuple(batch.labels.shape) == (1, 2 * 124)  # 124 frames at 50 Hz -> 248 labels at 100 Hz
    assert int(batch.labels.max()) < 100
    batch = synthetic_batch(cfg, objective_config(cfg.objective, cfg.objective_config), 600_000)
    assert tuple(batch.audio.shape) == (2, 250_000) and batch.labels.shape[1] == 2 * 781


def test_synthetic_ctc_batch():
    cfg = load_finetune_config(FINETUNE / "100h.yaml")
    batch = synthetic_ctc_batch(cfg, 3_200_000, vocab_size=29)
    assert tuple(batch.audio.shape) == (12, 250_000)  # 3.2M // 250k rows of 15.6 s
    assert tuple(batch.targets.shape) == (12, 234)  # 15.6 s x 15 letters/s
    assert 1 <= int(batch.targets.min()) and int(batch.targets.max()) < 29  # never the blank (0)


@pytest.mark.parametrize("config", ["wav2vec2_base.yaml", "hubert_base_iter2.yaml"])
def test_cli_estimate_measures_tiny_model(config, capsys):
    status = main(["estimate", "--config", str(PRETRAIN / config), "--set", "model=tiny",
                   "--set", "trainer.precision=fp32", "--batch-samples", "16000", "--measure-seconds", "0.2",
                   "--reference-gpus", "32", "--gpus", "4", "--device", "cpu", "--threads", "1"])
    assert status == 0
    device, stage = capsys.readouterr().out.strip().splitlines()
    assert device.startswith("device: cpu; measured ") and "1.0 audio-s" in device
    per_update = 32 * 1_400_000 // 16000
    assert stage.startswith(f"pre-training: 400,000 updates x {per_update:,} audio-s/update")
    assert stage.endswith("wall time on 4 such device(s)")


def test_cli_estimate_errors(capsys):
    assert main(["estimate", "--config", str(PRETRAIN / "wav2vec2_base.yaml"), "--gpus", "0"]) == 1
    assert "--gpus must be >= 1" in capsys.readouterr().err


def test_cli_estimate_with_finetuning(capsys):
    status = main(["estimate", "--config", str(PRETRAIN / "data2vec2_base.yaml"), "--set", "model=tiny",
                   "--set", "objective_config.average_top_k_layers=4", "--set", "trainer.precision=fp32",
                   "--finetune-config", str(FINETUNE / "1h.yaml"), "--finetune-set", "trainer.precision=fp32",
                   "--finetune-reference-gpus", "2", "--batch-samples", "16000", "--measure-seconds", "0.2",
                   "--device", "cpu", "--threads", "1"])
    assert status == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 4
    assert lines[1].startswith("pre-training: 400,000 updates x 62 audio-s/update")  # 1 x 1M samples
    assert lines[3].startswith(f"fine-tuning {FINETUNE / '1h.yaml'}: 13,000 updates x 1,600 audio-s/update")
