"""Pre-training with ``data.augment`` on: every transform drawn, the teacher path (data2vec) runs,
and a run stopped mid-epoch and resumed ends with the same weights as an uninterrupted one."""

from __future__ import annotations

import torch
from safetensors.torch import load_file

from speechssl.cli.main import main

AUGMENT = [
    "data.augment.enabled=true", "data.augment.speed.prob=0.5", "data.augment.reverb.prob=0.5",
    "data.augment.noise.prob=0.5", "data.augment.band.prob=0.5",
]
RUN = [
    "trainer.num_workers=0", "trainer.max_tokens=64000", "trainer.max_sample_size=32000",
    "trainer.min_sample_size=8000", "trainer.log_interval=1", "trainer.validate_interval_updates=0",
    "trainer.device=cpu", "schedule.name=constant", "optim.lr=0.001", "trainer.save_interval_updates=3",
    "model.num_layers=2", "objective_config.average_top_k_layers=2", "trainer.collapse_every=0", 'data.valid=""',
]


def pretrain(corpus, exp, updates: int, extra: list[str], resume: bool = False) -> None:
    argv = ["pretrain", "--config", "conf/pretrain/data2vec_tiny.yaml", "--exp-dir", str(exp)]
    for item in RUN + extra + [f"data.train={corpus / 'pretrain'}", f"trainer.max_updates={updates}"]:
        argv += ["--set", item]
    assert main(argv + (["--resume"] if resume else [])) == 0


def test_augmented_pretraining_resumes_mid_epoch_bit_exactly(smoke_corpus, tmp_path):
    whole, split = tmp_path / "whole", tmp_path / "split"
    pretrain(smoke_corpus, whole, 6, AUGMENT)
    pretrain(smoke_corpus, split, 3, AUGMENT)  # 24 utterances in batches of 2: update 3 is mid-epoch
    pretrain(smoke_corpus, split, 6, AUGMENT, resume=True)
    expected, resumed = load_file(whole / "checkpoint_6.safetensors"), load_file(split / "checkpoint_6.safetensors")
    assert all(torch.equal(tensor, resumed[name]) for name, tensor in expected.items())
    assert "augment:\n    enabled: true" in (whole / "config.yaml").read_text()
