"""Rebuild a BackboneConfig from the tensor shapes of a state dict in our naming.

Strides, heads and dropouts are not in the weights: they come from a base config (BASE by default).
"""

from __future__ import annotations

import re

import torch

from speechssl.config import ConfigError, apply_overrides, from_dict, to_dict
from speechssl.convert.keymap import WEIGHT_V
from speechssl.models.config import BackboneConfig


def _count(state: dict[str, torch.Tensor], pattern: str) -> int:
    regex = re.compile(pattern)
    return len({m.group(1) for key in state for m in [regex.match(key)] if m})


def infer_config(
    state: dict[str, torch.Tensor],
    base: BackboneConfig | None = None,
    overrides: list[str] | None = None,
    where: str = "checkpoint",
) -> BackboneConfig:
    """Shapes from ``state`` (our key names), everything else from ``base``, then ``overrides``.

    Without ``base``, pre-LN is guessed for models with LayerNorm convs and a single positional
    conv (wav2vec 2.0 / HuBERT LARGE); pass ``layer_norm_first=...`` to override the guess.
    """
    try:
        num_conv = _count(state, r"feature_encoder\.layers\.(\d+)\.conv\.weight$")
        num_layers = _count(state, r"encoder\.layers\.(\d+)\.ffn\.fc1\.weight$")
        depth = _count(state, r"pos_conv\.layers\.(\d+)\.conv\.weight$")
        embed_dim = state["projection.weight"].shape[0]
        ffn_dim = state["encoder.layers.0.ffn.fc1.weight"].shape[0]
    except KeyError as missing:
        raise ConfigError(f"{where}: not a wav2vec 2.0-style backbone (no {missing})") from None
    guess_pre_ln = base is None
    base = base or BackboneConfig()
    if num_conv == len(base.conv_layers):
        strides = [layer[2] for layer in base.conv_layers]
    else:
        raise ConfigError(
            f"{where}: {num_conv} conv layers but the base config has {len(base.conv_layers)}; "
            "pass a model config with the right strides (--config)"
        )
    conv_layers = []
    for index, stride in enumerate(strides):
        weight = state[f"feature_encoder.layers.{index}.conv.weight"]
        conv_layers.append([int(weight.shape[0]), int(weight.shape[2]), int(stride)])
    conv_norm = "layer_norm" if "feature_encoder.layers.1.norm.weight" in state else "group_norm"
    values = to_dict(base)
    values.update(
        conv_layers=conv_layers,
        conv_norm=conv_norm,
        conv_bias="feature_encoder.layers.0.conv.bias" in state,
        embed_dim=int(embed_dim),
        num_layers=num_layers,
        ffn_dim=int(ffn_dim),
        use_alibi="alibi_scale" in state,
    )
    if embed_dim != base.embed_dim:
        values["num_heads"] = int(embed_dim) // 64
    if WEIGHT_V in state:
        weight = state[WEIGHT_V]
        values.update(pos_conv_depth=1, pos_conv_kernel=int(weight.shape[2]))
    else:
        weight = state["pos_conv.layers.0.conv.weight"]
        values.update(pos_conv_depth=depth, pos_conv_width=int(weight.shape[2]) * depth)
    values["pos_conv_groups"] = int(embed_dim) // int(weight.shape[1])
    if guess_pre_ln:
        values["layer_norm_first"] = conv_norm == "layer_norm" and values["pos_conv_depth"] == 1
    apply_overrides(values, overrides or [])
    return from_dict(BackboneConfig, values, where=where)
