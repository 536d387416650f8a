"""fairseq layout: our export loads into torchaudio through torchaudio's own fairseq key mapping,
reading takes shapes from the weights and the rest from what is stated, round trips are exact,
pickled objects other than fairseq's configs are refused."""

import pytest
import torch
from tiny_models import make_ours
from torchaudio.models import wav2vec2_model
from torchaudio.models.wav2vec2.utils.import_fairseq import _convert_state_dict

from speechssl.convert import convert, fairseq, native, read_checkpoint
from speechssl.convert.common import Converted
from speechssl.convert.torchaudio_format import torchaudio_kwargs


@pytest.mark.parametrize("mode,pre_ln", [("group_norm", False), ("layer_norm", True)])
def test_fairseq_export_matches_torchaudio_import(tmp_path, audio, mode, pre_ln):
    model = make_ours(conv_norm=mode, layer_norm_first=pre_ln)
    fairseq.write(Converted(model.config, model.state_dict()), tmp_path / "w2v.pt")
    checkpoint = torch.load(tmp_path / "w2v.pt", weights_only=True)
    theirs = wav2vec2_model(**torchaudio_kwargs(model.config)).eval()
    theirs.load_state_dict(_convert_state_dict(checkpoint["model"]))
    with torch.no_grad():
        assert (theirs(audio)[0] - model(audio)[0].output).abs().max() < 1e-4


@pytest.mark.parametrize(
    "changes", [{}, {"conv_norm": "layer_norm", "pos_conv_depth": 3, "pos_conv_width": 15}]
)
def test_round_trip_is_exact(tmp_path, changes):
    model = make_ours(**changes)
    native.write(Converted(model.config, model.state_dict()), tmp_path / "ours")
    convert("speechssl", "fairseq", tmp_path / "ours", tmp_path / "model.pt")
    convert("fairseq", "speechssl", tmp_path / "model.pt", tmp_path / "back")
    back, reloaded = read_checkpoint("speechssl", tmp_path / "back")
    assert back.config == model.config
    assert all(torch.equal(v, reloaded.state_dict()[k]) for k, v in model.state_dict().items())


def test_plain_fairseq_state_dict_infers_config_and_ignores_heads(tmp_path):
    model = make_ours(conv_norm="layer_norm", conv_bias=True, layer_norm_first=True)
    state = fairseq.key_table("layer_norm", 1).export(model.state_dict()).state
    state = {f"w2v_encoder.w2v_model.{k}": v for k, v in state.items()}
    state["w2v_encoder.proj.weight"] = torch.zeros(5, 64)
    state["quantizer.vars"] = torch.zeros(1, 10, 8)
    torch.save({"model": state}, tmp_path / "ft.pt")
    overrides = [
        f"conv_layers={model.config.conv_layers}",
        "num_heads=4",
        "layer_norm_first=true",
        "normalize_waveform=false",
    ]
    converted, loaded = read_checkpoint("fairseq", tmp_path / "ft.pt", overrides=overrides)
    config = converted.config
    assert config.layer_norm_first and config.conv_bias and config.conv_norm == "layer_norm"
    assert (config.embed_dim, config.num_layers, config.ffn_dim, config.pos_conv_kernel) == (64, 2, 128, 16)
    assert config.pos_conv_groups == 4 and config.num_heads == 4
    assert sorted(converted.ignored) == ["quantizer.vars", "w2v_encoder.proj.weight"]
    loaded.eval()
    with torch.no_grad():
        audio = torch.randn(1, 4000)
        assert torch.allclose(loaded(audio)[0].output, model(audio)[0].output, atol=1e-6)


class _PickledConfig:
    """A pickled object of a class that is not a fairseq config."""


def test_pickled_object_is_refused_in_one_line(tmp_path):
    torch.save({"cfg": _PickledConfig(), "model": {}}, tmp_path / "fs.pt")
    with pytest.raises(ValueError, match="fs.pt: refused global .*_PickledConfig; only tensors") as error:
        read_checkpoint("fairseq", tmp_path / "fs.pt")
    assert "\n" not in str(error.value)
