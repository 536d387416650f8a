"""``speechssl pretrain`` with each real objective and its tiny config: two updates, validation, resume."""

from __future__ import annotations

import json

import pytest

from speechssl.cli.main import main
from speechssl.io.kaldi_dir import read_table
from speechssl.objectives import OBJECTIVES
from tests.data.tiny_dirs import make_data_dir

SHORT_RUN = [
    "trainer.max_updates=2",
    "trainer.num_workers=0",
    "trainer.max_tokens=32000",
    "trainer.max_sample_size=16000",
    "model.num_layers=2",
    "trainer.min_sample_size=8000",
    "trainer.log_interval=1",
    "trainer.save_interval_updates=0",
    "trainer.validate_interval_updates=0",
    "trainer.device=cpu",
]


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    root = tmp_path_factory.mktemp("pretrain_cli")
    data = make_data_dir(root, num_utts=4, min_len=16000, max_len=24000)
    labels = root / "labels"
    labels.mkdir()
    lengths = read_table(data / "utt2num_samples")
    lines = [
        f"{utt} " + " ".join(str(i % 7) for i in range(int(n) // 320)) + "\n" for utt, n in lengths.items()
    ]
    (labels / "labels.txt").write_text("".join(lines))
    (labels / "dict.txt").write_text("".join(f"{i}\n" for i in range(7)))
    (labels / "label_rate").write_text("50\n")
    return data, labels


@pytest.mark.parametrize("objective", list(OBJECTIVES))
def test_pretrain_each_objective(tmp_path, corpus, objective):
    data, labels = corpus
    exp = tmp_path / "exp"
    sets = [f"data.train={data}", f"data.valid={data}"]
    objective_cls, config_cls = OBJECTIVES[objective]
    if objective_cls.needs_labels:
        sets += [f"data.labels={labels}", f"data.valid_labels={labels}"]
    if hasattr(config_cls(), "average_top_k_layers"):  # teacher targets from 2 of the 2 layers
        sets += ["objective_config.average_top_k_layers=2"]
    argv = ["pretrain", "--config", f"conf/pretrain/{objective}_tiny.yaml", "--exp-dir", str(exp)]
    for item in SHORT_RUN + sets:
        argv += ["--set", item]
    assert main(argv) == 0
    summary = json.loads((exp / "summary.json").read_text())
    assert summary["updates"] == 2 and summary["valid"]["valid_loss"] > 0
    assert (exp / "checkpoint_2.safetensors").is_file() and (exp / "config.yaml").is_file()
    if objective_cls.needs_labels:
        assert "num_classes: 7" in (exp / "config.yaml").read_text()
    if objective == "wav2vec2":  # resume with a longer horizon: one more update
        assert main(argv + ["--resume", "--set", "trainer.max_updates=3"]) == 0
        assert json.loads((exp / "summary.json").read_text())["updates"] == 3
