"""End to end on a tiny corpus: finetune (from a pre-trained folder and from scratch), lm build,
decode with dev tuning, score and report, all through the ``speechssl`` command."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
import yaml

from speechssl.cli.main import main
from speechssl.config import to_dict
from speechssl.finetune import load_finetune_config, load_finetuned
from speechssl.io.kaldi_dir import read_table
from speechssl.models import build_backbone, load_backbone_config
from speechssl.train.checkpoint import load_weights, save_checkpoint
from tests.data.tiny_dirs import make_data_dir

CONFIG = Path(__file__).resolve().parents[2] / "conf" / "finetune" / "tiny_letters.yaml"
SIZES = [
    "conv_layers=[[32,10,5],[32,3,2],[32,3,2],[32,3,2],[32,3,2],[32,2,2],[32,2,2]]",
    "embed_dim=32", "num_layers=2", "num_heads=2", "ffn_dim=64", "pos_conv_kernel=8", "pos_conv_groups=4",
]
RUN = [
    "trainer.max_updates=4", "trainer.validate_interval_updates=2", "trainer.save_interval_updates=2",
    "trainer.max_tokens=40000", "trainer.min_sample_size=0", "trainer.log_interval=1",
    "trainer.device=cpu", "ctc.mask_channel_length=4", "ctc.freeze_updates=2", "optim.lr=1e-3",
]


@pytest.fixture(scope="module")
def experiment(tmp_path_factory):
    """exp/ with a fake wav2vec2 pre-training folder, one fine-tuned model on it, and a data dir."""
    root = tmp_path_factory.mktemp("e2e")
    data = make_data_dir(root / "corpus", num_utts=6, min_len=4000, max_len=7000)
    sizes = load_backbone_config("tiny", SIZES)
    pretrain = root / "exp" / "pretrain" / "wav2vec2"
    backbone = build_backbone(sizes)
    weights = {f"backbone.{k}": v for k, v in backbone.state_dict().items()}
    save_checkpoint(pretrain, "checkpoint_3", weights, {"num_updates": 3})
    (pretrain / "config.yaml").write_text(yaml.safe_dump({"objective": "wav2vec2", "model": to_dict(sizes)}))
    (pretrain / "summary.json").write_text(json.dumps({"wall_seconds": 60.0, "training_flops": 2e12, "updates": 3}))
    finetune = root / "exp" / "finetune" / "w2v2"
    sets = [f"data.train={data}", f"data.valid={data}", *RUN]
    args = ["finetune", "--config", str(CONFIG), "--pretrained", str(pretrain), "--exp-dir", str(finetune)]
    assert main(args + [a for s in sets for a in ("--set", s)]) == 0
    (root / "lm.txt").write_text("HELLO WORLD\nA B\nHELLO A\n")
    assert main(["lm", "build", "--text", str(root / "lm.txt"), "--order", "2", "--out", str(root / "lm"),
                 "--memory", "32M"]) == 0
    return {"root": root, "data": data, "pretrain": pretrain, "finetune": finetune, "lm": root / "lm"}


def test_finetune_summary_and_frozen_encoder(experiment):
    finetune = experiment["finetune"]
    summary = json.loads((finetune / "summary.json").read_text())
    assert summary["objective"] == "wav2vec2" and summary["updates"] == 4
    assert 0.0 <= summary["best_dev_wer"] and summary["best_dev_cer"] is not None
    assert summary["best_update"] in (2, 4)
    assert json.loads((finetune / "tokenizer.json").read_text())["kind"] == "letters"
    config = yaml.safe_load((finetune / "config.yaml").read_text())
    assert config["model"]["feature_grad_mult"] == 0.0 and config["model"]["embed_dim"] == 32
    tuned = load_weights(finetune / "checkpoint_best.safetensors")
    start = load_weights(experiment["pretrain"] / "checkpoint_3.safetensors")
    name = "backbone.feature_encoder.layers.0.conv.weight"
    name = name if name in start else next(k for k in start if k.startswith("backbone.feature_encoder"))
    assert tuned[name].equal(start[name])  # frozen encoder: still the pre-trained weights


def test_decode_with_tuned_lm_then_score_and_report(experiment, capsys):
    finetune, data = experiment["finetune"], experiment["data"]
    out = finetune / "decode_data"
    args = ["decode", "--exp-dir", str(finetune), "--data", str(data), "--out", str(out),
            "--lm", str(experiment["lm"]), "--tune-on", str(data), "--lm-weights", "0,1",
            "--word-scores", "0", "--beam-size", "5", "--device", "cpu"]
    assert main(args) == 0
    report = json.loads((out / "decode.json").read_text())
    assert set(report["greedy"]) >= {"wer", "cer", "words", "chars"}
    assert len(report["tuning"]["trials"]) == 2 and not report["tuning"]["reused"]
    # Another split of the same model reuses the tuning instead of searching the grid again.
    again = finetune / "decode_reuse"
    assert main(args[:6] + [str(again)] + args[7:]) == 0
    reused = json.loads((again / "decode.json").read_text())
    assert reused["tuning"]["reused"] and reused["tuning"]["trials"] == report["tuning"]["trials"]
    assert reused["lm"]["lm_weight"] == report["lm"]["lm_weight"]
    assert report["lm"]["lm_weight"] in (0.0, 1.0) and "wer" in report["lm"]
    for name in ("text", "greedy/text", "lm/text"):
        assert set(read_table(out / name)) == set(read_table(data / "text"))
    lm_words = {"HELLO", "WORLD", "A", "B"}
    assert all(set(t.split()) <= lm_words for t in read_table(out / "lm" / "text").values())
    cache = list((finetune / "emissions").glob("*.safetensors"))
    assert len(cache) == 1  # dev and test are the same dir here: computed once
    stamp = cache[0].stat().st_mtime_ns
    assert main(args[:5] + ["--out", str(finetune / "decode_again"), "--device", "cpu"]) == 0
    assert cache[0].stat().st_mtime_ns == stamp
    capsys.readouterr()
    assert main(["score", "--ref", str(data / "text"), "--hyp", str(out / "text")]) == 0
    assert f"WER {100 * report['lm']['wer']:.2f}%" in capsys.readouterr().out
    exp = experiment["root"] / "exp"
    assert main(["report", "--exp", str(exp)]) == 0
    results = json.loads((exp / "results.json").read_text())
    assert [r["objective"] for r in results["rows"]] == ["wav2vec2"]
    assert results["rows"][0]["pretrain_flops"] == 2e12
    assert "| w2v2 | wav2vec2 |" in (exp / "RESULTS.md").read_text()


@pytest.mark.parametrize("freeze_encoder", [True, False])
def test_scratch_trains_the_transformer_at_once_and_the_encoder_as_configured(experiment, tmp_path, freeze_encoder):
    data = experiment["data"]
    sets = [f"data.train={data}", f"data.valid={data}", *RUN, "trainer.max_updates=2", *(f"model.{s}" for s in SIZES),
            f"ctc.freeze_feature_encoder={str(freeze_encoder).lower()}", "ctc.freeze_updates=5"]
    exp_dir = tmp_path / "scratch"
    args = ["finetune", "--config", str(CONFIG), "--pretrained", "none", "--exp-dir", str(exp_dir)]
    assert main(args + [a for s in sets for a in ("--set", s)]) == 0
    summary = json.loads((exp_dir / "summary.json").read_text())
    assert summary["objective"] == "scratch" and summary["pretrained_checkpoint"] is None
    config = yaml.safe_load((exp_dir / "config.yaml").read_text())
    assert config["ctc"]["freeze_updates"] == 0
    assert (config["model"]["feature_grad_mult"] == 0) == freeze_encoder
    # the weights show it: a frozen encoder kept its initial values, a trained one moved
    objective, _, _ = load_finetuned(exp_dir, "last")
    torch.manual_seed(config["trainer"]["seed"])  # what fine-tuning seeded before building its model
    initial = build_backbone(load_finetune_config(exp_dir / "config.yaml").model)
    first_conv = "feature_encoder.layers.0.conv.weight"
    moved = not torch.equal(objective.backbone.state_dict()[first_conv], initial.state_dict()[first_conv])
    assert moved != freeze_encoder


def test_finetune_errors_name_the_problem(experiment, tmp_path, capsys):
    data = experiment["data"]
    bad = tmp_path / "bad"
    bad.mkdir()
    for name in ("wav.scp", "utt2num_samples"):
        (bad / name).write_text((data / name).read_text())
    first = next(iter(read_table(data / "text")))
    (bad / "text").write_text(f"{first} HELLO, WORLD\n")
    sets = [f"data.train={bad}", f"data.valid={data}", *RUN]
    args = ["finetune", "--config", str(CONFIG), "--pretrained", "none", "--exp-dir", str(tmp_path / "x")]
    assert main(args + [a for s in sets for a in ("--set", s)]) == 1
    assert f"utterance '{first}'" in capsys.readouterr().err
    missing = ["finetune", "--config", str(CONFIG), "--pretrained", str(tmp_path / "nowhere"), "--exp-dir", str(tmp_path / "y")]
    assert main(missing) == 1
    assert "pre-trained folder or checkpoint not found" in capsys.readouterr().err


def test_reinit_top_layers_starts_them_fresh(experiment, tmp_path, caplog):
    data, pretrain = experiment["data"], experiment["pretrain"]
    start = load_weights(pretrain / "checkpoint_3.safetensors")
    for key in list(start):  # make the "pre-trained" top layer recognisable
        if key.startswith("backbone.encoder.layers.1."):
            start[key] = start[key] + 5.0
    save_checkpoint(tmp_path / "pre", "checkpoint_3", start, {"num_updates": 3})
    (tmp_path / "pre" / "config.yaml").write_text((pretrain / "config.yaml").read_text())
    sets = [f"data.train={data}", f"data.valid={data}", *RUN, "trainer.max_updates=1",
            "trainer.validate_interval_updates=1", "ctc.reinit_top_layers=1"]
    args = ["finetune", "--config", str(CONFIG), "--pretrained", str(tmp_path / "pre"),
            "--exp-dir", str(tmp_path / "ft")]
    with caplog.at_level("INFO", logger="speechssl.finetune"):
        assert main(args + [a for s in sets for a in ("--set", s)]) == 0
    assert "top 1 Transformer layers re-initialised" in caplog.text
    tuned = load_weights(tmp_path / "ft" / "checkpoint_best.safetensors")
    top = "backbone.encoder.layers.1.final_norm.weight"
    lower = "backbone.encoder.layers.0.final_norm.weight"
    assert float((tuned[top] - 1.0).abs().max()) < 0.1  # fresh LayerNorm (1), not 1 + 5
    assert torch.allclose(tuned[lower], start[lower], atol=0.1)  # kept, barely moved by 1 update


def test_finetune_from_a_converted_model_folder(experiment, tmp_path):
    """``speechssl convert`` output (model.safetensors with bare backbone keys + config.yaml holding
    the backbone config itself) fine-tunes like a pre-training folder."""
    from speechssl.convert import native
    from speechssl.convert.common import Converted

    sizes = load_backbone_config("tiny", SIZES)
    backbone = build_backbone(sizes)
    native.write(Converted(sizes, backbone.state_dict()), tmp_path / "converted")
    data = experiment["data"]
    sets = [f"data.train={data}", f"data.valid={data}", *RUN, "trainer.max_updates=2"]
    args = ["finetune", "--config", str(CONFIG), "--pretrained", str(tmp_path / "converted"),
            "--exp-dir", str(tmp_path / "ft")]
    assert main(args + [a for s in sets for a in ("--set", s)]) == 0
    tuned = load_weights(tmp_path / "ft" / "checkpoint_best.safetensors")
    name = next(k for k in backbone.state_dict() if k.startswith("feature_encoder") and k.endswith("conv.weight"))
    assert tuned[f"backbone.{name}"].equal(backbone.state_dict()[name])  # frozen: the converted weights
