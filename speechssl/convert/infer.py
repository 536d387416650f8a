"""Rebuild a BackboneConfig from the tensor shapes of a state dict in our naming.

Heads, strides, pre/post-LN and waveform normalisation are not in the weights: they come from a base
config, or from what the checkpoint's own config states plus ``--set``; they are never guessed.
"""

from __future__ import annotations

import logging
import re

import torch

from speechssl.config import ConfigError, apply_overrides, from_dict, to_dict
from speechssl.convert.keymap import WEIGHT_V
from speechssl.models.config import BackboneConfig

log = logging.getLogger(__name__)

# Settings that change a model's outputs and that no tensor shape tells (with an example value).
ARCHITECTURE = {
    "num_heads": "N",
    "layer_norm_first": "true|false",
    "normalize_waveform": "true|false",
    "conv_layers": "[[512,10,5],[512,3,2],...]",
}
# Settings that only matter for further training: BASE values, with a warning, when not stated.
TRAINING = (
    "dropout",
    "attention_dropout",
    "activation_dropout",
    "dropout_input",
    "dropout_features",
    "layerdrop",
    "feature_grad_mult",
)


def _count(state: dict[str, torch.Tensor], pattern: str) -> int:
    regex = re.compile(pattern)
    return len({m.group(1) for key in state for m in [regex.match(key)] if m})


def _stated_values(known: dict, overrides: list[str], where: str) -> dict:
    """``known`` + ``overrides``; an architecture value in neither is a one-line error naming --set."""
    values = apply_overrides(dict(known), overrides)
    missing = [key for key in ARCHITECTURE if key not in values]
    if missing:
        options = " ".join(f"--set {key}={ARCHITECTURE[key]}" for key in missing)
        raise ConfigError(
            f"{where}: the checkpoint does not state {', '.join(missing)} (weights cannot tell): "
            f"pass {options}, or --config NAME|YAML"
        )
    defaults = to_dict(BackboneConfig())
    filled = {key: defaults[key] for key in TRAINING if key not in values}
    if filled:
        log.warning("%s: not stated, BASE values used (change with --set): %s", where, filled)
    return {**defaults, **filled, **values}


def infer_config(
    state: dict[str, torch.Tensor],
    base: BackboneConfig | None = None,
    overrides: list[str] | None = None,
    where: str = "checkpoint",
    known: dict | None = None,
) -> BackboneConfig:
    """Shapes from ``state`` (our key names), everything else from ``base``, then ``overrides``.

    Without ``base``, the rest comes from ``known`` (what the checkpoint's own config states) and
    ``overrides``: a missing ``ARCHITECTURE`` value raises ConfigError naming the ``--set`` that
    supplies it; missing ``TRAINING`` values take BASE's, with a warning.
    """
    try:
        num_conv = _count(state, r"feature_encoder\.layers\.(\d+)\.conv\.weight$")
        num_layers = _count(state, r"encoder\.layers\.(\d+)\.ffn\.fc1\.weight$")
        depth = _count(state, r"pos_conv\.layers\.(\d+)\.conv\.weight$")
        embed_dim = state["projection.weight"].shape[0]
        ffn_dim = state["encoder.layers.0.ffn.fc1.weight"].shape[0]
    except KeyError as missing:
        raise ConfigError(f"{where}: not a wav2vec 2.0-style backbone (no {missing})") from None
    if base is not None:
        values = to_dict(base)
        if int(embed_dim) != base.embed_dim:
            raise ConfigError(
                f"{where}: weights have embed_dim {int(embed_dim)} but the config has {base.embed_dim}: "
                f"pass a config that matches (--set embed_dim={int(embed_dim)} --set num_heads=N)"
            )
    else:
        values = _stated_values(known or {}, overrides or [], where)
    strides = [layer[2] for layer in values["conv_layers"]]
    if num_conv != len(strides):
        raise ConfigError(
            f"{where}: {num_conv} conv layers but the config has {len(strides)}; "
            "pass a model config with the right strides (--config or --set conv_layers=...)"
        )
    conv_layers = []
    for index, stride in enumerate(strides):
        weight = state[f"feature_encoder.layers.{index}.conv.weight"]
        conv_layers.append([int(weight.shape[0]), int(weight.shape[2]), int(stride)])
    conv_norm = "layer_norm" if "feature_encoder.layers.1.norm.weight" in state else "group_norm"
    values.update(
        conv_layers=conv_layers,
        conv_norm=conv_norm,
        conv_bias="feature_encoder.layers.0.conv.bias" in state,
        embed_dim=int(embed_dim),
        num_layers=num_layers,
        ffn_dim=int(ffn_dim),
        use_alibi="alibi_scale" in state,
    )
    if WEIGHT_V in state:
        weight = state[WEIGHT_V]
        values.update(pos_conv_depth=1, pos_conv_kernel=int(weight.shape[2]))
    else:
        weight = state["pos_conv.layers.0.conv.weight"]
        values.update(pos_conv_depth=depth, pos_conv_width=int(weight.shape[2]) * depth)
    values["pos_conv_groups"] = int(embed_dim) // int(weight.shape[1])
    apply_overrides(values, overrides or [])
    return from_dict(BackboneConfig, values, where=where)
