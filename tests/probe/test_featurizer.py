"""The weighted layer sum: shapes, equal start, normalisation, and finding the informative layer."""

from __future__ import annotations

import json

import pytest
import torch
from synthetic import phone_upstream

from speechssl.probe.evaluate import compute_emissions, greedy_hypotheses, greedy_scores
from speechssl.probe.featurizer import WeightedLayerSum, save_layer_weights
from speechssl.probe.tasks import PhoneRecognition
from speechssl.probe.train import ProbeModel, TrainSettings, train_probe


def test_weighted_sum_starts_equal_and_normalises_each_layer():
    featurizer = WeightedLayerSum(3)
    assert featurizer.layer_weights() == pytest.approx([1 / 3] * 3)
    hidden = torch.randn(3, 2, 7, 8) * torch.tensor([1.0, 10.0, 100.0])[:, None, None, None] + 5.0
    out = featurizer(hidden)
    assert out.shape == (2, 7, 8)
    expected = sum(torch.nn.functional.layer_norm(h, (8,)) for h in hidden) / 3
    assert torch.allclose(out, expected, atol=1e-5)
    raw = WeightedLayerSum(3, normalize=False)(hidden)
    assert torch.allclose(raw, hidden.mean(0), atol=1e-4)
    with pytest.raises(ValueError, match="expected 3 layers, got 2"):
        featurizer(hidden[:2])


def test_probe_finds_the_informative_layer_and_reads_its_phones(tmp_path):
    hidden, targets, references = phone_upstream(80, num_layers=5, informative=2, seed=0)
    train = {u: targets[u] for u in sorted(targets)[:64]}
    held_out = sorted(targets)[64:]
    task = PhoneRecognition()
    torch.manual_seed(0)
    model = ProbeModel(5, 16, task)
    settings = TrainSettings(max_updates=400, lr=1e-2, batch_size=16, seed=0, log_every=100)
    records = train_probe(model, hidden, train, settings, tmp_path / "progress.jsonl")
    weights = model.featurizer.layer_weights()
    assert weights[2] > 0.8, weights
    assert records[-1]["loss"] < 0.5 * records[0]["loss"]
    emissions = compute_emissions(model, hidden, held_out)
    scores = greedy_scores(task, greedy_hypotheses(emissions, task), {u: references[u] for u in held_out}, "dev")
    assert scores["per"] < 0.10, scores
    assert len((tmp_path / "progress.jsonl").read_text().splitlines()) == 4


def test_layer_weights_are_saved_as_json_and_png(tmp_path):
    json_path, png_path = save_layer_weights([0.1, 0.7, 0.2], tmp_path, "model pr seed 1")
    record = json.loads(json_path.read_text())
    assert record["weights"] == [0.1, 0.7, 0.2] and record["layers"] == [0, 1, 2]
    assert png_path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
