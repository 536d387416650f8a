"""Layer features: checkpoint loading, batched dump == one-utterance forward, 1-based layers."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from safetensors.torch import save_file

from speechssl.config import save_config, to_dict
from speechssl.features.dump import dump_shard
from speechssl.features.layer_features import LayerExtractor, LayerFeatureConfig, load_backbone
from speechssl.features.shards import open_shard
from speechssl.io.audio import read_audio
from speechssl.io.kaldi_dir import DataDir
from speechssl.models import build_backbone, load_backbone_config
from speechssl.train.checkpoint import save_checkpoint

TINY = ["num_layers=2", "embed_dim=32", "num_heads=2", "ffn_dim=64", "pos_conv_kernel=16",
        "pos_conv_groups=4", "conv_layers=[[16,10,5],[16,3,2],[16,3,2],[16,3,2],[16,3,2],[16,2,2],[16,2,2]]"]


@pytest.fixture
def checkpoint(tmp_path):
    """A pre-training folder: checkpoint_best.safetensors (``backbone.`` prefix) + config.yaml."""
    torch.manual_seed(0)
    config = load_backbone_config("tiny", TINY)
    backbone = build_backbone(config)
    weights = {f"backbone.{k}": v for k, v in backbone.state_dict().items()}
    weights["head.weight"] = torch.zeros(3, 3)  # objective modules are ignored
    folder = tmp_path / "pretrain"
    save_checkpoint(folder, "checkpoint_best", weights, {})
    save_config({"objective": "hubert", "model": to_dict(config)}, folder / "config.yaml")
    return folder, backbone.eval()


def test_batched_layer_dump_equals_single_utterance_forward(audio_dir, tmp_path, checkpoint):
    folder, reference = checkpoint
    # 1.5 s budget: several utterances share a padded batch.
    config = LayerFeatureConfig(layer=2, max_batch_samples=24000)
    extractor = LayerExtractor(load_backbone(folder), config)
    assert (extractor.dim, extractor.frame_rate, extractor.kind) == (32, 50.0, "layer2")
    dump_shard(audio_dir, tmp_path / "feats", 0, 1, extractor, config.max_batch_samples)
    shard = open_shard(tmp_path / "feats", 0, 1)
    wav_scp = DataDir.load(audio_dir).wav_scp
    for utt, feats in shard.utterances():
        audio = torch.from_numpy(read_audio(wav_scp[utt]))[None]
        with torch.no_grad():
            output, _ = reference(audio, torch.tensor([audio.shape[1]]), output_layers=True)
        expected = output.layer_outputs[1][0].numpy()  # layer 2, 1-based
        assert feats.shape == expected.shape
        np.testing.assert_allclose(feats, expected, atol=2e-4)


def test_layer_out_of_range_and_missing_config_are_errors(checkpoint):
    folder, _ = checkpoint
    with pytest.raises(ValueError, match="--layer 3: the model has layers 1..2"):
        LayerExtractor(load_backbone(folder), LayerFeatureConfig(layer=3))
    (folder / "config.yaml").unlink()
    with pytest.raises(FileNotFoundError, match="config.yaml: checkpoint config not found"):
        load_backbone(folder)


def test_converted_model_folder_loads(tmp_path, checkpoint):
    """``speechssl convert`` folders: bare ``model.safetensors`` + the backbone config itself."""
    _, reference = checkpoint
    folder = tmp_path / "converted"
    folder.mkdir()
    save_file({k: v.contiguous() for k, v in reference.state_dict().items()}, str(folder / "model.safetensors"))
    save_config(reference.config, folder / "config.yaml")
    loaded = load_backbone(folder)
    for key, value in reference.state_dict().items():
        torch.testing.assert_close(loaded.state_dict()[key], value)


def test_layer_dump_refuses_nan_audio_and_writes_nothing(audio_dir, tmp_path, checkpoint):
    """A NaN file would give NaN frames: the dump stops naming it, leaving no partial shard."""
    import soundfile

    from speechssl.io.audio import AudioError

    folder, _ = checkpoint
    data = DataDir.load(audio_dir)
    utt = sorted(data.wav_scp)[1]
    samples = read_audio(data.wav_scp[utt])
    samples[7] = np.nan
    data.wav_scp[utt] = str(tmp_path / "nan.wav")
    soundfile.write(data.wav_scp[utt], samples, 16000, subtype="FLOAT")
    data.save(audio_dir)
    extractor = LayerExtractor(load_backbone(folder), LayerFeatureConfig(layer=1))
    with pytest.raises(AudioError, match=rf"utterance '{utt}': .*nan.wav: 1 non-finite sample\(s\) \(NaN"):
        dump_shard(audio_dir, tmp_path / "feats", 0, 1, extractor, 24000)
    assert not (tmp_path / "feats").exists() or not list((tmp_path / "feats").iterdir())
