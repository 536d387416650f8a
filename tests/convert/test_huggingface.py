"""Hugging Face layout: our export loads into torchaudio's HF-equivalent modules with identical
outputs, HF-native configs map to ours, prefixes and weight-norm spellings are accepted."""

import dataclasses
import json
from types import SimpleNamespace

import pytest
import torch
from safetensors.torch import load_file
from tiny_models import make_ours
from torchaudio.models import wav2vec2_model
from torchaudio.models.wav2vec2.utils.import_huggingface import _get_config

from speechssl.convert import convert, huggingface, read_checkpoint
from speechssl.convert.common import Converted, write_safetensors


def _sub_state(state: dict, prefix: str) -> dict:
    return {k[len(prefix) :]: v for k, v in state.items() if k.startswith(prefix)}


@pytest.mark.parametrize("mode,pre_ln", [("group_norm", False), ("layer_norm", True)])
def test_hf_export_loads_like_transformers_would(tmp_path, audio, mode, pre_ln):
    model = make_ours(conv_norm=mode, layer_norm_first=pre_ln)
    huggingface.write(Converted(model.config, model.state_dict()), tmp_path, model_type="hubert")
    values = json.loads((tmp_path / "config.json").read_text())
    assert values["architectures"] == ["HubertModel"]
    # torchaudio's HF importer copies these three sub-modules verbatim from a transformers model.
    theirs = wav2vec2_model(**_get_config(SimpleNamespace(**values)), aux_num_out=None).eval()
    state = load_file(tmp_path / "model.safetensors")
    theirs.feature_extractor.load_state_dict(_sub_state(state, "feature_extractor."))
    theirs.encoder.feature_projection.load_state_dict(_sub_state(state, "feature_projection."))
    theirs.encoder.transformer.load_state_dict(_sub_state(state, "encoder."))
    with torch.no_grad():
        assert (theirs(audio)[0] - model(audio)[0].output).abs().max() < 1e-4
    assert torch.equal(state["masked_spec_embed"], model.mask_embedding)


@pytest.mark.parametrize(
    "changes", [{}, {"conv_norm": "layer_norm", "pos_conv_depth": 5, "pos_conv_width": 95}]
)
def test_hf_native_config_and_prefixed_weights(tmp_path, changes):
    model = make_ours(**changes)
    huggingface.write(Converted(model.config, model.state_dict()), tmp_path)
    values = json.loads((tmp_path / "config.json").read_text())
    expected_type = "data2vec-audio" if changes else "wav2vec2"
    assert values["model_type"] == expected_type
    del values[huggingface.OURS_KEY]  # as a config.json from the Hub
    # HF data2vec configs have no single-conv kernel, so that unused field keeps its default.
    expected = dataclasses.replace(model.config, pos_conv_kernel=128) if changes else model.config
    assert huggingface.config_from_hf(values, "config.json") == expected
    # A ForCTC checkpoint: prefixed keys, parametrized weight norm, a CTC head.
    state = load_file(tmp_path / "model.safetensors")
    prefix = "data2vec_audio." if changes else "wav2vec2."
    renamed = {
        prefix
        + k.replace("conv.weight_g", "conv.parametrizations.weight.original0").replace(
            "conv.weight_v", "conv.parametrizations.weight.original1"
        ): v
        for k, v in state.items()
    }
    renamed["lm_head.weight"] = torch.zeros(4, 64)
    write_safetensors(renamed, tmp_path / "model.safetensors")
    (tmp_path / "config.json").write_text(json.dumps(values))
    converted, loaded = read_checkpoint("hf", tmp_path)
    assert converted.ignored == ["lm_head.weight"]
    assert all(torch.equal(v, loaded.state_dict()[k]) for k, v in model.state_dict().items())


def test_round_trip_is_exact_and_bad_inputs_fail(tmp_path):
    model = make_ours(feature_grad_mult=0.0, dropout_features=0.3)
    converted = Converted(model.config, model.state_dict())
    huggingface.write(converted, tmp_path / "hf")
    convert("hf", "speechssl", tmp_path / "hf", tmp_path / "back")
    back, reloaded = read_checkpoint("speechssl", tmp_path / "back")
    assert back.config == model.config
    assert all(torch.equal(v, reloaded.state_dict()[k]) for k, v in model.state_dict().items())
    with pytest.raises(ValueError, match="does not match pos_conv_depth"):
        huggingface.write(converted, tmp_path / "x", model_type="data2vec-audio")
    with pytest.raises(ValueError, match="only gelu"):
        huggingface.config_from_hf({"hidden_act": "relu"}, "config.json")
    with pytest.raises(FileNotFoundError, match="config.json"):
        read_checkpoint("hf", tmp_path / "missing")
