"""The alignment-based probe tasks: ABX per layer (``abx``) and frame phone classification
(``pc``) find the one informative layer of a synthetic upstream; result.json round trips; the CLI
runs both on the smoke corpus."""

from __future__ import annotations

import dataclasses
import json
import math
import time

import pytest
import torch
from synthetic import aligned_upstream

from speechssl.cli.main import main
from speechssl.config import from_dict
from speechssl.data.phones import frame_phone_labels, write_phone_alignments
from speechssl.io.kaldi_dir import write_table
from speechssl.probe.evaluate import compute_emissions, split_scores
from speechssl.probe.job import ProbeConfig, ProbeResult, run_probe
from speechssl.probe.layer_abx import layer_abx
from speechssl.probe.losses import frame_cross_entropy
from speechssl.probe.tasks import FramePhoneClassification, TaskTargets
from speechssl.probe.train import ProbeModel, TrainSettings, train_probe
from speechssl.text.arpabet import PHONE_INDEX

RATE = 50.0


def _data_dir(path, alignments, speakers, unaligned=()):
    path.mkdir(parents=True)
    write_phone_alignments(path, {u: s for u, s in alignments.items() if u not in unaligned})
    write_table(path / "utt2spk", speakers)
    return path


def test_abx_finds_the_phone_layer_and_counts_unaligned_utterances(tmp_path):
    hidden, alignments, speakers = aligned_upstream(utts=6, phones_per_utt=30, num_layers=5, informative=2)
    data = _data_dir(tmp_path / "dev", alignments, speakers, unaligned=("spk1-0003",))
    start = time.perf_counter()
    scored = layer_abx(hidden, RATE, data)
    assert time.perf_counter() - start < 20
    assert [row["layer"] for row in scored.layers] == [0, 1, 2, 3, 4] and scored.best_layer == 2
    best = scored.layers[2]
    assert best["abx_within"] < 0.02 and best["abx_across"] < 0.02, best
    for row in scored.layers[:2] + scored.layers[3:]:  # noise layers sit at chance
        assert abs(row["abx_within"] - 0.5) < 0.1 and abs(row["abx_across"] - 0.5) < 0.1, row
    assert (scored.counts["utterances"], scored.counts["unaligned_utts"]) == (17, 1)


def test_abx_without_any_triplet_is_a_one_line_error(tmp_path):
    hidden, alignments, speakers = aligned_upstream(num_speakers=1, utts=1, phones_per_utt=3)
    data = _data_dir(tmp_path / "dev", alignments, speakers)
    with pytest.raises(ValueError, match="no ABX triplet could be formed"):
        layer_abx(hidden, RATE, data)


def test_frame_labels_cross_entropy_and_frame_error(tmp_path):
    hidden, alignments, speakers = aligned_upstream(num_speakers=1, utts=2)
    data = _data_dir(tmp_path / "train", alignments, speakers, unaligned=("spk0-0001",))
    frames = {u: h.shape[1] for u, h in hidden.items()}
    found = FramePhoneClassification().targets(data, frames, RATE)
    assert found.skipped == ["spk0-0001"] and list(found.targets) == ["spk0-0000"]
    labels = found.targets["spk0-0000"]
    assert len(labels) == frames["spk0-0000"] and labels[0] == PHONE_INDEX["SIL"]
    assert labels == frame_phone_labels(alignments["spk0-0000"], len(labels), RATE).tolist()
    # a perfect and a uniform prediction: cross-entropy 0 and log(40); the padded frame is ignored
    perfect = torch.full((1, len(labels) + 1, 40), -1e4)
    perfect[0, torch.arange(len(labels)), torch.tensor(labels)] = 0.0
    lengths = torch.tensor([len(labels)])
    assert float(frame_cross_entropy(perfect, lengths, [labels])) == pytest.approx(0.0)
    uniform = torch.full_like(perfect, -math.log(40))
    assert float(frame_cross_entropy(uniform, lengths, [labels])) == pytest.approx(math.log(40))
    with pytest.raises(ValueError, match="frame labels for"):
        frame_cross_entropy(perfect, lengths, [labels[:-1]])
    task = FramePhoneClassification()
    half = perfect[0, : len(labels)].clone()
    half[: len(labels) // 2] = perfect[0, : len(labels) // 2].roll(1, dims=-1)  # first half wrong
    scores = split_scores(task, {"spk0-0000": half}, TaskTargets(targets={"spk0-0000": labels}), "dev")
    assert scores == {"frame_error": pytest.approx((len(labels) // 2) / len(labels))}


def test_pc_finds_the_informative_layer(tmp_path):
    hidden, alignments, speakers = aligned_upstream(num_speakers=4, utts=5, informative=3, noise=1.0)
    data = _data_dir(tmp_path / "train", alignments, speakers)
    task = FramePhoneClassification()
    found = task.targets(data, {u: h.shape[1] for u, h in hidden.items()}, RATE)
    train = {u: found.targets[u] for u in sorted(found.targets) if not u.startswith("spk3")}
    held_out = TaskTargets(targets={u: found.targets[u] for u in found.targets if u.startswith("spk3")})
    torch.manual_seed(0)
    model = ProbeModel(5, 16, task)
    settings = TrainSettings(max_updates=200, lr=3e-2, batch_size=8, seed=0, log_every=100)
    train_probe(model, hidden, train, settings, tmp_path / "progress.jsonl")
    weights = model.featurizer.layer_weights()
    assert weights[3] > 0.8, weights  # measured 0.84
    emissions = compute_emissions(model, hidden, sorted(held_out.targets))
    scores = split_scores(task, emissions, held_out, "dev")
    assert scores["frame_error"] < 0.1, scores  # measured 0.041


def test_result_json_round_trips_with_layers(tmp_path):
    record = ProbeResult(upstream="fbank", task="abx", metric="abx_across", value=0.25,
                         scores={"dev": {"abx_within": 0.1, "abx_across": 0.25}},
                         layers=[{"layer": 0, "abx_within": 0.1, "abx_across": 0.25}], best_layer=0,
                         abx_counts={"utterances": 3, "unaligned_utts": 1})
    text = json.dumps(dataclasses.asdict(record))
    assert from_dict(ProbeResult, json.loads(text), where="result.json") == record


def _probe(corpus, tmp_path, task, out, *extra, upstream="fbank", dev="pretrain"):
    """Probe argv; dev is the smoke pretrain split (12 aligned utterances of 3 speakers: the dev
    split's 2 aligned utterances of one speaker form no ABX triplet)."""
    return ["probe", "--upstream", upstream, "--task", task, "--train", str(corpus / "train"),
            "--dev", str(corpus / dev), "--features-root", str(tmp_path / "features"),
            "--out", str(tmp_path / out), *extra]


def test_cli_runs_abx_and_pc_on_the_smoke_corpus(smoke_corpus, small_model_yaml, tmp_path, capsys):
    assert main(_probe(smoke_corpus, tmp_path, "pc", "pc", "--max-updates", "20")) == 0
    pc = json.loads((tmp_path / "pc" / "result.json").read_text())
    assert (pc["task"], pc["metric"], pc["updates"]) == ("pc", "frame_error", 20)
    assert 0 < pc["value"] == pc["scores"]["dev"]["frame_error"] < 1
    assert (pc["utterances"], pc["skipped"]) == ({"train": 2, "dev": 12}, {"train": 4, "dev": 12})
    features = tmp_path / "features" / "fbank" / "pretrain" / "0_1.npy"
    dumped_at = features.stat().st_mtime_ns
    assert main(_probe(smoke_corpus, tmp_path, "abx", "abx")) == 0
    printed = capsys.readouterr().out
    abx = json.loads((tmp_path / "abx" / "result.json").read_text())
    assert features.stat().st_mtime_ns == dumped_at  # the cached dev features were reused
    assert (abx["task"], abx["metric"], abx["updates"], abx["best_layer"]) == ("abx", "abx_across", 0, 0)
    assert [row["layer"] for row in abx["layers"]] == [0] and set(abx["features"]) == {"dev"}
    assert 0 < abx["value"] == abx["scores"]["dev"]["abx_across"] == abx["layers"][0]["abx_across"] < 0.5
    assert (abx["utterances"], abx["skipped"]) == ({"dev": 12}, {"dev": 12}) and "best layer 0" in printed
    random = _probe(smoke_corpus, tmp_path, "abx", "random-abx", "--model-config", str(small_model_yaml),
                    upstream="random")
    assert main(random) == 0
    layers = json.loads((tmp_path / "random-abx" / "result.json").read_text())["layers"]
    assert [row["layer"] for row in layers] == [0, 1, 2]
    assert main(_probe(smoke_corpus, tmp_path, "abx", "one-speaker", dev="dev")) == 1
    assert "dev: no ABX triplet could be formed" in capsys.readouterr().err
