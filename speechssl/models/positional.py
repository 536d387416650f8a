"""Relative position information: convolutional positional encodings and the ALiBi bias.

One weight-normed grouped conv (wav2vec 2.0 / HuBERT) or data2vec's stack of small convs.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from speechssl.models.config import BackboneConfig


class PosConvLayer(nn.Module):
    """Grouped "same" Conv1d over time (an even kernel drops its last output frame), then
    LayerNorm without affine (stack layers only) and GELU."""

    def __init__(self, dim: int, kernel: int, groups: int, weight_norm: bool, eps: float):
        super().__init__()
        self.conv = nn.Conv1d(dim, dim, kernel, padding=kernel // 2, groups=groups)
        self.trim = 1 if kernel % 2 == 0 else 0
        if weight_norm:
            std = math.sqrt(4.0 / (kernel * dim))
            nn.init.normal_(self.conv.weight, mean=0.0, std=std)
            nn.init.zeros_(self.conv.bias)
            self.conv = nn.utils.parametrizations.weight_norm(self.conv, name="weight", dim=2)
            self.norm: nn.Module | None = None
        else:
            self.norm = nn.LayerNorm(dim, eps=eps, elementwise_affine=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x (B,D,F) -> (B,D,F)."""
        x = self.conv(x)
        if self.trim:
            x = x[..., : -self.trim]
        if self.norm is not None:
            x = self.norm(x.transpose(1, 2)).transpose(1, 2)
        return nn.functional.gelu(x)


class ConvPositionalEncoding(nn.Module):
    """The positional conv(s); returns only the positional term, the caller adds it to ``x``.

    Padded frames are zeroed before every layer, so a padded batch gives the same values on valid
    frames as each utterance alone (fairseq zeroes them only before the first layer).
    """

    def __init__(self, config: BackboneConfig):
        super().__init__()
        dim, eps = config.embed_dim, config.layer_norm_eps
        if config.pos_conv_depth == 1:
            layers = [PosConvLayer(dim, config.pos_conv_kernel, config.pos_conv_groups, True, eps)]
        else:
            kernel = config.stack_kernel
            layers = [
                PosConvLayer(dim, kernel, config.pos_conv_groups, False, eps)
                for _ in range(config.pos_conv_depth)
            ]
        self.layers = nn.ModuleList(layers)

    def forward(self, x: torch.Tensor, padding_mask: torch.Tensor | None) -> torch.Tensor:
        """x (B,F,D), padding_mask (B,F) True = pad -> positional term (B,F,D)."""
        keep = None if padding_mask is None else (~padding_mask)[:, None, :].to(x.dtype)
        y = x.transpose(1, 2)
        for layer in self.layers:
            if keep is not None:
                y = y * keep
            y = layer(y)
        return y.transpose(1, 2)


def alibi_slopes(num_heads: int) -> torch.Tensor:
    """ALiBi's geometric head slopes (Press et al. 2022), (H,); non-powers of two interleave."""

    def power_of_two(n: int) -> list[float]:
        start = 2.0 ** (-(2.0 ** -(math.log2(n) - 3)))
        return [start * start**i for i in range(n)]

    if math.log2(num_heads).is_integer():
        return torch.tensor(power_of_two(num_heads))
    closest = 2 ** math.floor(math.log2(num_heads))
    extra = power_of_two(2 * closest)[0::2][: num_heads - closest]
    return torch.tensor(power_of_two(closest) + extra)


def alibi_bias(positions: torch.Tensor, slopes: torch.Tensor) -> torch.Tensor:
    """Symmetric ALiBi bias ``-slope * |i - j|``.

    Args:
        positions: (B,U) or (U,) original frame indices of the tokens (gathered tokens keep theirs).
        slopes: (H,) per-head slopes, already multiplied by any learned scale.
    Returns:
        (B,H,U,U) (or (1,H,U,U) for 1-D positions) additive attention bias.
    """
    if positions.dim() == 1:
        positions = positions[None]
    distance = (positions[:, :, None] - positions[:, None, :]).abs().to(slopes.dtype)
    return -slopes[None, :, None, None] * distance[:, None]
