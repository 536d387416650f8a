"""The ASR probe: the BiLSTM head learns, and greedy and KenLM beam-search scores come out."""

from __future__ import annotations

import pytest
import torch
from synthetic import phone_upstream

from speechssl.probe.job import ProbeConfig, run_probe
from speechssl.probe.tasks import LetterRecognition
from speechssl.probe.losses import ctc_loss
from speechssl.probe.train import ProbeModel, TrainSettings, pad_hidden, train_probe


def test_bilstm_head_loss_falls(tmp_path):
    hidden, targets, _ = phone_upstream(32, num_layers=3, informative=1, seed=1)
    task = LetterRecognition(hidden_size=32)
    letters = {utt: [p % (task.vocab_size - 1) + 1 for p in ids] for utt, ids in targets.items()}
    torch.manual_seed(0)
    model = ProbeModel(3, 16, task)
    utts = sorted(letters)

    def loss_on_all() -> float:
        x, lengths = pad_hidden([hidden[u] for u in utts])
        model.eval()
        with torch.no_grad():
            return float(ctc_loss(model(x, lengths), lengths, [letters[u] for u in utts]))

    before = loss_on_all()
    settings = TrainSettings(max_updates=60, lr=1e-2, batch_size=8, seed=0, log_every=20)
    records = train_probe(model, hidden, letters, settings, tmp_path / "progress.jsonl")
    after = loss_on_all()
    assert after < 0.6 * before, (before, after)
    assert records[-1]["loss"] < records[0]["loss"]


def test_asr_probe_scores_greedy_and_with_the_lm(smoke_corpus, smoke_lm, tmp_path):
    config = ProbeConfig(upstream="fbank", task="asr", train=str(smoke_corpus / "train"),
                         dev=str(smoke_corpus / "dev"), features_root=str(tmp_path / "features"),
                         out=str(tmp_path / "asr"), max_updates=5, lm=str(smoke_lm), asr_hidden_size=32,
                         lm_weights=[0.0, 1.0], word_scores=[0.0], beam_size=5)
    result = run_probe(config)
    assert (result.task, result.metric, result.lr) == ("asr", "cer", 1e-3)
    assert result.utterances["train"] == 6 and result.skipped["train"] == 0  # letters need no CMUdict
    assert set(result.scores["dev"]) == {"cer", "wer", "cer_lm", "wer_lm"}
    assert result.value == result.scores["dev"]["cer"]
    assert result.lm["lm_weight"] in (0.0, 1.0) and len(result.lm["trials"]) == 2
    assert result.scores["dev"]["wer_lm"] == pytest.approx(result.lm["dev_wer"])
