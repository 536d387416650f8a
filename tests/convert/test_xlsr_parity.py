"""XLS-R shape (pre-LN, 24 layers, LayerNorm conv encoder with bias) against transformers'
``Wav2Vec2Model`` with random weights, both ways: HF folder -> ours and ours -> HF folder."""

import torch
import transformers  # installed with the test environment (local/install.sh: .[test,bench])
from tiny_models import CONV, randomise

from speechssl.convert import huggingface, read_checkpoint
from speechssl.convert.common import Converted

LAYERS = 24


def hf_xlsr_shaped(seed: int = 0):
    """A transformers Wav2Vec2Model laid out like facebook/wav2vec2-xls-r-300m at tiny widths."""
    config = transformers.Wav2Vec2Config(
        conv_dim=[c[0] for c in CONV], conv_kernel=[c[1] for c in CONV], conv_stride=[c[2] for c in CONV],
        conv_bias=True, feat_extract_norm="layer", do_stable_layer_norm=True,
        hidden_size=32, num_hidden_layers=LAYERS, num_attention_heads=4, intermediate_size=64,
        num_conv_pos_embeddings=16, num_conv_pos_embedding_groups=4,
        hidden_dropout=0.1, attention_dropout=0.1, feat_proj_dropout=0.1, layerdrop=0.1,
    )
    torch.manual_seed(seed)
    return randomise(transformers.Wav2Vec2Model(config), seed)


def assert_same_layers(theirs, ours, audio):
    """Every layer's residual stream and the final (LayerNorm'ed) output agree."""
    with torch.no_grad():
        hf = theirs(audio, output_hidden_states=True)
        encoded, _ = ours(audio, output_layers=True)
    assert len(encoded.layer_outputs) == LAYERS
    # HF's hidden_states: [input, layer 1 .. layer 23 (raw), final LayerNorm(layer 24)].
    for i in range(LAYERS - 1):
        assert (hf.hidden_states[i + 1] - encoded.layer_outputs[i]).abs().max() < 1e-4, f"layer {i + 1}"
    assert (hf.last_hidden_state - encoded.output).abs().max() < 1e-4
    assert encoded.output.abs().mean() > 0.1  # a real signal, not two zero tensors


def test_hf_xlsr_shaped_model_converts_to_ours(tmp_path, audio):
    theirs = hf_xlsr_shaped()
    theirs.save_pretrained(tmp_path / "hf", safe_serialization=True)
    converted, ours = read_checkpoint("hf", tmp_path / "hf")
    config = converted.config
    assert (config.num_layers, config.layer_norm_first, config.conv_norm, config.conv_bias) == (
        LAYERS, True, "layer_norm", True
    )
    assert config.layerdrop == 0.1 and config.dropout_input == 0.1
    assert_same_layers(theirs, ours.eval(), audio)
    assert torch.equal(ours.mask_embedding, theirs.masked_spec_embed)


def test_ours_exports_to_hf_xlsr_shaped_model(tmp_path, audio):
    _, ours = read_checkpoint("hf", _saved(tmp_path))
    with torch.no_grad():
        for param in ours.parameters():
            param.mul_(1.5)  # different weights from the folder it came from
    huggingface.write(Converted(ours.config, ours.state_dict()), tmp_path / "export")
    theirs = transformers.Wav2Vec2Model.from_pretrained(tmp_path / "export").eval()
    assert theirs.config.do_stable_layer_norm and theirs.config.num_hidden_layers == LAYERS
    assert_same_layers(theirs, ours.eval(), audio)


def _saved(tmp_path):
    hf_xlsr_shaped(seed=1).save_pretrained(tmp_path / "src", safe_serialization=True)
    return tmp_path / "src"
