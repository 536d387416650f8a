"""Hidden states: dumped once per (upstream, split) as shards, layer 0 = the Transformer input,
reused without recomputing, refused when made by another upstream."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from speechssl.features.dump import load_utterances
from speechssl.io.audio import read_audio
from speechssl.probe.cache import dump_hidden_states, load_hidden_states
from speechssl.probe.upstreams import FbankHiddenStates, random_upstream


def test_backbone_hidden_states_are_dumped_once_and_reused(smoke_corpus, small_model_yaml, tmp_path, monkeypatch):
    upstream = random_upstream(str(small_model_yaml), seed=3)
    assert (upstream.num_layers, upstream.layer_dim) == (3, 32)
    feat_dir = dump_hidden_states(upstream, smoke_corpus / "train", tmp_path, max_batch_seconds=20.0)
    assert feat_dir == tmp_path / upstream.name / "train"
    hidden = load_hidden_states(feat_dir)
    utts = load_utterances(smoke_corpus / "train")
    assert sorted(hidden) == sorted(u.utt for u in utts)
    # the batched dump equals a forward pass of one utterance alone (padding does not leak in)
    first = utts[0]
    audio = torch.from_numpy(read_audio(first.path))[None]
    alone = upstream.forward_layers(audio, torch.tensor([audio.shape[1]]))[:, 0]
    assert hidden[first.utt].shape == (3, upstream.num_frames(first.num_samples), 32)
    assert torch.allclose(hidden[first.utt], alone, atol=1e-4)
    output, _ = upstream.backbone(audio, output_layers=True)
    assert torch.allclose(alone[-1], output.output[0], atol=1e-5)  # the last layer is the model output
    assert torch.allclose(alone[0].std(-1, unbiased=False), torch.ones(alone.shape[1]), atol=1e-2)  # post-LN input

    def no_recompute(batch):
        raise AssertionError("cached hidden states were recomputed")

    monkeypatch.setattr(upstream, "hidden_states", no_recompute)
    assert dump_hidden_states(upstream, smoke_corpus / "train", tmp_path) == feat_dir
    other = random_upstream(str(small_model_yaml), seed=3)
    other.source = "something else"
    with pytest.raises(ValueError, match="features were dumped from"):
        dump_hidden_states(other, smoke_corpus / "train", tmp_path)


def test_fbank_is_80_bins_with_two_frames_stacked_at_50_hz():
    upstream = FbankHiddenStates()
    assert (upstream.num_layers, upstream.layer_dim, upstream.frame_rate) == (1, 160, 50.0)
    samples = np.random.default_rng(0).standard_normal(16000).astype(np.float32) * 0.1
    (states,) = upstream.hidden_states([samples])
    assert states.shape == (1, 49, 160) == (1, upstream.num_frames(16000), 160)  # 98 frames of 10 ms
    assert np.allclose(states[0].reshape(98, 80).mean(0), 0, atol=1e-4)  # per-utterance CMVN
    assert upstream.extract([samples])[0].shape == (49, 160)
