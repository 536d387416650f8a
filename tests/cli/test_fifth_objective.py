"""A fifth objective registered at run time goes through the CLI like the four: pretrain, list, finetune."""

from __future__ import annotations

import json

import yaml

from speechssl.cli.main import main
from speechssl.objectives import OBJECTIVES
from tests.data.tiny_dirs import make_data_dir
from tests.objectives.toy_objective import ToyConfig, ToyObjective

RUN = ["trainer.max_updates=2", "trainer.num_workers=0", "trainer.max_tokens=32000", "trainer.max_sample_size=16000",
       "trainer.min_sample_size=8000", "trainer.save_interval_updates=0", "trainer.validate_interval_updates=0",
       "trainer.device=cpu", "trainer.log_interval=1"]


def test_a_registered_objective_pretrains_lists_and_finetunes(tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(OBJECTIVES, "toy", (ToyObjective, ToyConfig))  # the one registry line
    data = make_data_dir(tmp_path, num_utts=4, min_len=16000, max_len=24000)
    # Its YAML: the tiny recipe's model, trainer and optimiser, the toy objective and its config.
    config = yaml.safe_load(open("conf/pretrain/wav2vec2_tiny.yaml"))
    config.update(objective="toy", objective_config={"mask_prob": 0.4})
    (tmp_path / "toy_tiny.yaml").write_text(yaml.safe_dump(config))

    assert main(["pretrain", "--list-objectives"]) == 0
    assert "toy false 1" in capsys.readouterr().out.splitlines()

    pretrain = tmp_path / "pretrain"
    argv = ["pretrain", "--config", str(tmp_path / "toy_tiny.yaml"), "--exp-dir", str(pretrain)]
    for item in RUN + [f"data.train={data}", 'data.valid=""', "model.num_layers=2"]:
        argv += ["--set", item]
    assert main(argv) == 0
    summary = json.loads((pretrain / "summary.json").read_text())
    assert summary["updates"] == 2 and summary["training_flops"] > 0
    assert yaml.safe_load((pretrain / "config.yaml").read_text())["objective_config"]["mask_prob"] == 0.4

    finetune = tmp_path / "finetune"
    argv = ["finetune", "--config", "conf/finetune/tiny_letters.yaml", "--pretrained", str(pretrain),
            "--exp-dir", str(finetune)]
    for item in RUN + [f"data.train={data}", f"data.valid={data}", "trainer.max_tokens=40000"]:
        argv += ["--set", item]
    assert main(argv) == 0
    assert json.loads((finetune / "summary.json").read_text())["updates"] == 2
