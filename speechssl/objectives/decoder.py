"""Light 1-D convolutional decoder of data2vec 2.0 and the scatter back to full length.

The student encodes unmasked frames only; the decoder sees every frame, noise at masked ones.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn


@dataclass
class DecoderConfig:
    """Conv decoder settings (data2vec 2.0 audio BASE).

    Attributes:
        dim: channels of every conv layer.
        layers: number of conv blocks (conv -> LayerNorm without affine -> GELU, residual).
        kernel: conv kernel width (odd keeps the length).
        groups: conv groups.
        input_dropout: dropout on the student outputs before decoding.
        mask_noise_std: std of the Gaussian noise placed at masked positions.
    """

    dim: int = 384
    layers: int = 4
    kernel: int = 7
    groups: int = 16
    input_dropout: float = 0.1
    mask_noise_std: float = 0.01


def scatter_unmasked(
    unmasked: torch.Tensor, keep: torch.Tensor, noise_std: float, generator: torch.Generator | None = None
) -> torch.Tensor:
    """Put the encoded unmasked frames back at their time steps; fill the rest with noise.

    Args:
        unmasked: shape (N, U, D), the kept frames of each row in time order.
        keep: shape (N, T) bool, True at kept frames, exactly U per row.

    Returns:
        shape (N, T, D).
    """
    n, t = keep.shape
    full = torch.randn(
        (n, t, unmasked.shape[-1]), generator=generator, device=unmasked.device, dtype=unmasked.dtype
    ) * noise_std
    return full.masked_scatter(keep.unsqueeze(-1), unmasked)


class _ConvBlock(nn.Module):
    """Conv1d (same length) -> LayerNorm over channels (no affine) -> GELU."""

    def __init__(self, in_dim: int, config: DecoderConfig):
        super().__init__()
        if config.kernel % 2 == 0:
            raise ValueError(f"decoder kernel {config.kernel} must be odd to keep the length")
        self.conv = nn.Conv1d(
            in_dim, config.dim, config.kernel, padding=config.kernel // 2, groups=config.groups
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: (N, C_in, T) -> (N, dim, T)."""
        x = self.conv(x).transpose(1, 2)
        # back to (N, C, T) memory order: GELU's backward and the next conv are much slower on a
        # transposed view (bench/README.md, data2vec profile)
        x = F.layer_norm(x, x.shape[-1:]).transpose(1, 2).contiguous()
        return F.gelu(x)


class ConvDecoder(nn.Module):
    """Scatter to full length, conv blocks with residuals (where shapes match), ``Linear``.

    Args:
        in_dim: size of the student outputs (model dim D).
        out_dim: size of the targets (D).
    """

    def __init__(self, in_dim: int, out_dim: int, config: DecoderConfig):
        super().__init__()
        for size in (in_dim, config.dim):
            if size % config.groups:
                raise ValueError(f"decoder: {size} channels not divisible by {config.groups} groups")
        self.input_dropout = nn.Dropout(config.input_dropout)
        self.blocks = nn.ModuleList(
            _ConvBlock(in_dim if i == 0 else config.dim, config) for i in range(config.layers)
        )
        self.proj = nn.Linear(config.dim, out_dim)
        self.mask_noise_std = config.mask_noise_std

    def forward(
        self, unmasked: torch.Tensor, keep: torch.Tensor, generator: torch.Generator | None = None
    ) -> torch.Tensor:
        """Decode every frame from the kept ones.

        Args:
            unmasked: shape (N, U, in_dim), student outputs of the kept frames.
            keep: shape (N, T) bool, True at kept frames, U per row.

        Returns:
            shape (N, T, out_dim).
        """
        x = scatter_unmasked(self.input_dropout(unmasked), keep, self.mask_noise_std, generator)
        x = x.transpose(1, 2)
        for block in self.blocks:
            y = block(x)
            x = y + x if y.shape == x.shape else y
        return self.proj(x.transpose(1, 2))
