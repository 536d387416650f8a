"""torchaudio ``Wav2Vec2Model`` folders: ``model.safetensors`` + ``config.json`` (the keyword
arguments of ``torchaudio.models.wav2vec2_model``), plus our exact config and mask embedding."""

from __future__ import annotations

import json
import os
from pathlib import Path

import torch
import yaml

from speechssl.config import from_dict, save_config, to_dict
from speechssl.convert.common import Converted, read_weights, require_plain_backbone, write_safetensors
from speechssl.convert.infer import infer_config
from speechssl.convert.keymap import (
    FEATURE_PAIRS,
    POS_CONV_BIAS,
    TRANSFORMER_PAIRS,
    WEIGHT_G,
    WEIGHT_V,
    KeyTable,
)
from speechssl.io.atomic import atomic_write_text
from speechssl.models.config import BackboneConfig

WEIGHTS, CONFIG, OURS, EXTRA = "model.safetensors", "config.json", "speechssl.yaml", "extra.safetensors"
_POS = "encoder.transformer.pos_conv_embed.conv."


def _nest(theirs: str) -> str:
    """Hugging Face name -> torchaudio name (torchaudio nests the projection and Transformer)."""
    if theirs.startswith("encoder."):
        return "encoder.transformer." + theirs[len("encoder.") :]
    if theirs.startswith("feature_projection."):
        return "encoder." + theirs
    return theirs


TABLE = KeyTable(
    [(ours, _nest(theirs)) for ours, theirs in FEATURE_PAIRS + TRANSFORMER_PAIRS]
    + [
        (WEIGHT_G, _POS + "parametrizations.weight.original0"),
        (WEIGHT_V, _POS + "parametrizations.weight.original1"),
        (POS_CONV_BIAS, _POS + "bias"),
    ]
)


def torchaudio_kwargs(config: BackboneConfig) -> dict:
    """``wav2vec2_model(**kwargs)`` arguments equivalent to ``config``."""
    if config.pos_conv_depth != 1:
        raise ValueError("torchaudio has no data2vec positional conv stack; use hf or speechssl format")
    require_plain_backbone(config, "torchaudio")
    return {
        "extractor_mode": config.conv_norm,
        "extractor_conv_layer_config": [list(layer) for layer in config.conv_layers],
        "extractor_conv_bias": config.conv_bias,
        "encoder_embed_dim": config.embed_dim,
        "encoder_projection_dropout": config.dropout_input,
        "encoder_pos_conv_kernel": config.pos_conv_kernel,
        "encoder_pos_conv_groups": config.pos_conv_groups,
        "encoder_num_layers": config.num_layers,
        "encoder_num_heads": config.num_heads,
        "encoder_attention_dropout": config.attention_dropout,
        "encoder_ff_interm_features": config.ffn_dim,
        "encoder_ff_interm_dropout": config.activation_dropout,
        "encoder_dropout": config.dropout,
        "encoder_layer_norm_first": config.layer_norm_first,
        "encoder_layer_drop": config.layerdrop,
        "aux_num_out": None,
    }


def _config_from_kwargs(kwargs: dict, where: str) -> BackboneConfig:
    values = to_dict(BackboneConfig())
    values.update(
        conv_norm=kwargs["extractor_mode"],
        conv_layers=kwargs["extractor_conv_layer_config"],
        conv_bias=kwargs["extractor_conv_bias"],
        embed_dim=kwargs["encoder_embed_dim"],
        dropout_input=kwargs["encoder_projection_dropout"],
        pos_conv_kernel=kwargs["encoder_pos_conv_kernel"],
        pos_conv_groups=kwargs["encoder_pos_conv_groups"],
        num_layers=kwargs["encoder_num_layers"],
        num_heads=kwargs["encoder_num_heads"],
        attention_dropout=kwargs["encoder_attention_dropout"],
        ffn_dim=kwargs["encoder_ff_interm_features"],
        activation_dropout=kwargs["encoder_ff_interm_dropout"],
        dropout=kwargs["encoder_dropout"],
        layer_norm_first=kwargs["encoder_layer_norm_first"],
        layerdrop=kwargs["encoder_layer_drop"],
    )
    return from_dict(BackboneConfig, values, where=where)


def read(
    path: str | os.PathLike, base: BackboneConfig | None = None, overrides: list[str] | None = None
) -> Converted:
    """A folder (config.json + model.safetensors) or a bare state-dict file (config from shapes)."""
    path = Path(path)
    weights = path / WEIGHTS if path.is_dir() else path
    mapped = TABLE.import_(read_weights(weights))
    ignored = mapped.unmatched  # e.g. the CTC head ``aux.*``
    state = mapped.state
    if path.is_dir() and (path / EXTRA).is_file():
        state.update(read_weights(path / EXTRA))
    if base is None and path.is_dir() and (path / OURS).is_file():
        base = from_dict(
            BackboneConfig, yaml.safe_load((path / OURS).read_text(encoding="utf-8")), str(path / OURS)
        )
    elif base is None and path.is_dir() and (path / CONFIG).is_file():
        kwargs = json.loads((path / CONFIG).read_text(encoding="utf-8"))
        base = _config_from_kwargs(kwargs, str(path / CONFIG))
    config = infer_config(state, base, overrides, where=str(path))
    if "mask_embedding" not in state:
        # torchaudio has no mask embedding; a fresh one keeps the backbone loadable for fine-tuning.
        state["mask_embedding"] = torch.empty(config.embed_dim).uniform_()
    return Converted(config, state, ignored)


def write(converted: Converted, out: str | os.PathLike) -> list[Path]:
    """Write the torchaudio folder; the mask embedding goes to extra.safetensors."""
    folder = Path(out)
    kwargs = torchaudio_kwargs(converted.config)
    state = {k: v for k, v in converted.state.items() if k != "mask_embedding"}
    mapped = TABLE.export(state)
    if mapped.unmatched:
        raise ValueError(f"no torchaudio name for {mapped.unmatched[:5]}")
    write_safetensors(mapped.state, folder / WEIGHTS, metadata={"format": "torchaudio.wav2vec2_model"})
    write_safetensors({"mask_embedding": converted.state["mask_embedding"]}, folder / EXTRA)
    atomic_write_text(folder / CONFIG, json.dumps(kwargs, indent=2) + "\n")
    save_config(converted.config, folder / OURS)
    return [folder / WEIGHTS, folder / EXTRA, folder / CONFIG, folder / OURS]
