"""The convolutional feature encoder: raw 16 kHz audio to 50 Hz feature frames.

Padding-aware: the per-channel (group) norm of the first layer uses only each row's valid frames.
"""

from __future__ import annotations

import torch
from torch import nn

from speechssl.models.config import BackboneConfig, conv_output_length


class GradMultiply(torch.autograd.Function):
    """Identity forward; multiplies the gradient by ``scale`` backward (fairseq's feature_grad_mult)."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, scale: float) -> torch.Tensor:  # type: ignore[override]
        ctx.scale = scale
        return x.view_as(x)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):  # type: ignore[override]
        return grad * ctx.scale, None


def lengths_to_padding_mask(lengths: torch.Tensor, max_len: int) -> torch.Tensor:
    """(B,) lengths -> (B, max_len) bool, True at padded positions."""
    positions = torch.arange(max_len, device=lengths.device)
    return positions[None, :] >= lengths[:, None]


class MaskedChannelNorm(nn.Module):
    """GroupNorm with one group per channel, statistics over each row's valid frames only.

    Parameters are named like ``nn.GroupNorm`` (``weight``, ``bias``); with no padding the result
    equals ``nn.GroupNorm(C, C)``.
    """

    def __init__(self, channels: int, eps: float = 1e-5):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(channels))
        self.bias = nn.Parameter(torch.zeros(channels))

    def forward(self, x: torch.Tensor, padding_mask: torch.Tensor | None) -> torch.Tensor:
        """x (B,C,T), padding_mask (B,T) True = pad or None -> (B,C,T)."""
        dtype = x.dtype
        x = x.float()
        if padding_mask is None:
            var, mean = torch.var_mean(x, dim=2, unbiased=False, keepdim=True)
            centred = x - mean
        else:
            # Reductions as batched mat-vec products with the validity mask: no masked copies of x.
            valid = (~padding_mask).to(x.dtype)
            count = valid.sum(dim=1).clamp(min=1.0)[:, None, None]
            mean = torch.einsum("bct,bt->bc", x, valid)[:, :, None] / count
            centred = x - mean
            var = torch.einsum("bct,bt->bc", centred * centred, valid)[:, :, None] / count
        scale = torch.rsqrt(var + self.eps) * self.weight[None, :, None]
        return torch.addcmul(self.bias[None, :, None], centred, scale).to(dtype)


class ConvBlock(nn.Module):
    """Conv1d -> optional norm (channel norm or LayerNorm over channels) -> GELU."""

    def __init__(
        self, in_dim: int, out_dim: int, kernel: int, stride: int, bias: bool, norm: str | None, eps: float
    ):
        super().__init__()
        self.kernel = kernel
        self.stride = stride
        self.conv = nn.Conv1d(in_dim, out_dim, kernel, stride=stride, bias=bias)
        nn.init.kaiming_normal_(self.conv.weight)
        self.norm_kind = norm
        if norm == "group_norm":
            self.norm: nn.Module | None = MaskedChannelNorm(out_dim, eps)
        elif norm == "layer_norm":
            self.norm = nn.LayerNorm(out_dim, eps=eps)
        else:
            self.norm = None

    def forward(self, x: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """x (B,C_in,T_in), lengths (B,) -> (B,C_out,T_out), output lengths (B,)."""
        x = self.conv(x)
        lengths = conv_output_length(lengths, self.kernel, self.stride)
        if self.norm_kind == "group_norm":
            x = self.norm(x, lengths_to_padding_mask(lengths, x.shape[2]))
        elif self.norm_kind == "layer_norm":
            # contiguous (B, C, T) again: GELU's backward and the next conv are much slower on
            # the transposed view (bench/README.md, data2vec profile)
            x = self.norm(x.transpose(1, 2)).transpose(1, 2).contiguous()
        return nn.functional.gelu(x), lengths


class FeatureEncoder(nn.Module):
    """Stack of ``ConvBlock`` following ``config.conv_layers``; norm placement from ``conv_norm``."""

    def __init__(self, config: BackboneConfig):
        super().__init__()
        blocks = []
        in_dim = 1
        for index, (dim, kernel, stride) in enumerate(config.conv_layers):
            if config.conv_norm == "layer_norm":
                norm = "layer_norm"
            else:
                norm = "group_norm" if index == 0 else None
            blocks.append(
                ConvBlock(in_dim, dim, kernel, stride, config.conv_bias, norm, config.layer_norm_eps)
            )
            in_dim = dim
        self.layers = nn.ModuleList(blocks)

    def forward(self, audio: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """audio (B,T) -> features (B,F,C), frame lengths (B,)."""
        x = audio[:, None, :]
        for block in self.layers:
            x, lengths = block(x, lengths)
        return x.transpose(1, 2), lengths


def normalize_waveform(audio: torch.Tensor, lengths: torch.Tensor, eps: float = 1e-5) -> torch.Tensor:
    """audio (B,T), lengths (B,) -> (B,T): each row zero-mean and unit-variance over its first
    ``lengths[b]`` samples (``F.layer_norm`` of the unpadded row); padding stays zero."""
    valid = (torch.arange(audio.shape[1], device=audio.device)[None, :] < lengths[:, None]).to(audio.dtype)
    count = valid.sum(dim=1, keepdim=True).clamp(min=1.0)
    mean = (audio * valid).sum(dim=1, keepdim=True) / count
    variance = ((audio - mean) * valid).pow(2).sum(dim=1, keepdim=True) / count
    return (audio - mean) * torch.rsqrt(variance + eps) * valid
