"""HF export against transformers itself: a HuBERT model exports as ``HubertModel`` by default (the
objective declares it), and a pre-LN model's top-layer dump is offered before the final LayerNorm
(fairseq) or after it (HF's ``last_hidden_state``)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
import transformers
from fairseq_files import checkpoint, fairseq_state, install_fake_fairseq, structured_cfg
from tiny_models import make_ours

from speechssl.cli.main import main
from speechssl.config import save_config, to_dict
from speechssl.convert import read_checkpoint
from speechssl.features.layer_features import LayerExtractor, LayerFeatureConfig, load_backbone
from speechssl.train.checkpoint import save_checkpoint


def _run_folder(tmp_path, model, objective: str):
    """A pre-training run folder as ``speechssl pretrain`` leaves it (objective heads included)."""
    weights = {f"backbone.{k}": v for k, v in model.state_dict().items()}
    weights["final_proj.weight"] = torch.zeros(8, 64)
    folder = tmp_path / objective
    save_checkpoint(folder, "checkpoint_10", weights, {"num_updates": 10})
    save_config({"objective": objective, "model": to_dict(model.config)}, folder / "config.yaml")
    return folder


def _export(source, out, *options) -> dict:
    assert main(["convert", "--from", "speechssl", "--to", "hf", *options, str(source), str(out)]) == 0
    return json.loads((out / "config.json").read_text())


def test_hubert_exports_as_hubert_and_matches_transformers(tmp_path, audio):
    model = make_ours(conv_norm="layer_norm", conv_bias=True, layer_norm_first=True)
    run = _run_folder(tmp_path, model, "hubert")
    values = _export(run, tmp_path / "hf")
    assert values["model_type"] == "hubert" and values["architectures"] == ["HubertModel"]
    assert _export(run, tmp_path / "w2v", "--hf-model-type", "wav2vec2")["model_type"] == "wav2vec2"
    theirs = transformers.AutoModel.from_pretrained(tmp_path / "hf").eval()
    assert type(theirs).__name__ == "HubertModel"
    with torch.no_grad():
        assert (theirs(audio).last_hidden_state - model(audio)[0].output).abs().max() < 1e-5
    converted, _ = read_checkpoint("hf", tmp_path / "hf")
    assert converted.objective == "hubert"
    argv = ["convert", "--from", "hf", "--to", "speechssl", str(tmp_path / "hf"), str(tmp_path / "ours")]
    assert main(argv) == 0
    assert _export(tmp_path / "ours", tmp_path / "hf2")["model_type"] == "hubert"  # kept through our format


def test_fairseq_hubert_exports_as_hubert(tmp_path, monkeypatch):
    model = make_ours()
    with monkeypatch.context() as patch:
        install_fake_fairseq(patch)
        cfg = structured_cfg(model.config, "hubert")
        torch.save(checkpoint(fairseq_state(model), cfg=cfg), tmp_path / "hubert.pt")
    argv = ["convert", "--from", "fairseq", "--to", "hf", str(tmp_path / "hubert.pt"), str(tmp_path / "hf")]
    assert main(argv) == 0
    assert json.loads((tmp_path / "hf" / "config.json").read_text())["model_type"] == "hubert"


def test_pre_ln_top_layer_before_or_after_the_final_norm_against_transformers(tmp_path, audio):
    model = make_ours(conv_norm="layer_norm", layer_norm_first=True)
    run = _run_folder(tmp_path, model, "wav2vec2")
    _export(run, tmp_path / "hf")
    theirs = transformers.AutoModel.from_pretrained(tmp_path / "hf").eval()
    with torch.no_grad():
        hf = theirs(audio, output_hidden_states=True)
    backbone = load_backbone(run)
    samples = [row.numpy().astype(np.float32) for row in audio]

    def dump(layer: int, final_norm: bool) -> np.ndarray:
        extractor = LayerExtractor(backbone, LayerFeatureConfig(layer=layer, final_norm=final_norm))
        return np.stack(extractor.extract(samples))

    top = model.config.num_layers
    np.testing.assert_allclose(dump(top, True), hf.last_hidden_state.numpy(), atol=1e-5)
    assert np.abs(dump(top, False) - hf.last_hidden_state.numpy()).max() > 1e-2  # before the LayerNorm
    np.testing.assert_allclose(dump(1, False), hf.hidden_states[1].numpy(), atol=1e-5)
    with pytest.raises(ValueError, match="--final-norm applies to the top layer only"):
        LayerExtractor(backbone, LayerFeatureConfig(layer=1, final_norm=True))
