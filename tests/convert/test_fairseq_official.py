"""Official fairseq checkpoints without fairseq: the architecture comes from their pickled omegaconf
``cfg`` / argparse ``args`` (read by a restricted unpickler), nothing else in the pickle runs, and a
bare state dict that does not state an architecture value is refused, never guessed."""

from __future__ import annotations

import os

import pytest
import torch
from fairseq_files import checkpoint, fairseq_state, install_fake_fairseq, namespace_args, structured_cfg
from omegaconf import OmegaConf
from tiny_models import CONV, make_ours

from speechssl.cli.main import main
from speechssl.convert import read_checkpoint

VARIANTS = {
    "wav2vec2": dict(),
    "hubert": dict(conv_norm="layer_norm", conv_bias=True, layer_norm_first=True, normalize_waveform=True),
    # pos_conv_kernel is unused by the stack: BASE's value, which the reader also leaves.
    "data2vec_audio": dict(
        conv_norm="layer_norm",
        pos_conv_depth=3,
        pos_conv_width=15,
        pos_conv_kernel=128,
        normalize_waveform=True,
    ),
}


def _same_outputs(loaded: torch.nn.Module, model: torch.nn.Module, audio: torch.Tensor) -> None:
    loaded.eval()
    with torch.no_grad():
        assert (loaded(audio)[0].output - model(audio)[0].output).abs().max() < 1e-6


@pytest.mark.parametrize("name", sorted(VARIANTS))
def test_omegaconf_cfg_gives_the_architecture(tmp_path, monkeypatch, audio, name):
    model = make_ours(dropout=0.05, layerdrop=0.1, feature_grad_mult=0.1, **VARIANTS[name])
    with monkeypatch.context() as patch:
        install_fake_fairseq(patch)
        cfg = structured_cfg(model.config, name)
        extra = {"label_embs_concat": torch.zeros(3, 8)} if name == "hubert" else {}
        torch.save(checkpoint({**fairseq_state(model), **extra}, cfg=cfg), tmp_path / f"{name}.pt")
    with pytest.raises(Exception):
        torch.load(tmp_path / f"{name}.pt", weights_only=True)  # what the converter could not read
    converted, loaded = read_checkpoint("fairseq", tmp_path / f"{name}.pt")
    assert converted.config == model.config  # num_heads 4, pre-LN, normalisation: from the cfg
    _same_outputs(loaded, model, audio)


def test_legacy_namespace_args_in_the_old_serialization(tmp_path, audio):
    model = make_ours(layer_norm_first=True)
    saved = checkpoint(fairseq_state(model), args=namespace_args(model.config))
    torch.save(saved, tmp_path / "wav2vec_small.pt", _use_new_zipfile_serialization=False)
    converted, loaded = read_checkpoint("fairseq", tmp_path / "wav2vec_small.pt")
    assert converted.config == model.config
    _same_outputs(loaded, model, audio)


def test_fine_tuned_checkpoint_reads_w2v_args_and_its_dropouts(tmp_path, monkeypatch, audio):
    model = make_ours()
    with monkeypatch.context() as patch:
        install_fake_fairseq(patch)
        inner = structured_cfg(model.config)
        finetuned = {"_name": "wav2vec_ctc", "w2v_args": inner, "dropout": 0.0, "layerdrop": 0.2}
        cfg = OmegaConf.create({"model": {**finetuned, "feature_grad_mult": 0.0}, "task": {}})
        state = fairseq_state(model, "w2v_encoder.w2v_model.")
        state["w2v_encoder.proj.weight"] = torch.zeros(30, 64)
        torch.save(checkpoint(state, cfg=cfg), tmp_path / "ft.pt")
    converted, loaded = read_checkpoint("fairseq", tmp_path / "ft.pt")
    config = converted.config
    assert (config.dropout, config.layerdrop, config.feature_grad_mult) == (0.0, 0.2, 0.0)
    assert config.num_heads == 4 and converted.ignored == ["w2v_encoder.proj.weight"]
    _same_outputs(loaded, model, audio)


def test_cfg_without_heads_names_the_set_that_supplies_them(tmp_path):
    model = make_ours()
    cfg = OmegaConf.create({"model": {"_name": "wav2vec2", "conv_feature_layers": str(CONV),
                                      "layer_norm_first": False}, "task": {"normalize": False}})  # fmt: skip
    torch.save(checkpoint(fairseq_state(model), cfg=cfg), tmp_path / "fs.pt")
    expected = r"does not state num_heads \(weights cannot tell\): pass --set num_heads=N"
    with pytest.raises(ValueError, match=expected):
        read_checkpoint("fairseq", tmp_path / "fs.pt")
    converted, _ = read_checkpoint("fairseq", tmp_path / "fs.pt", overrides=["num_heads=4"])
    assert converted.config.num_heads == 4


def test_bare_state_dict_is_not_guessed(tmp_path, capsys):
    model = make_ours()
    torch.save(fairseq_state(model), tmp_path / "bare.pt")  # the old advice: torch.save(c['model'])
    status = main(["convert", "--from", "fairseq", "--to", "speechssl", str(tmp_path / "bare.pt"), str(tmp_path)])
    error = capsys.readouterr().err.strip()
    assert status == 1 and "\n" not in error and not (tmp_path / "model.safetensors").exists()
    for option in ("num_heads=N", "layer_norm_first=true|false", "normalize_waveform=true|false", "conv_layers="):
        assert f"--set {option}" in error


class _Payload:
    """Runs ``touch MARKER`` when unpickled by an unrestricted unpickler."""

    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


def test_code_in_the_pickle_never_runs(tmp_path, monkeypatch, capsys):
    model = make_ours()
    marker = tmp_path / "ran"
    with monkeypatch.context() as patch:
        install_fake_fairseq(patch)
        saved = checkpoint(fairseq_state(model), cfg=structured_cfg(model.config))
        saved["extra_state"]["hook"] = _Payload(str(marker))
        torch.save(saved, tmp_path / "evil.pt")
    status = main(["convert", "--from", "fairseq", "--to", "speechssl", str(tmp_path / "evil.pt"), str(tmp_path)])
    error = capsys.readouterr().err.strip()
    assert status == 1 and "\n" not in error and "refused global posix.system" in error
    assert not marker.exists() and not (tmp_path / "model.safetensors").exists()
