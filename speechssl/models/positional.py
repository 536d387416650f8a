"""Relative position information: convolutional positional encodings and the ALiBi bias.

One weight-normed grouped conv (wav2vec 2.0 / HuBERT) or data2vec's stack of small convs. On a GPU,
long kernels (BASE: 128 taps) are applied through the FFT: the same result as the direct conv, at a
fraction of the cost of cuDNN's grouped convolution (bench/README.md); on a CPU the direct conv is
kept (oneDNN's is faster there at BASE width).
"""

from __future__ import annotations

import math

import torch
from torch import nn

from speechssl.models.config import BackboneConfig


FFT_MIN_KERNEL = 32  # shorter kernels: the direct convolution is cheaper


def _fast_fft_size(n: int) -> int:
    """Smallest 2^a * 3^b >= ``n`` (sizes the FFT libraries handle fastest)."""
    best = 1 << max(n - 1, 0).bit_length()
    power_of_three = 1
    while power_of_three < best:
        size = power_of_three
        while size < n:
            size *= 2
        best = min(best, size)
        power_of_three *= 3
    return best


def fft_grouped_conv1d(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None,
                       padding: int, groups: int) -> torch.Tensor:
    """``nn.functional.conv1d(x, weight, bias, padding=padding, groups=groups)`` through the FFT.

    Args:
        x: shape (B, C, F).
        weight: shape (O, C / groups, K).
        bias: shape (O,) or None.

    Returns:
        shape (B, O, F + 2 * padding - K + 1), in ``x``'s dtype; computed in float32 (the FFT
        libraries take no bfloat16), outside autocast.
    """
    batch, channels, frames = x.shape
    out_channels, group_in, kernel = weight.shape
    group_out = out_channels // groups
    length = frames + 2 * padding - kernel + 1
    size = _fast_fft_size(frames + 2 * padding)  # no circular wrap reaches the kept outputs
    with torch.autocast(x.device.type, enabled=False):
        signal = torch.fft.rfft(nn.functional.pad(x.float(), (padding, padding)), n=size)
        # correlation = convolution with the reversed kernel; output t sits at t + K - 1
        taps = torch.fft.rfft(weight.float().flip(-1), n=size)
        bins = signal.shape[-1]
        signal = signal.view(batch, groups, group_in, bins).permute(1, 3, 0, 2)  # (G, bins, B, Cg)
        taps = taps.view(groups, group_out, group_in, bins).permute(0, 3, 2, 1)  # (G, bins, Cg, Og)
        mixed = torch.matmul(signal, taps).permute(2, 0, 3, 1).reshape(batch, out_channels, bins)
        y = torch.fft.irfft(mixed, n=size)[..., kernel - 1 : kernel - 1 + length]
        if bias is not None:
            y = y + bias.float()[None, :, None]
    return y.to(x.dtype)


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
        conv = self.conv
        if x.is_cuda and conv.kernel_size[0] >= FFT_MIN_KERNEL:
            x = fft_grouped_conv1d(x, conv.weight, conv.bias, conv.padding[0], conv.groups)
        else:
            x = conv(x)
        if self.trim:
            x = x[..., : -self.trim]
        if self.norm is not None:
            x = self.norm(x.transpose(1, 2)).transpose(1, 2).contiguous()  # as the conv encoder
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
