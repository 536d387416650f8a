"""Feature encoder: masked channel norm, output lengths, padding invariance of the conv stack."""

import torch

from speechssl.models import BackboneConfig
from speechssl.models.feature_encoder import FeatureEncoder, MaskedChannelNorm, lengths_to_padding_mask


def test_masked_channel_norm_equals_group_norm_without_padding():
    torch.manual_seed(0)
    norm = MaskedChannelNorm(8)
    reference = torch.nn.GroupNorm(8, 8)
    with torch.no_grad():
        norm.weight.normal_()
        norm.bias.normal_()
        reference.load_state_dict(norm.state_dict())
    x = torch.randn(3, 8, 50)
    assert torch.allclose(norm(x, None), reference(x), atol=1e-5)
    padding = lengths_to_padding_mask(torch.tensor([50, 20, 7]), 50)
    masked = norm(x, padding)
    assert torch.allclose(masked[1, :, :20], reference(x[1:2, :, :20])[0], atol=1e-5)


def test_encoder_lengths_and_padding_invariance():
    torch.manual_seed(1)
    config = BackboneConfig(conv_layers=[[16, 10, 5], [16, 3, 2], [16, 2, 2]])
    encoder = FeatureEncoder(config)
    lengths = torch.tensor([1000, 641])
    audio = torch.randn(2, 1000)
    features, frames = encoder(audio, lengths)
    assert frames.tolist() == config.num_frames(lengths).tolist() == [49, 31]
    single, _ = encoder(audio[1:, :641], lengths[1:])
    assert torch.allclose(features[1, :31], single[0], atol=1e-5)


def test_normalize_waveform_matches_layer_norm_of_each_unpadded_row():
    import torch.nn.functional as F

    from speechssl.models.feature_encoder import normalize_waveform

    generator = torch.Generator().manual_seed(0)
    audio = 3.0 + 0.5 * torch.randn(2, 400, generator=generator)
    lengths = torch.tensor([400, 250])
    audio[1, 250:] = 0.0
    normed = normalize_waveform(audio, lengths)
    assert torch.allclose(normed[0], F.layer_norm(audio[0], (400,)), atol=1e-5)
    assert torch.allclose(normed[1, :250], F.layer_norm(audio[1, :250], (250,)), atol=1e-5)
    assert torch.equal(normed[1, 250:], torch.zeros(150))
