"""data2vec 2.0 conv decoder: scatter back to full length and output shape."""

import torch

from speechssl.objectives.decoder import ConvDecoder, DecoderConfig, scatter_unmasked


def test_scatter_puts_frames_back_in_order():
    keep = torch.tensor([[True, False, True, False], [False, True, True, False]])
    kept = torch.tensor([[[1.0], [2.0]], [[3.0], [4.0]]])
    full = scatter_unmasked(kept, keep, noise_std=0.0)
    assert full.squeeze(-1).tolist() == [[1.0, 0.0, 2.0, 0.0], [0.0, 3.0, 4.0, 0.0]]
    noisy = scatter_unmasked(kept, keep, noise_std=0.01, generator=torch.Generator().manual_seed(0))
    assert noisy[0, 0, 0] == 1.0 and 0 < noisy[~keep].abs().max() < 0.1


def test_decoder_output_shape_and_residual_layers():
    config = DecoderConfig(dim=32, layers=4, kernel=7, groups=16, input_dropout=0.0)
    decoder = ConvDecoder(in_dim=48, out_dim=48, config=config)
    keep = torch.ones(3, 20, dtype=torch.bool)
    keep[:, ::4] = False  # 15 kept per row
    out = decoder(torch.randn(3, 15, 48), keep)
    assert out.shape == (3, 20, 48)
    assert len(decoder.blocks) == 4 and decoder.blocks[0].conv.groups == 16
    assert decoder.blocks[0].conv.in_channels == 48 and decoder.blocks[1].conv.in_channels == 32
