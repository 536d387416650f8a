"""One tiny pre-train -> fine-tune -> decode -> score -> report pass on prepared fake LibriSpeech data.

Uses the recipe's BASE configs with the tiny backbone and a couple of updates (CPU, one thread).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from speechssl.cli.main import main

RECIPE = Path(__file__).resolve().parents[2] / "recipes" / "librispeech"
CPU = ["trainer.precision=fp32", "trainer.device=cpu", "trainer.num_workers=0", "trainer.max_updates=2",
       "trainer.save_interval_updates=0", "trainer.validate_interval_updates=0"]


def sets(*values: str) -> list[str]:
    return [arg for value in values for arg in ("--set", value)]


@pytest.fixture(scope="module")
def data(downloaded, tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("data")
    for name, parts in (("train_960", ["train-clean-100", "train-clean-360", "train-other-500"]),
                        ("train_10h", ["10h"]), ("dev_other", ["dev-other"]), ("test_clean", ["test-clean"])):
        assert main(["librispeech", "prep", "--src", str(downloaded), "--part", *parts,
                     "--out", str(root / name)]) == 0
    assert main(["librispeech", "lm", "--src", str(downloaded), "--out", str(root / "lm_4gram")]) == 0
    return root


def test_pretrain_finetune_decode_score_report(data, tmp_path, capsys):
    torch.set_num_threads(1)
    exp = tmp_path / "exp"
    pretrain = exp / "pretrain" / "wav2vec2"
    assert main(["pretrain", "--config", str(RECIPE / "conf/pretrain/wav2vec2_base.yaml"),
                 "--exp-dir", str(pretrain),
                 *sets("model=tiny", *CPU, "trainer.max_tokens=40000", "trainer.max_sample_size=16000",
                       "trainer.min_sample_size=0", "schedule.warmup_updates=1",
                       f"data.train={data / 'train_960'}", f"data.valid={data / 'dev_other'}")]) == 0
    assert json.loads((pretrain / "summary.json").read_text())["updates"] == 2
    finetune = exp / "finetune" / "wav2vec2_10h"
    assert main(["finetune", "--config", str(RECIPE / "conf/finetune/10h.yaml"), "--pretrained", str(pretrain),
                 "--exp-dir", str(finetune),
                 *sets(*CPU, "trainer.max_tokens=60000", "ctc.freeze_updates=1",
                       f"data.train={data / 'train_10h'}", f"data.valid={data / 'dev_other'}")]) == 0
    summary = json.loads((finetune / "summary.json").read_text())
    assert summary["updates"] == 2
    decode = finetune / "decode_test_clean"
    assert main(["decode", "--exp-dir", str(finetune), "--data", str(data / "test_clean"), "--out", str(decode),
                 "--lm", str(data / "lm_4gram"), "--tune-on", str(data / "dev_other"),
                 "--lm-weights", "0,1", "--word-scores", "0", "--device", "cpu"]) == 0
    record = json.loads((decode / "decode.json").read_text())
    assert record["num_utterances"] == 2
    assert record["greedy"]["wer"] >= 0 and record["lm"]["wer"] >= 0
    capsys.readouterr()
    assert main(["score", "--ref", str(data / "test_clean" / "text"), "--hyp", str(decode / "text"), "--json"]) == 0
    scored = json.loads(capsys.readouterr().out)
    assert scored["wer"] == pytest.approx(record["lm"]["wer"])
    assert main(["report", "--exp", str(exp)]) == 0
    assert "wav2vec2_10h" in (exp / "RESULTS.md").read_text()
