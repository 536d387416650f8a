"""A ``speechssl convert`` output folder probes: its hidden states are the converted model's."""

from __future__ import annotations

import torch
from small_model import small_backbone_config

from speechssl.convert import native
from speechssl.convert.common import Converted
from speechssl.features.dump import load_utterances
from speechssl.io.audio import read_audio
from speechssl.models import build_backbone
from speechssl.probe.cache import load_hidden_states
from speechssl.probe.job import ProbeConfig, run_probe


def test_converted_checkpoint_probes(smoke_corpus, tmp_path):
    torch.manual_seed(5)
    model = build_backbone(small_backbone_config(layer_norm_first=True)).eval()
    native.write(Converted(model.config, model.state_dict()), tmp_path / "conv")
    config = ProbeConfig(upstream=str(tmp_path / "conv"), train=str(smoke_corpus / "train"),
                         dev=str(smoke_corpus / "dev"), features_root=str(tmp_path / "features"),
                         out=str(tmp_path / "probe"), max_updates=10)
    result = run_probe(config)
    assert result.upstream.startswith("conv-") and len(result.layer_weights) == 3
    assert result.scores["dev"]["per"] >= 0.0 and (tmp_path / "probe" / "result.json").is_file()
    hidden = load_hidden_states(result.features["dev"])
    utt = load_utterances(smoke_corpus / "dev")[0]
    audio = torch.from_numpy(read_audio(utt.path))[None]
    with torch.no_grad():
        output, _ = model(audio, output_layers=True)
    assert torch.allclose(hidden[utt.utt][2], output.layer_outputs[-1][0], atol=1e-4)
    # the weights file itself names the same upstream, so its cached features are shared
    by_file = run_probe(ProbeConfig(**{**config.__dict__, "upstream": str(tmp_path / "conv" / "model.safetensors"),
                                       "out": str(tmp_path / "probe2")}))
    assert by_file.upstream == result.upstream and by_file.features == result.features
