"""``speechssl convert`` end to end, config overrides and one-line errors."""

import torch
from tiny_models import make_ours

from speechssl.cli.main import main
from speechssl.convert import native, read_checkpoint
from speechssl.convert.common import Converted


def test_cli_converts_through_every_format(tmp_path, capsys):
    model = make_ours(conv_norm="layer_norm", conv_bias=True, layer_norm_first=True)
    native.write(Converted(model.config, model.state_dict()), tmp_path / "ours")
    chain = [
        ("speechssl", "hf", "ours", "hf"),
        ("hf", "torchaudio", "hf", "ta"),
        ("torchaudio", "fairseq", "ta", "fs.pt"),
        ("fairseq", "speechssl", "fs.pt", "back"),
    ]
    for src, dst, inp, out in chain:
        assert main(["convert", "--from", src, "--to", dst, str(tmp_path / inp), str(tmp_path / out)]) == 0
    back, reloaded = read_checkpoint("speechssl", tmp_path / "back")
    assert back.config == model.config
    assert all(torch.equal(v, reloaded.state_dict()[k]) for k, v in model.state_dict().items())


def test_cli_overrides_and_errors(tmp_path, capsys):
    model = make_ours()
    native.write(Converted(model.config, model.state_dict()), tmp_path / "ours")
    args = ["convert", "--from", "speechssl", "--to", "speechssl", "--set", "layerdrop=0.2"]
    assert main(args + [str(tmp_path / "ours"), str(tmp_path / "out")]) == 0
    assert read_checkpoint("speechssl", tmp_path / "out")[0].config.layerdrop == 0.2
    assert main(args[:5] + ["--set", "num_layers=3", str(tmp_path / "ours"), str(tmp_path / "bad")]) == 1
    assert "weights do not match the model config" in capsys.readouterr().err
    assert main(args[:5] + [str(tmp_path / "nowhere"), str(tmp_path / "bad")]) == 1
    assert "expected a folder with model.safetensors" in capsys.readouterr().err
