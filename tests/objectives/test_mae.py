"""Masked spectrogram reconstruction: targets of a known signal, FLOPs, training, resume, probe."""

from __future__ import annotations

import json
import math

import torch
from safetensors.torch import load_file

from speechssl.cli.main import main
from speechssl.models.flops import count_flops
from speechssl.objectives import build_objective
from speechssl.objectives.mae import MaeObjective, log_mel_patches
from tests.data.tiny_dirs import make_data_dir

SMALL = {"decoder": {"dim": 32, "input_dropout": 0.0}}
SHORT_RUN = [
    "trainer.num_workers=0",
    "trainer.max_tokens=32000",
    "trainer.max_sample_size=16000",
    "trainer.min_sample_size=8000",
    "model.num_layers=2",
    "trainer.log_interval=1",
    "trainer.validate_interval_updates=0",
    "trainer.device=cpu",
    "schedule.name=constant",
    "objective_config.decoder.dim=32",
    'data.valid=""',
]


def _tone(freq: float, seconds: float = 1.0) -> torch.Tensor:
    t = torch.arange(int(16000 * seconds)) / 16000.0
    return 0.3 * torch.sin(2 * math.pi * freq * t)


def _mel(freq: float) -> float:
    return 2595.0 * math.log10(1.0 + freq / 700.0)


def test_targets_of_a_tone_are_normalised_patches_peaking_at_its_mel_bin(tiny_backbone):
    objective = MaeObjective(tiny_backbone())
    audio = torch.stack([_tone(1000.0), _tone(3000.0)])
    frames = objective.backbone.config.num_frames(16000)
    patches = log_mel_patches(audio, frames, objective.stack, 80)
    assert patches.shape == (2, 49, 160) and objective.target_dim == 160
    assert patches.mean(dim=-1).abs().max() < 1e-4
    assert (patches.var(dim=-1, unbiased=False) - 1).abs().max() < 1e-3
    peaks = patches.view(2, 49, 2, 80).argmax(dim=-1)  # both stacked 10 ms frames of every patch
    assert (peaks[0] == peaks[0, 0, 0]).all() and (peaks[1] == peaks[1, 0, 0]).all()
    for row, freq in enumerate((1000.0, 3000.0)):  # the HTK mel bin centred nearest the tone
        assert int(peaks[row, 0, 0]) == round((_mel(freq) - _mel(20.0)) / ((_mel(8000.0) - _mel(20.0)) / 81)) - 1
    # per-patch normalisation removes the gain (noise keeps every bin above the log floor)
    noisy = audio + 0.01 * torch.randn(audio.shape, generator=torch.Generator().manual_seed(0))
    assert torch.allclose(log_mel_patches(noisy * 10, frames, 2, 80), log_mel_patches(noisy, frames, 2, 80), atol=1e-4)
    # padding after an utterance leaves its frames alone
    short = _tone(1000.0, 0.6)
    padded = torch.zeros(1, 16000)
    padded[0, : short.numel()] = short
    alone = log_mel_patches(short[None], objective.backbone.config.num_frames(short.numel()), 2, 80)
    in_batch = log_mel_patches(padded, frames, 2, 80)[:, : alone.shape[1]]
    assert torch.allclose(alone, in_batch, atol=1e-4)


def test_forward_masks_80_percent_and_counts_student_and_decoder_flops(tiny_backbone, batch):
    objective = build_objective("mae", tiny_backbone(), SMALL)
    torch.manual_seed(0)
    out = objective(batch)
    frames = (~objective.backbone.front_end(batch.audio, batch.audio_lengths).padding_mask).sum(dim=1)
    assert frames.tolist() == [49, 39]  # rows mask equal counts: 80 % of the shorter, 31 frames
    assert int(out.sample_size) == 2 * 31 == int(out.logs["masked_frames"])
    assert out.logs["student_frames"] == 49 - 31
    assert float(out.logs["target_var"]) > 0.5 and float(out.logs["pred_var"]) > 0
    count = count_flops(objective.backbone.config, 16000)
    once = count.training - 3 * count.transformer
    decoder = 49 * (2 * 7 * 64 * 32 / 16 + 3 * 2 * 7 * 32 * 32 / 16 + 2 * 32 * 160)
    expected = once + 3 * (0.2 * count.transformer + decoder)
    assert abs(objective.training_flops(count) - expected) < 1e-6 * expected
    assert objective.training_flops(count) < count.training  # no teacher, a fifth of the frames


def test_a_few_updates_lower_the_reconstruction_error(tiny_backbone, batch):
    objective = build_objective("mae", tiny_backbone(), SMALL).train()
    optimizer = torch.optim.Adam(objective.trainable_parameters(), lr=1e-3)
    losses = []
    for step in range(12):
        torch.manual_seed(step % 2)  # two masks, alternating: the same two losses are compared
        out = objective(batch)
        losses.append(float(out.loss.detach()) / float(out.sample_size))
        optimizer.zero_grad()
        (out.loss / out.sample_size).backward()
        optimizer.step()
    assert sum(losses[-2:]) < 0.8 * sum(losses[:2]), losses


def _pretrain(data, exp, updates: int, *extra: str, resume: bool = False) -> int:
    argv = ["pretrain", "--config", "conf/pretrain/mae_tiny.yaml", "--exp-dir", str(exp)]
    argv += ["--resume"] if resume else []
    for item in SHORT_RUN + [f"data.train={data}", f"trainer.max_updates={updates}", *extra]:
        argv += ["--set", item]
    return main(argv)


def test_resume_is_bit_exact_and_the_checkpoint_probes(tmp_path, smoke_corpus):
    data = make_data_dir(tmp_path / "corpus", num_utts=4, min_len=12000, max_len=16000)
    whole, split = tmp_path / "whole", tmp_path / "split"
    save = "trainer.save_interval_updates=2"
    assert _pretrain(data, whole, 4, save) == 0
    assert _pretrain(data, split, 2, save) == 0
    assert _pretrain(data, split, 4, save, resume=True) == 0
    assert "resumed from" in (split / "train.log").read_text() and "at update 2" in (split / "train.log").read_text()
    expected = load_file(whole / "checkpoint_4.safetensors")
    resumed = load_file(split / "checkpoint_4.safetensors")
    assert expected.keys() == resumed.keys() and any(k.startswith("decoder.") for k in expected)
    assert all(torch.equal(tensor, resumed[name]) for name, tensor in expected.items())
    summary = json.loads((whole / "summary.json").read_text())
    assert summary["updates"] == 4 and summary["training_flops"] > 0
    argv = ["probe", "--upstream", str(whole), "--task", "pr", "--max-updates", "2",
            "--train", str(smoke_corpus / "train"), "--dev", str(smoke_corpus / "dev"),
            "--features-root", str(tmp_path / "features"), "--out", str(tmp_path / "probe")]
    assert main(argv) == 0
    result = json.loads((tmp_path / "probe" / "result.json").read_text())
    assert result["task"] == "pr" and result["updates"] == 2 and result["value"] >= 0
