"""The collapse metric on representations of known rank, the probe's purity (no RNG draw, mode
kept), and its records in a tiny pre-training run that still resumes bit-exactly."""

from __future__ import annotations

import json

import pytest
import torch
from safetensors.torch import load_file

from speechssl.cli.main import main
from speechssl.data.batch import AudioBatch
from speechssl.models.backbone import build_backbone
from speechssl.models.config import load_backbone_config
from speechssl.train.collapse import CollapseProbe, collapse_series, spectrum_auc


def equal_directions(rows: int, dim: int, rank: int, seed: int = 0) -> torch.Tensor:
    """(rows, dim) centred data with exactly ``rank`` equal non-zero singular values."""
    generator = torch.Generator().manual_seed(seed)
    left = torch.randn(rows, rank, generator=generator, dtype=torch.float64)
    left, _ = torch.linalg.qr(left - left.mean(dim=0))
    right, _ = torch.linalg.qr(torch.randn(dim, rank, generator=generator, dtype=torch.float64))
    return left @ right.T + 3.0  # a constant offset: the metric centres the columns


@pytest.mark.parametrize("rank", [1, 2, 5, 16, 32])
def test_rank_k_gives_the_closed_form(rank):
    assert spectrum_auc(equal_directions(400, 32, rank)) == pytest.approx(1 - (rank - 1) / 64, abs=1e-9)


def test_isotropic_gaussian_is_about_one_half_and_collapse_is_one():
    generator = torch.Generator().manual_seed(1)
    isotropic = torch.randn(20000, 64, generator=generator)
    # Sampling spreads the spectrum (Marchenko-Pastur, N/D = 312): slightly above (D + 1) / 2D.
    assert 65 / 128 < spectrum_auc(isotropic) < 65 / 128 + 0.025
    assert spectrum_auc(torch.randn(500, 1, generator=generator) * torch.randn(1, 64, generator=generator)) == pytest.approx(1.0)
    assert spectrum_auc(torch.full((10, 8), 2.5)) == 1.0
    # An anisotropic spectrum sits between the two.
    scaled = isotropic * torch.logspace(0, -2, 64)
    assert 65 / 128 + 0.1 < spectrum_auc(scaled) < 0.99


def test_fewer_rows_than_dimensions_bound_the_rank():
    x = torch.randn(5, 40, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    assert spectrum_auc(x) >= 1 - 3 / 80 - 1e-9  # rank <= 4 after centring
    with pytest.raises(ValueError, match="shape"):
        spectrum_auc(torch.zeros(1, 4))


def test_probe_reads_only():
    backbone = build_backbone(load_backbone_config("tiny", ["num_layers=2", "layerdrop=0.5"]))
    backbone.train()
    audio = torch.randn(2, 8000, generator=torch.Generator().manual_seed(3))
    probe = CollapseProbe(AudioBatch(audio=audio, audio_lengths=torch.tensor([8000, 6000])))
    torch.manual_seed(11)
    state = torch.get_rng_state()
    first = probe(backbone)
    assert torch.equal(torch.get_rng_state(), state)
    assert backbone.training
    assert sorted(first) == ["collapse_auc_0", "collapse_auc_1", "collapse_auc_2"]
    dim = backbone.config.embed_dim
    assert all((dim + 1) / (2 * dim) <= v <= 1 for v in first.values())
    assert probe(backbone) == first


def test_series_groups_layers():
    records = [{"update": 10, "loss": 1.0}, {"update": 20, "collapse_auc_1": 0.7, "collapse_auc_0": 0.6}]
    assert collapse_series(records) == {0: ([20], [0.6]), 1: ([20], [0.7])}


RUN = [
    "trainer.num_workers=0", "trainer.max_tokens=64000", "trainer.max_sample_size=32000",
    "trainer.min_sample_size=8000", "trainer.log_interval=2", "trainer.validate_interval_updates=0",
    "trainer.device=cpu", "schedule.name=constant", "optim.lr=0.001", "trainer.save_interval_updates=3",
    "model.num_layers=2", "objective_config.average_top_k_layers=2", "trainer.collapse_utterances=4",
]


def pretrain(corpus, exp, updates: int, collapse_every: int, resume: bool = False) -> None:
    argv = ["pretrain", "--config", "conf/pretrain/data2vec_tiny.yaml", "--exp-dir", str(exp)]
    sets = RUN + [f"data.train={corpus / 'pretrain'}", f"data.valid={corpus / 'dev'}",
                  f"trainer.max_updates={updates}", f"trainer.collapse_every={collapse_every}"]
    for item in sets:
        argv += ["--set", item]
    assert main(argv + (["--resume"] if resume else [])) == 0


def test_pretraining_logs_it_and_resumes_bit_exactly(smoke_corpus, tmp_path):
    """Collapse every 3 updates: 3 + 3 updates == 6 updates == 6 updates without the probe."""
    whole, split, off = tmp_path / "whole", tmp_path / "split", tmp_path / "off"
    pretrain(smoke_corpus, whole, 6, collapse_every=3)
    pretrain(smoke_corpus, off, 6, collapse_every=0)
    pretrain(smoke_corpus, split, 3, collapse_every=3)
    pretrain(smoke_corpus, split, 6, collapse_every=3, resume=True)
    records = [json.loads(line) for line in (whole / "progress.jsonl").read_text().splitlines()]
    assert [r["update"] for r in records] == [2, 4, 6]
    assert [sorted(k for k in r if k.startswith("collapse")) for r in records] == [
        [], ["collapse_auc_0", "collapse_auc_1", "collapse_auc_2"], ["collapse_auc_0", "collapse_auc_1", "collapse_auc_2"]
    ]
    assert all(0.5 < r["collapse_auc_2"] <= 1 for r in records[1:])
    resumed = [json.loads(line) for line in (split / "progress.jsonl").read_text().splitlines()]
    assert resumed[-1]["collapse_auc_1"] == records[-1]["collapse_auc_1"]
    expected = load_file(whole / "checkpoint_6.safetensors")
    for other in (split, off):
        weights = load_file(other / "checkpoint_6.safetensors")
        assert expected.keys() == weights.keys()
        for name, tensor in expected.items():
            assert torch.equal(tensor, weights[name]), (other.name, name)
    assert "collapse" not in (off / "progress.jsonl").read_text()
