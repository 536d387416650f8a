"""Each objective pre-trains on the smoke corpus with the tiny config: the loss falls, checkpoints
are written, and a resumed run ends with the same weights as an uninterrupted one."""

from __future__ import annotations

import json

import pytest
from safetensors.torch import load_file

from speechssl.cli.main import main
from speechssl.objectives import OBJECTIVES
SHORT_RUN = [
    "trainer.num_workers=0",
    "trainer.max_tokens=64000",
    "trainer.max_sample_size=32000",
    "trainer.min_sample_size=8000",
    "trainer.log_interval=1",
    "trainer.validate_interval_updates=0",
    "trainer.device=cpu",
    "schedule.warmup_ratio=0.1",
    "optim.lr=0.001",
    'data.valid=""',
]


@pytest.fixture(scope="module")
def mfcc_labels(smoke_corpus, tmp_path_factory):
    """HuBERT iteration-1 labels of the smoke pre-training split (MFCC, K=10)."""
    root = tmp_path_factory.mktemp("smoke_labels")
    data = smoke_corpus / "pretrain"
    assert main(["features", "mfcc", "--data", str(data), "--out", str(root / "feats")]) == 0
    model = root / "kmeans.safetensors"
    assert main(["kmeans", "fit", "--feats", str(root / "feats"), "--k", "10", "--out", str(model)]) == 0
    argv = ["kmeans", "assign", "--feats", str(root / "feats"), "--model", str(model)]
    assert main(argv + ["--data", str(data), "--out", str(root / "labels")]) == 0
    return root / "labels"


def pretrain(objective: str, corpus, labels, exp, updates: int, extra: list[str] = ()) -> int:
    sets = SHORT_RUN + [f"data.train={corpus / 'pretrain'}", f"trainer.max_updates={updates}"]
    if OBJECTIVES[objective][0].needs_labels:
        sets.append(f"data.labels={labels}")
    argv = ["pretrain", "--config", f"conf/pretrain/{objective}_tiny.yaml", "--exp-dir", str(exp)]
    for item in sets + list(extra):
        argv += ["--set", item]
    return main(argv)


@pytest.mark.parametrize("objective", list(OBJECTIVES))
def test_tiny_pretraining_on_smoke_lowers_loss(objective, smoke_corpus, mfcc_labels, tmp_path):
    assert pretrain(objective, smoke_corpus, mfcc_labels, tmp_path, updates=24) == 0
    losses = [json.loads(line)["loss"] for line in (tmp_path / "progress.jsonl").read_text().splitlines()]
    assert len(losses) == 24
    first, last = sum(losses[:4]) / 4, sum(losses[-4:]) / 4
    assert last < first, f"{objective}: loss {first:.3f} -> {last:.3f}"
    assert (tmp_path / "checkpoint_24.safetensors").is_file()


@pytest.mark.parametrize("objective", ["wav2vec2", "data2vec"])
def test_resumed_objective_state_is_exact(objective, smoke_corpus, mfcc_labels, tmp_path):
    """Gumbel temperature and the EMA teacher live in the checkpoint: 3 + 3 updates == 6 updates.

    A constant learning rate keeps the schedule out of it (it depends on max_updates, which the
    stopped run sets to 3); the trainer's own SIGKILL test covers the schedule."""
    whole, split = tmp_path / "whole", tmp_path / "split"
    save = ["trainer.save_interval_updates=3", "schedule.name=constant"]
    assert pretrain(objective, smoke_corpus, mfcc_labels, whole, updates=6, extra=save) == 0
    assert pretrain(objective, smoke_corpus, mfcc_labels, split, updates=3, extra=save) == 0
    resume = ["pretrain", "--config", f"conf/pretrain/{objective}_tiny.yaml", "--exp-dir", str(split), "--resume"]
    for item in SHORT_RUN + [f"data.train={smoke_corpus / 'pretrain'}", "trainer.max_updates=6"] + save:
        resume += ["--set", item]
    assert main(resume) == 0
    expected = load_file(whole / "checkpoint_6.safetensors")
    resumed = load_file(split / "checkpoint_6.safetensors")
    assert expected.keys() == resumed.keys()
    for name, tensor in expected.items():
        assert (tensor == resumed[name]).all(), name
