"""``speechssl kmeans``: fit -> assign -> quality on blob shards; align with a tiny CTC model."""

from __future__ import annotations

import json

import numpy as np
import pytest
import soundfile
import torch
from kmeans_fixtures import blob_features

from speechssl.cli.main import main
from speechssl.config import save_config, to_dict
from speechssl.io.kaldi_dir import DataDir
from speechssl.kmeans.labels import read_label_table, read_labels, write_label_dir
from speechssl.models import build_backbone, load_backbone_config
from speechssl.objectives.ctc import CTCObjective
from speechssl.text.tokenizer import LetterTokenizer
from speechssl.train.checkpoint import save_checkpoint


@pytest.mark.parametrize("fit_mode", [[], ["--streaming"]], ids=["in-memory", "streaming"])
def test_fit_assign_quality_pipeline(make_corpus, tmp_path, capsys, fit_mode):
    feats, truth = blob_features(num_utts=12, frames=50)
    feat_dir, data_dir = make_corpus(feats, nshard=2)
    model, labels, ref = tmp_path / "km.safetensors", tmp_path / "labels", tmp_path / "ref"
    assert main(["kmeans", "fit", "--feats", str(feat_dir), "--k", "5", "--out", str(model),
                 "--percent", "0.8", "--seed", "3", *fit_mode]) == 0
    assert main(["kmeans", "assign", "--feats", str(feat_dir), "--model", str(model),
                 "--data", str(data_dir), "--out", str(labels), "--device", "cpu"]) == 0
    table, rate, num_classes = read_labels(labels, data_dir)
    assert (rate, num_classes, len(table)) == (100.0, 5, 12)
    write_label_dir(ref, ((u, truth[u]) for u in sorted(truth)), list("ABCDE"), 100, "ref.txt")
    capsys.readouterr()
    assert main(["kmeans", "quality", "--labels", str(labels), "--reference", str(ref)]) == 0
    line = capsys.readouterr().out.strip()
    assert line == "labels labels: PNMI 1.000 phone-purity 1.000 cluster-purity 1.000"
    assert json.loads((labels / "quality.json").read_text())["num_frames"] == 600


def test_fit_on_missing_features_is_one_line_error(tmp_path, capsys):
    assert main(["kmeans", "fit", "--feats", str(tmp_path / "none"), "--k", "2",
                 "--out", str(tmp_path / "km.safetensors")]) == 1
    assert "none: feature directory not found" in capsys.readouterr().err


def test_align_writes_letter_references(tmp_path):
    data = DataDir()
    rng = np.random.default_rng(0)
    for utt, seconds, text in (("s-a", 1.0, "A TEST"), ("s-b", 0.7, "HI")):
        path = tmp_path / f"{utt}.flac"
        samples = (0.1 * rng.standard_normal(int(seconds * 16000))).astype(np.float32)
        soundfile.write(path, samples, 16000)
        data.wav_scp[utt], data.text[utt] = str(path), text
        data.utt2num_samples[utt] = len(samples)
    data.save(tmp_path / "data")
    torch.manual_seed(0)
    config = load_backbone_config("tiny", ["num_layers=1", "embed_dim=32", "num_heads=2",
                                           "ffn_dim=64", "pos_conv_groups=4", "pos_conv_kernel=8"])
    tokenizer = LetterTokenizer()
    ctc = CTCObjective(build_backbone(config), vocab_size=tokenizer.vocab_size)
    folder = tmp_path / "ctc"
    save_checkpoint(folder, "checkpoint_best", ctc.state_dict(), {})
    save_config({"model": to_dict(config)}, folder / "config.yaml")
    tokenizer.save(folder)
    assert main(["kmeans", "align", "--checkpoint", str(folder), "--data", str(tmp_path / "data"),
                 "--out", str(tmp_path / "ref")]) == 0
    table, rate, symbols = read_label_table(tmp_path / "ref", "ref.txt")
    assert rate == 50.0 and symbols[0] == "<sil>" and symbols[1:3] == ["|", "'"]
    assert {u: len(v) for u, v in table.items()} == {"s-a": 49, "s-b": 34}
    for utt, text in data.text.items():
        letters = [symbols[i] for i in table[utt] if i != 0]
        collapsed = [s for i, s in enumerate(letters) if i == 0 or s != letters[i - 1]]
        assert "".join(collapsed) == text.replace(" ", "|") + "|"
