"""torchaudio Wav2Vec2Model -> ours gives the same outputs; ours -> torchaudio -> ours is exact."""

import json

import pytest
import torch
from tiny_models import VARIANTS, make_ours, make_torchaudio, torchaudio_kwargs
from torchaudio.models import wav2vec2_model

from speechssl.convert import convert, native, read_checkpoint
from speechssl.convert.common import Converted, write_safetensors


def _save_torchaudio(model, kwargs, folder):
    write_safetensors(model.state_dict(), folder / "model.safetensors")
    (folder / "config.json").write_text(json.dumps(kwargs))


@pytest.mark.parametrize("mode,pre_ln", VARIANTS)
def test_torchaudio_model_converts_to_identical_outputs(tmp_path, audio, mode, pre_ln):
    theirs = make_torchaudio(mode, pre_ln)
    _save_torchaudio(theirs, torchaudio_kwargs(mode, pre_ln), tmp_path)
    converted, ours = read_checkpoint("torchaudio", tmp_path)
    assert converted.config.conv_norm == mode and converted.config.layer_norm_first == pre_ln
    ours.eval()
    with torch.no_grad():
        expected, _ = theirs(audio)
        expected_layers = theirs.extract_features(audio)[0]
        out, _ = ours(audio, output_layers=True)
    assert (out.output - expected).abs().max() < 1e-4
    for mine, ref in zip(out.layer_outputs[:-1], expected_layers[:-1]):
        assert (mine - ref).abs().max() < 1e-4


@pytest.mark.parametrize("mode,pre_ln", VARIANTS[:2])
def test_ours_to_torchaudio_loads_in_torchaudio_and_round_trips(tmp_path, audio, mode, pre_ln):
    model = make_ours(conv_norm=mode, conv_bias=True, layer_norm_first=pre_ln, feature_grad_mult=0.5)
    native.write(Converted(model.config, model.state_dict()), tmp_path / "ours")
    convert("speechssl", "torchaudio", tmp_path / "ours", tmp_path / "ta")
    kwargs = json.loads((tmp_path / "ta" / "config.json").read_text())
    theirs = wav2vec2_model(**kwargs).eval()
    from safetensors.torch import load_file

    theirs.load_state_dict(load_file(tmp_path / "ta" / "model.safetensors"))
    with torch.no_grad():
        assert (theirs(audio)[0] - model(audio)[0].output).abs().max() < 1e-4
    back, reloaded = read_checkpoint("torchaudio", tmp_path / "ta")
    assert back.config == model.config
    for key, value in model.state_dict().items():
        assert torch.equal(value, reloaded.state_dict()[key]), key


def test_data2vec_stack_cannot_go_to_torchaudio(tmp_path):
    model = make_ours(conv_norm="layer_norm", pos_conv_depth=2)
    native.write(Converted(model.config, model.state_dict()), tmp_path / "ours")
    with pytest.raises(ValueError, match="no data2vec positional conv stack"):
        convert("speechssl", "torchaudio", tmp_path / "ours", tmp_path / "ta")
