"""recipes/librispeech/run.sh stages 0-9 with --smoke true on the fake mirror: HuBERT (both
iterations) and wav2vec 2.0, stage 3 under torchrun with 2 CPU processes, and fine-tuning from a
converted checkpoint. Tiny backbone, 2 updates per run, 2-8 utterances per split."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import time
from pathlib import Path

import pytest
import torch
import yaml
from safetensors.torch import load_file

from speechssl.cli.main import main
from speechssl.io.kaldi_dir import DataDir, read_table

RUN_SH = Path(__file__).resolve().parents[2] / "recipes" / "librispeech" / "run.sh"
SPLITS = ("dev_clean", "dev_other", "test_clean", "test_other")


def recipe(root: Path, fake_corpus, *options: str) -> subprocess.CompletedProcess:
    """Run the recipe in --smoke mode with its folders under ``root``; fails the test on an error."""
    env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    command = ["bash", str(RUN_SH), "--smoke", "true", "--finetune-split", "10m", "--device", "cpu",
               "--mirror", str(fake_corpus.mirror), "--checksums", str(fake_corpus.checksum_file),
               "--dl-dir", str(root / "dl"), "--data", str(root / "data"), "--exp", str(root / "exp"), *options]
    result = subprocess.run(command, capture_output=True, text=True, env=env, timeout=900)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return result


def outputs(root: Path) -> dict[str, int]:
    """mtime of every file a stage leaves behind (a re-run must not rewrite any of them)."""
    skip = ("RESULTS.md", "results.json", ".png")  # stage 9 re-renders the report
    return {str(p): p.stat().st_mtime_ns for p in root.rglob("*")
            if p.is_file() and not str(p).endswith(skip) and "/exp/report" not in str(p)}


@pytest.fixture(scope="module")
def hubert_run(fake_corpus, tmp_path_factory):
    root = tmp_path_factory.mktemp("recipe")
    return root, recipe(root, fake_corpus, "--objective", "hubert")


def check_decodes(finetune: Path, data: Path) -> None:
    """Stage 8: four decodes, the LM weights tuned once (on dev_other) and reused by the others."""
    records = {s: json.loads((finetune / f"decode_{s}" / "decode.json").read_text()) for s in SPLITS}
    for split, record in records.items():
        assert record["num_utterances"] == len(DataDir.load(data / split).utt_ids)
        assert record["greedy"]["wer"] >= 0 and record["lm"]["wer"] >= 0
        assert record["tuning"]["data"] == str(data / "dev_other")
        assert set(read_table(finetune / f"decode_{split}" / "text")) == set(read_table(data / split / "text"))
    assert [r["tuning"]["reused"] for r in records.values()] == [False, True, True, True]
    assert len({(r["lm"]["lm_weight"], r["lm"]["word_score"]) for r in records.values()}) == 1
    assert len(records["test_other"]["tuning"]["trials"]) == 2  # the smoke grid: 0,1 x 0
    assert [p.name for p in (finetune / "lm_tuning").iterdir()] == ["dev_other-best.json"]


def test_hubert_stages_0_to_9(hubert_run, fake_corpus):
    root, result = hubert_run
    data, exp = root / "data", root / "exp"
    # 0: verified downloads; 1: data dirs
    assert (root / "dl" / "LibriSpeech" / "dev-other" / ".speechssl-done").is_file()
    assert (root / "dl" / "lm" / "4-gram.arpa.gz").is_file()
    train = sum((fake_corpus.parts[p] for p in ("train-clean-100", "train-clean-360", "train-other-500")), [])
    assert DataDir.load(data / "train_960").utt_ids == sorted(train)
    assert DataDir.load(data / "train_10m").utt_ids == sorted(fake_corpus.parts["1h/0"])
    assert (data / "manifests" / "dev_other.tsv").is_file()
    # 2: MFCC labels (100 Hz, K=8) of train_960 and dev_other
    for name, rate, count in (("mfcc_k8", "100", 8), ("iter1_l2_k8", "50", 8)):
        labels = exp / "labels" / name / "train_960"
        assert (labels / "label_rate").read_text().strip() == rate
        assert len((labels / "labels.txt").read_text().splitlines()) == len(train)
        assert len((labels / "dict.txt").read_text().splitlines()) <= count
        assert (exp / "labels" / name / "dev_other" / "labels.txt").is_file()
    # 4: the iteration-2 labels come from layer 2 of iteration 1
    source = json.loads((exp / "labels" / "iter1_l2_k8" / "train_960" / "source.json").read_text())
    assert source["checkpoint"] == str(exp / "pretrain" / "hubert_iter1") and source["kind"] == "layer2"
    # 3 and 5: two tiny pre-training runs of 2 updates on their own labels
    for name, labels in (("hubert_iter1", "mfcc_k8"), ("hubert", "iter1_l2_k8")):
        summary = json.loads((exp / "pretrain" / name / "summary.json").read_text())
        assert (summary["updates"], summary["world_size"], summary["device"]) == (2, 1, "cpu")
        config = yaml.safe_load((exp / "pretrain" / name / "config.yaml").read_text())
        assert config["model"]["embed_dim"] == 256 and config["objective_config"]["num_classes"] == 8
        assert config["data"]["labels"] == str(exp / "labels" / labels / "train_960")
    # 6: fine-tuning of iteration 2; 7: the official LM; 8: decoding; 9: report
    finetune = exp / "finetune" / "hubert_10m"
    assert json.loads((finetune / "summary.json").read_text())["updates"] == 2
    assert (data / "lm_4gram" / "lm.bin").stat().st_size > 0
    check_decodes(finetune, data)
    rows = json.loads((exp / "results.json").read_text())["rows"]
    assert [(r["name"], r["objective"]) for r in rows] == [("hubert_10m", "hubert")]
    assert sorted(rows[0]["scores"]) == sorted(SPLITS)
    # A re-run of every stage changes nothing and skips everything.
    before = outputs(root)
    start = time.monotonic()
    again = recipe(root, fake_corpus, "--objective", "hubert")
    assert time.monotonic() - start < 90
    assert outputs(root) == before
    assert again.stdout.count("is done, skipping") == 9 + 4 + 3 + 1 + 4  # data dirs, features, runs, LM, decodes
    assert "Stage 9" in again.stdout and "Stage 9" in result.stdout


def test_wav2vec2_stages_0_to_9_beside_hubert(hubert_run, fake_corpus):
    root, _ = hubert_run
    data, exp = root / "data", root / "exp"
    result = recipe(root, fake_corpus, "--objective", "wav2vec2")
    # No labels and a single iteration: stages 2, 4 and 5 do not run.
    assert "Stage 3" in result.stdout and not any(f"Stage {n}:" in result.stdout for n in (2, 4, 5))
    assert sorted(p.name for p in (exp / "labels").iterdir()) == ["iter1_l2_k8", "mfcc_k8"]
    summary = json.loads((exp / "pretrain" / "wav2vec2" / "summary.json").read_text())
    assert summary["updates"] == 2
    config = yaml.safe_load((exp / "pretrain" / "wav2vec2" / "config.yaml").read_text())
    assert config["objective"] == "wav2vec2" and config["data"]["labels"] == ""
    finetune = exp / "finetune" / "wav2vec2_10m"
    assert json.loads((finetune / "summary.json").read_text())["updates"] == 2
    check_decodes(finetune, data)
    rows = json.loads((exp / "results.json").read_text())["rows"]
    assert sorted(r["name"] for r in rows) == ["hubert_10m", "wav2vec2_10m"]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_stage_3_under_torchrun_with_two_cpu_processes(hubert_run, fake_corpus, tmp_path):
    root, _ = hubert_run
    exp = tmp_path / "exp"
    result = recipe(root, fake_corpus, "--objective", "wav2vec2", "--stage", "3", "--stop-stage", "3",
                    "--ngpu", "2", "--master-port", str(_free_port()), "--exp", str(exp))
    summary = json.loads((exp / "pretrain" / "wav2vec2" / "summary.json").read_text())
    assert (summary["world_size"], summary["updates"], summary["device"]) == (2, 2, "cpu")
    assert (exp / "pretrain" / "wav2vec2" / "checkpoint_best.safetensors").is_file()


def test_finetune_from_a_converted_checkpoint(hubert_run, fake_corpus, tmp_path):
    """--pretrained: a fairseq-format checkpoint converted with 'speechssl convert' goes into stage 6."""
    from speechssl.convert import native
    from speechssl.convert.common import Converted
    from speechssl.models import build_backbone

    root, _ = hubert_run
    torch.manual_seed(0)
    model = build_backbone("tiny")
    native.write(Converted(model.config, model.state_dict()), tmp_path / "ours")
    assert main(["convert", "--from", "speechssl", "--to", "fairseq", str(tmp_path / "ours"),
                 str(tmp_path / "official.pt")]) == 0
    converted = tmp_path / "official_base"
    assert main(["convert", "--from", "fairseq", "--to", "speechssl", str(tmp_path / "official.pt"),
                 str(converted)]) == 0
    exp = tmp_path / "exp"
    result = recipe(root, fake_corpus, "--pretrained", str(converted), "--stage", "2", "--stop-stage", "8",
                    "--exp", str(exp))
    assert not any(f"Stage {n}:" in result.stdout for n in (2, 3, 4, 5))
    finetune = exp / "finetune" / "official_base_10m"
    assert json.loads((finetune / "summary.json").read_text())["updates"] == 2
    tuned = load_file(finetune / "checkpoint_best.safetensors")
    name = next(k for k in tuned if "feature_encoder" in k and k.endswith("conv.weight"))
    start = model.state_dict()[name.removeprefix("backbone.")]
    assert torch.equal(tuned[name], start)  # frozen feature encoder: the converted weights themselves
    check_decodes(finetune, root / "data")
