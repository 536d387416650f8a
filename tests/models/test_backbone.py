"""Backbone: padding invariance, API shapes, pre/post-LN, data2vec stack, ALiBi, feature_grad_mult."""

import numpy as np
import pytest
import torch

from speechssl.models import BackboneConfig, build_backbone, load_backbone_config
from speechssl.models.flops import count_flops
from speechssl.models.positional import alibi_slopes
from tests.convert.tiny_models import small_config

VARIANTS = {
    "post_ln_group_norm": small_config(),
    "pre_ln_layer_norm": small_config(conv_norm="layer_norm", conv_bias=True, layer_norm_first=True),
    "data2vec_stack": small_config(
        conv_norm="layer_norm", pos_conv_depth=3, pos_conv_width=15, normalize_waveform=True
    ),
    "data2vec2_alibi": small_config(conv_norm="layer_norm", pos_conv_depth=2, use_alibi=True),
}


@pytest.mark.parametrize("name", sorted(VARIANTS))
def test_padded_batch_equals_single_utterances(name):
    torch.manual_seed(0)
    model = build_backbone(VARIANTS[name]).eval()
    lengths = torch.tensor([8000, 5000, 3300])
    audio = torch.randn(3, 8000) * (torch.arange(8000)[None, :] < lengths[:, None])
    with torch.no_grad():
        batch_out, padding = model(audio, lengths, output_layers=True)
        for row, length in enumerate(lengths.tolist()):
            single, single_pad = model(
                audio[row : row + 1, :length], lengths[row : row + 1], output_layers=True
            )
            frames = single.output.shape[1]
            assert frames == int((~padding[row]).sum()) and not single_pad.any()
            assert torch.allclose(batch_out.output[row, :frames], single.output[0], atol=1e-5)
            for a, b in zip(batch_out.ffn_outputs, single.ffn_outputs):
                assert torch.allclose(a[row, :frames], b[0], atol=1e-5)


def test_frame_lengths_are_50hz():
    model = build_backbone(small_config())
    assert model.frame_lengths(torch.tensor([16000, 320 * 10 + 80, 399, 400])).tolist() == [49, 10, 0, 1]
    assert [model.config.num_frames(n) for n in (16000, 320 * 10 + 80, 399, 400, 0)] == [49, 10, 0, 1, 0]
    assert model.config.num_frames(np.int64(16000)) == 49 and type(model.config.num_frames(16000)) is int
    assert model.config.downsampling == 320


def test_stage_api_reproduces_forward_with_masks():
    torch.manual_seed(1)
    model = build_backbone(small_config()).eval()
    audio, lengths = torch.randn(2, 6400), torch.tensor([6400, 4000])
    front = model.front_end(audio, lengths)
    features, padding = model.extract_features(audio, lengths)
    assert torch.equal(front.features, features) and torch.equal(front.padding_mask, padding)
    assert features.shape == (2, 19, 32) and padding.shape == (2, 19)
    assert front.frame_lengths.tolist() == model.frame_lengths(lengths).tolist() == [19, 12]
    time_mask = torch.zeros(2, 19, dtype=torch.bool)
    time_mask[:, 3:7] = True
    channel_mask = torch.zeros(2, 64, dtype=torch.bool)
    channel_mask[:, :8] = True
    x = model.apply_mask(front.x, time_mask, channel_mask)
    assert torch.equal(x[0, 4, 8:], model.mask_embedding[8:]) and (x[:, :, :8] == 0).all()
    staged = model.transformer(model.add_positions(x, padding), padding, output_layers=True)
    whole, _ = model(audio, lengths, time_mask=time_mask, channel_mask=channel_mask, output_layers=True)
    assert torch.allclose(staged.output, whole.output, atol=1e-6)
    assert len(whole.layer_outputs) == 2 and len(whole.ffn_outputs) == 2
    assert torch.equal(whole.layer_outputs[-1], whole.output)


def test_front_end_input_dropout_and_attention_bias():
    torch.manual_seed(5)
    model = build_backbone(small_config(dropout_input=0.5))  # training mode: dropout active
    audio = torch.randn(2, 4000)
    state = torch.get_rng_state()
    clean = model.front_end(audio, input_dropout=False)
    assert torch.equal(torch.get_rng_state(), state) and clean.x is clean.projected
    noisy = model.front_end(audio)
    assert torch.equal(noisy.projected, clean.projected) and torch.equal(noisy.normed, clean.normed)
    dropped = noisy.x == 0
    assert 0.3 < float(dropped.float().mean()) < 0.7
    assert torch.allclose(noisy.x[~dropped], 2 * noisy.projected[~dropped])
    assert model.attention_bias(noisy.x) is None
    alibi = build_backbone(VARIANTS["data2vec2_alibi"])
    x = torch.zeros(1, 5, alibi.config.embed_dim)
    assert torch.equal(alibi.attention_bias(x), alibi.alibi_bias(torch.arange(5)))
    index = torch.tensor([[0, 2, 7]])
    assert torch.equal(alibi.attention_bias(x[:, :3], index), alibi.alibi_bias(index))


def test_post_ln_layer_output_is_norm_of_residual_plus_ffn():
    torch.manual_seed(2)
    model = build_backbone(small_config()).eval()
    out, _ = model(torch.randn(1, 4000), output_layers=True)
    layer = model.encoder.layers[1]
    residual = out.layer_outputs[0]
    after_attention = layer.attention_norm(residual + layer.attention(residual, None))
    assert torch.allclose(out.ffn_outputs[1], layer.ffn(after_attention), atol=1e-5)
    assert torch.allclose(
        out.layer_outputs[1], layer.final_norm(after_attention + out.ffn_outputs[1]), atol=1e-5
    )


@pytest.mark.parametrize("mult,expected", [(1.0, 1.0), (0.1, 0.1)])
def test_feature_grad_mult_scales_encoder_gradients(mult, expected):
    grads = []
    for scale in (1.0, mult):
        torch.manual_seed(3)
        model = build_backbone(
            small_config(feature_grad_mult=scale, dropout=0.0, attention_dropout=0.0, dropout_input=0.0)
        )
        out, _ = model(torch.randn(2, 4000))
        out.output.square().sum().backward()
        grads.append(model.feature_encoder.layers[0].conv.weight.grad.clone())
    assert torch.allclose(grads[1], grads[0] * expected, rtol=1e-4, atol=1e-8)


def test_zero_feature_grad_mult_freezes_the_encoder():
    model = build_backbone(small_config(feature_grad_mult=0.0))
    out, _ = model(torch.randn(2, 4000))
    out.output.sum().backward()
    assert model.feature_encoder.layers[0].conv.weight.grad is None
    assert model.projection.weight.grad is not None


def test_layerdrop_skips_layers_in_training_only():
    torch.manual_seed(4)
    model = build_backbone(small_config(num_layers=6, layerdrop=0.5))
    out, _ = model(torch.randn(1, 4000), output_layers=True)
    skipped = [f is None for f in out.ffn_outputs]
    assert any(skipped) and len(skipped) == 6
    model.eval()
    out, _ = model(torch.randn(1, 4000), output_layers=True)
    assert all(f is not None for f in out.ffn_outputs)


def test_alibi_bias_penalises_distance_and_follows_gathered_positions():
    model = build_backbone(VARIANTS["data2vec2_alibi"])
    bias = model.alibi_bias(torch.tensor([[0, 2, 7]]))
    assert bias.shape == (1, 4, 3, 3)
    slopes = alibi_slopes(4)
    assert torch.allclose(bias[0, :, 0, 2], -7 * slopes) and torch.allclose(bias[0, :, 1, 1], torch.zeros(4))
    assert slopes.tolist() == pytest.approx([0.25, 0.0625, 0.015625, 0.00390625])
    with pytest.raises(ValueError, match="use_alibi"):
        build_backbone(small_config()).alibi_bias(torch.arange(3))


def test_named_configs_and_flops():
    base = load_backbone_config("base")
    assert base == BackboneConfig()
    assert sum(p.numel() for p in build_backbone(base).parameters()) == pytest.approx(94.4e6, rel=0.002)
    flops = count_flops(base)
    # Backbone only: ~13.8 GFLOP forward, ~41 GFLOP forward + backward per audio-second.
    assert 13.5e9 < flops.forward < 14.1e9 and 40e9 < flops.training < 42.5e9
    large = load_backbone_config("large")
    assert large.layer_norm_first and large.conv_norm == "layer_norm" and large.num_layers == 24
    with pytest.raises(ValueError, match="unknown model config"):
        load_backbone_config("huge")


def test_bad_audio_shape_is_a_clear_error():
    with pytest.raises(ValueError, match="batch, samples"):
        build_backbone(small_config())(torch.randn(4000))


def test_reinit_top_layers_keeps_the_lower_layers():
    torch.manual_seed(0)
    encoder = build_backbone(small_config()).encoder
    for parameter in encoder.parameters():  # stand-in for pre-trained weights
        parameter.data.add_(1.0)
    before = {k: v.clone() for k, v in encoder.state_dict().items()}
    top = len(encoder.layers) - 1
    encoder.reinit_top_layers(1)
    after = encoder.state_dict()
    for key, value in after.items():
        if key.startswith(f"layers.{top}."):
            if key.endswith("norm.weight"):
                assert torch.equal(value, torch.ones_like(value)), key
            elif key.endswith("weight"):
                assert float(value.std()) < 0.05, key  # normal(0, 0.02) again, not the shifted weights
            else:
                assert torch.equal(value, torch.zeros_like(value)), key
        else:
            assert torch.equal(value, before[key]), key
    with pytest.raises(ValueError, match="reinit_top_layers"):
        encoder.reinit_top_layers(len(encoder.layers) + 1)
