"""User errors of pre-training and fine-tuning are one stderr line, found before a model is built;
a non-finite loss names the batch's utterances; a plain 4-file Kaldi dir fixed by --fix trains."""

from __future__ import annotations

import json

import pytest

from speechssl.cli.main import main
from speechssl.io.kaldi_dir import read_table
from tests.data.tiny_dirs import make_data_dir

TINY = [
    "trainer.max_updates=1", "trainer.num_workers=0", "trainer.device=cpu", "trainer.log_interval=1",
    "trainer.max_tokens=64000", "trainer.max_sample_size=16000", "trainer.min_sample_size=0",
    "trainer.save_interval_updates=0", "trainer.validate_interval_updates=0", "model.num_layers=1",
    "objective_config.final_dim=16", "objective_config.latent_vars=8", "objective_config.num_negatives=5",
]
PRETRAIN = ["pretrain", "--config", "conf/pretrain/wav2vec2_tiny.yaml"]
FINETUNE = ["finetune", "--config", "conf/finetune/tiny_letters.yaml", "--pretrained", "none"]


def _sets(values):
    return [arg for value in values for arg in ("--set", value)]


def _err(capsys):
    parts = (p for line in capsys.readouterr().err.splitlines() for p in line.split("\r"))
    return [p for p in parts if p.strip() and "%|" not in p]


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return make_data_dir(tmp_path_factory.mktemp("one_line"), num_utts=4, min_len=16000, max_len=20000)


@pytest.fixture
def no_model(monkeypatch):
    """Building a backbone fails the test: the error must come first."""

    def refuse(*args, **kwargs):
        raise AssertionError("the model was built before the error was found")

    monkeypatch.setattr("speechssl.models.backbone.build_backbone", refuse)


@pytest.mark.parametrize("command", [PRETRAIN, FINETUNE], ids=["pretrain", "finetune"])
def test_exp_dir_that_is_a_file(command, data, tmp_path, no_model, capsys):
    exp = tmp_path / "exp"
    exp.write_text("not a folder\n")
    sets = _sets([f"data.train={data}", f"data.valid={data}"])
    assert main(command + ["--exp-dir", str(exp)] + sets) == 1
    assert _err(capsys) == [
        f"speechssl {command[0]}: error: --exp-dir {exp}: is a file; give a folder for the run's outputs"
    ]
    assert exp.read_text() == "not a folder\n"


def test_finetune_into_a_used_exp_dir_keeps_its_tokenizer(data, tmp_path, no_model, capsys):
    exp = tmp_path / "exp"
    exp.mkdir()
    for name in ("checkpoint_5.safetensors", "checkpoint_5.state.pt", "tokenizer.json"):
        (exp / name).write_text("earlier run\n")
    sets = _sets([f"data.train={data}", f"data.valid={data}"])
    assert main(FINETUNE + ["--exp-dir", str(exp)] + sets) == 1
    assert _err(capsys) == [
        f"speechssl finetune: error: {exp} already holds checkpoint_5.safetensors: pass --resume, "
        "or use a new --exp-dir"
    ]
    assert (exp / "tokenizer.json").read_text() == "earlier run\n"


def test_malformed_yaml_names_file_and_line(tmp_path, capsys):
    bad = tmp_path / "bad.yaml"
    bad.write_text("objective: wav2vec2\ntrainer:\n  max_updates: [1, 2\n  seed: 3\n")
    assert main(["pretrain", "--config", str(bad), "--exp-dir", str(tmp_path / "exp")]) == 1
    err = _err(capsys)
    assert len(err) == 1 and err[0].startswith(f"speechssl pretrain: error: {bad}: not valid YAML, line 4 ")
    tabbed = tmp_path / "tabbed.yaml"
    tabbed.write_text("units: letters\n\tmodel: tiny\n")
    assert main(["finetune", "--config", str(tabbed), "--exp-dir", str(tmp_path / "exp")]) == 1
    assert _err(capsys) == [
        f"speechssl finetune: error: {tabbed}: not valid YAML, line 2 column 1: found character '\\t' "
        "that cannot start any token"
    ]
    assert main(PRETRAIN + ["--exp-dir", str(tmp_path / "exp"), "--set", "trainer.seed=[1"]) == 1
    assert _err(capsys) == [
        "speechssl pretrain: error: override 'trainer.seed=[1': the value is not valid YAML "
        "(line 1 column 3: expected ',' or ']', but got '<stream end>')"
    ]


def test_non_finite_loss_is_one_line_naming_the_batch(data, tmp_path, monkeypatch, capsys):
    from speechssl.objectives.wav2vec2 import Wav2Vec2Objective

    forward = Wav2Vec2Objective.forward

    def nan_forward(self, batch):
        output = forward(self, batch)
        output.loss = output.loss * float("nan")
        return output

    monkeypatch.setattr(Wav2Vec2Objective, "forward", nan_forward)
    exp = tmp_path / "exp"
    sets = _sets(TINY + [f"data.train={data}", "data.valid=''", "trainer.max_skipped_in_a_row=1"])
    assert main(PRETRAIN + ["--exp-dir", str(exp)] + sets) == 1
    err = _err(capsys)
    assert len(err) == 1, err
    assert err[0].startswith(f"speechssl pretrain: error: {exp}: 1 steps in a row had a non-finite loss")
    assert "precision fp32" in err[0] and "precision=fp32" not in err[0]
    assert any(utt in err[0] for utt in read_table(data / "wav.scp"))


def test_nan_audio_is_skipped_in_a_loader_worker(tmp_path):
    """The pre-training default loads in worker processes: a NaN file is still named and counted."""
    data = make_data_dir(tmp_path, num_utts=4, min_len=16000, max_len=20000, nan_utts=("spk1-utt001",))
    exp = tmp_path / "exp"
    sets = _sets(TINY + [f"data.train={data}", f"data.valid={data}", "trainer.num_workers=1"])
    assert main(PRETRAIN + ["--exp-dir", str(exp)] + sets) == 0
    summary = json.loads((exp / "summary.json").read_text())
    assert summary["skipped_utterances"] == 1 and summary["skipped_steps"] == 0
    assert "non-finite" in summary["skipped_utterance_problems"]["spk1-utt001"]
    assert summary["valid"]["valid_skipped_utterances"] == 1.0


def test_plain_kaldi_dir_fixed_by_validate_trains(tmp_path, capsys):
    data = make_data_dir(tmp_path, num_utts=4, min_len=16000, max_len=20000)
    (data / "utt2num_samples").unlink()  # what a standard Kaldi dir holds: wav.scp text utt2spk spk2utt
    exp = tmp_path / "exp"
    sets = _sets(TINY + [f"data.train={data}", "data.valid=''"])
    assert main(PRETRAIN + ["--exp-dir", str(exp)] + sets) == 1
    assert "utt2num_samples: file not found" in _err(capsys)[0]
    fixed = tmp_path / "fixed"
    assert main(["data", "validate", str(data), "--fix", str(fixed)]) == 0
    assert main(["data", "validate", str(fixed)]) == 0
    sets = _sets(TINY + [f"data.train={fixed}", "data.valid=''"])
    assert main(PRETRAIN + ["--exp-dir", str(exp)] + sets) == 0
    assert json.loads((exp / "summary.json").read_text())["updates"] == 1


def test_a_corpus_with_no_usable_audio_stops_after_one_epoch(tmp_path, capsys):
    utts = tuple(f"spk{i % 2}-utt{i:03d}" for i in range(3))
    data = make_data_dir(tmp_path, num_utts=3, min_len=16000, max_len=20000, nan_utts=utts)
    sets = _sets(TINY + [f"data.train={data}", "data.valid=''"])
    assert main(PRETRAIN + ["--exp-dir", str(tmp_path / "exp")] + sets) == 1
    assert _err(capsys) == [
        f"speechssl pretrain: error: {data}: no usable utterance in a whole epoch (3 skipped); "
        f"check it with `speechssl data validate {data}`"
    ]
