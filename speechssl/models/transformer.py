"""The Transformer encoder of the backbone: self-attention, FFN, post-LN or pre-LN layers, LayerDrop.

Attention runs through ``scaled_dot_product_attention`` with a key padding mask and optional bias.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import nn
from torch.nn import functional as F

from speechssl.models.config import BackboneConfig


@dataclass
class EncoderOutput:
    """What the Transformer returns.

    Attributes:
        output: (B,F,D) final output (after the final LayerNorm for pre-LN models).
        layer_outputs: one (B,F,D) per layer (empty unless ``output_layers``); a layer skipped by
            LayerDrop repeats its input.
        ffn_outputs: one (B,F,D) per layer, the FFN output before the final residual add and
            LayerNorm (data2vec targets); None for a layer skipped by LayerDrop.
    """

    output: torch.Tensor
    layer_outputs: list[torch.Tensor] = field(default_factory=list)
    ffn_outputs: list[torch.Tensor | None] = field(default_factory=list)


def attention_mask(
    padding_mask: torch.Tensor | None, attn_bias: torch.Tensor | None, dtype: torch.dtype
) -> torch.Tensor | None:
    """Combine a key padding mask (B,F) and an additive bias (B|1,H|1,F,F) for SDPA.

    Returns None, a bool mask (B,1,1,F) with True = attend, or a float bias (B,H,F,F).
    """
    if attn_bias is None:
        return None if padding_mask is None else (~padding_mask)[:, None, None, :]
    bias = attn_bias.to(dtype)
    if padding_mask is not None:
        bias = bias.masked_fill(padding_mask[:, None, None, :], float("-inf"))
    return bias


class SelfAttention(nn.Module):
    """Multi-head self-attention with separate q/k/v/out projections."""

    def __init__(self, dim: int, num_heads: int, dropout: float):
        super().__init__()
        self.num_heads = num_heads
        self.dropout = dropout
        self.q_proj = nn.Linear(dim, dim)
        self.k_proj = nn.Linear(dim, dim)
        self.v_proj = nn.Linear(dim, dim)
        self.out_proj = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
        """x (B,F,D), mask from ``attention_mask`` -> (B,F,D)."""
        batch, frames, dim = x.shape
        heads = self.num_heads

        def split(t: torch.Tensor) -> torch.Tensor:
            return t.view(batch, frames, heads, dim // heads).transpose(1, 2)

        q, k, v = split(self.q_proj(x)), split(self.k_proj(x)), split(self.v_proj(x))
        if mask is not None and mask.dtype != torch.bool:
            mask = mask.to(q.dtype)
        y = F.scaled_dot_product_attention(
            q, k, v, attn_mask=mask, dropout_p=self.dropout if self.training else 0.0
        )
        return self.out_proj(y.transpose(1, 2).reshape(batch, frames, dim))


class FeedForward(nn.Module):
    """fc1 -> GELU -> activation dropout -> fc2."""

    def __init__(self, dim: int, ffn_dim: int, activation_dropout: float):
        super().__init__()
        self.fc1 = nn.Linear(dim, ffn_dim)
        self.fc2 = nn.Linear(ffn_dim, dim)
        self.activation_dropout = nn.Dropout(activation_dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x (B,F,D) -> (B,F,D)."""
        return self.fc2(self.activation_dropout(F.gelu(self.fc1(x))))


class EncoderLayer(nn.Module):
    """One Transformer layer; ``layer_norm_first`` picks pre-LN, otherwise post-LN."""

    def __init__(self, config: BackboneConfig):
        super().__init__()
        dim, eps = config.embed_dim, config.layer_norm_eps
        self.layer_norm_first = config.layer_norm_first
        self.attention = SelfAttention(dim, config.num_heads, config.attention_dropout)
        self.attention_norm = nn.LayerNorm(dim, eps=eps)
        self.ffn = FeedForward(dim, config.ffn_dim, config.activation_dropout)
        self.final_norm = nn.LayerNorm(dim, eps=eps)
        self.dropout = nn.Dropout(config.dropout)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor]:
        """x (B,F,D) -> (layer output (B,F,D), FFN output before the final residual (B,F,D))."""
        if self.layer_norm_first:
            x = x + self.dropout(self.attention(self.attention_norm(x), mask))
            ffn_out = self.ffn(self.final_norm(x))
            return x + self.dropout(ffn_out), ffn_out
        x = self.attention_norm(x + self.dropout(self.attention(x, mask)))
        ffn_out = self.ffn(x)
        return self.final_norm(x + self.dropout(ffn_out)), ffn_out


class TransformerEncoder(nn.Module):
    """Encoder LayerNorm (before the layers for post-LN, after them for pre-LN), dropout, layers."""

    def __init__(self, config: BackboneConfig):
        super().__init__()
        self.layer_norm_first = config.layer_norm_first
        self.layerdrop = config.layerdrop
        self.layer_norm = nn.LayerNorm(config.embed_dim, eps=config.layer_norm_eps)
        self.dropout = nn.Dropout(config.dropout)
        self.layers = nn.ModuleList(EncoderLayer(config) for _ in range(config.num_layers))
        self.apply(_init_linear)

    def reinit_top_layers(self, count: int) -> None:
        """Give the top ``count`` layers fresh initial weights (LayerNorms to 1/0, linears as at build)."""
        if not 0 <= count <= len(self.layers):
            raise ValueError(f"reinit_top_layers must be in [0, {len(self.layers)}], got {count}")
        for layer in self.layers[len(self.layers) - count:]:
            for module in layer.modules():
                if isinstance(module, nn.LayerNorm):
                    module.reset_parameters()
            layer.apply(_init_linear)

    def forward(
        self,
        x: torch.Tensor,
        padding_mask: torch.Tensor | None,
        attn_bias: torch.Tensor | None = None,
        output_layers: bool = False,
    ) -> EncoderOutput:
        """x (B,F,D) with positions added, padding_mask (B,F) True = pad, attn_bias (B|1,H,F,F)."""
        mask = attention_mask(padding_mask, attn_bias, x.dtype)
        if not self.layer_norm_first:
            x = self.layer_norm(x)
        x = self.dropout(x)
        result = EncoderOutput(output=x)
        if self.training and self.layerdrop > 0:
            skip = (torch.rand(len(self.layers)) < self.layerdrop).tolist()
        else:
            skip = [False] * len(self.layers)
        for layer, skipped in zip(self.layers, skip):
            ffn_out = None
            if not skipped:
                x, ffn_out = layer(x, mask)
            if output_layers:
                result.layer_outputs.append(x)
                result.ffn_outputs.append(ffn_out)
        result.output = self.layer_norm(x) if self.layer_norm_first else x
        return result


def _init_linear(module: nn.Module) -> None:
    """BERT-style init of the Transformer's linear layers (normal 0.02, zero bias), as fairseq."""
    if isinstance(module, nn.Linear):
        nn.init.normal_(module.weight, mean=0.0, std=0.02)
        if module.bias is not None:
            nn.init.zeros_(module.bias)
