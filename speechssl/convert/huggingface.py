"""Hugging Face transformers folders (Wav2Vec2Model, HubertModel, Data2VecAudioModel), read and
written as config.json + model.safetensors without importing transformers."""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

import torch

from speechssl.config import from_dict, to_dict
from speechssl.convert.common import Converted, read_weights, require_plain_backbone, write_safetensors
from speechssl.convert.infer import infer_config
from speechssl.convert.keymap import (
    FEATURE_PAIRS,
    POS_CONV_BIAS,
    STACK_CONV,
    TRANSFORMER_PAIRS,
    WEIGHT_G,
    WEIGHT_V,
    KeyTable,
    strip_prefix,
)
from speechssl.io.atomic import atomic_write_text
from speechssl.models.config import BackboneConfig
from speechssl.objectives import hf_model_type, objective_from

log = logging.getLogger(__name__)

WEIGHTS, CONFIG, OURS_KEY = "model.safetensors", "config.json", "speechssl_backbone"
OBJECTIVE_KEY = "speechssl_objective"
MODEL_TYPES = {"wav2vec2": "Wav2Vec2Model", "hubert": "HubertModel", "data2vec-audio": "Data2VecAudioModel"}
# Checkpoints of the task heads (ForCTC, ForPreTraining) keep the backbone under one of these.
PREFIXES = ("wav2vec2.", "hubert.", "data2vec_audio.")
_POS = "encoder.pos_conv_embed."


def key_table(pos_conv_depth: int) -> KeyTable:
    """Our names <-> HF names; the positional conv differs between one conv and a stack."""
    if pos_conv_depth == 1:
        pos = [
            (WEIGHT_G, _POS + "conv.weight_g"),
            (WEIGHT_V, _POS + "conv.weight_v"),
            (POS_CONV_BIAS, _POS + "conv.bias"),
        ]
    else:
        pos = [(STACK_CONV, _POS + "layers.{i}.conv.{p}")]
    return KeyTable(FEATURE_PAIRS + TRANSFORMER_PAIRS + pos + [("mask_embedding", "masked_spec_embed")])


def default_model_type(config: BackboneConfig, objective: str = "") -> str:
    """The objective's own HF model type (HuBERT -> ``hubert``) when its layout fits the model,
    else the layout's: ``data2vec-audio`` for a positional conv stack, ``wav2vec2`` otherwise."""
    by_layout = "data2vec-audio" if config.pos_conv_depth > 1 else "wav2vec2"
    declared = hf_model_type(objective)
    if declared is None:
        return by_layout
    if (declared == "data2vec-audio") != (by_layout == "data2vec-audio"):
        log.info("%s model with pos_conv_depth=%d exports as %s", objective, config.pos_conv_depth, by_layout)
        return by_layout
    return declared


def hf_config(config: BackboneConfig, model_type: str | None = None, objective: str = "") -> dict:
    """The config.json of the equivalent transformers model (plus our exact config and objective)."""
    require_plain_backbone(config, "Hugging Face")
    if model_type is None:
        model_type = default_model_type(config, objective)
    if model_type not in MODEL_TYPES:
        raise ValueError(f"unknown Hugging Face model type '{model_type}'; choose from {sorted(MODEL_TYPES)}")
    if (model_type == "data2vec-audio") != (config.pos_conv_depth > 1):
        raise ValueError(f"model type '{model_type}' does not match pos_conv_depth={config.pos_conv_depth}")
    values = {
        "architectures": [MODEL_TYPES[model_type]],
        "model_type": model_type,
        "conv_dim": [layer[0] for layer in config.conv_layers],
        "conv_kernel": [layer[1] for layer in config.conv_layers],
        "conv_stride": [layer[2] for layer in config.conv_layers],
        "num_feat_extract_layers": len(config.conv_layers),
        "conv_bias": config.conv_bias,
        "feat_extract_norm": config.conv_norm.replace("_norm", ""),
        "feat_extract_activation": "gelu",
        "hidden_act": "gelu",
        "hidden_size": config.embed_dim,
        "num_hidden_layers": config.num_layers,
        "num_attention_heads": config.num_heads,
        "intermediate_size": config.ffn_dim,
        "hidden_dropout": config.dropout,
        "attention_dropout": config.attention_dropout,
        "activation_dropout": config.activation_dropout,
        "feat_proj_dropout": config.dropout_input,
        "feat_quantizer_dropout": config.dropout_features,
        "layerdrop": config.layerdrop,
        "layer_norm_eps": config.layer_norm_eps,
        "do_stable_layer_norm": config.layer_norm_first,
        "num_conv_pos_embedding_groups": config.pos_conv_groups,
        "torch_dtype": "float32",
        OURS_KEY: to_dict(config),
        OBJECTIVE_KEY: objective,
    }
    if model_type == "data2vec-audio":
        values.update(num_conv_pos_embeddings=config.pos_conv_depth, conv_pos_kernel_size=config.stack_kernel)
    else:
        values["num_conv_pos_embeddings"] = config.pos_conv_kernel
    if model_type == "hubert":
        values.update(feat_proj_layer_norm=True, conv_pos_batch_norm=False)
    return values


def config_from_hf(values: dict, where: str) -> BackboneConfig:
    """BackboneConfig from a transformers config.json (our own copy wins when present)."""
    if OURS_KEY in values:
        return from_dict(BackboneConfig, values[OURS_KEY], where=f"{where}:{OURS_KEY}")
    model_type = values.get("model_type", "wav2vec2")
    if model_type not in MODEL_TYPES:
        raise ValueError(f"{where}: model_type '{model_type}' is not one of {sorted(MODEL_TYPES)}")
    for key in ("hidden_act", "feat_extract_activation"):
        if values.get(key, "gelu") != "gelu":
            raise ValueError(f"{where}: {key}={values[key]!r}; only gelu is supported")
    if model_type == "hubert" and not values.get("feat_proj_layer_norm", True):
        raise ValueError(f"{where}: feat_proj_layer_norm=false has no equivalent in our backbone")
    out = to_dict(BackboneConfig())
    if "conv_dim" in values:
        out["conv_layers"] = [
            list(t) for t in zip(values["conv_dim"], values["conv_kernel"], values["conv_stride"])
        ]
    renames = {
        "conv_bias": "conv_bias",
        "hidden_size": "embed_dim",
        "num_hidden_layers": "num_layers",
        "num_attention_heads": "num_heads",
        "intermediate_size": "ffn_dim",
        "hidden_dropout": "dropout",
        "attention_dropout": "attention_dropout",
        "activation_dropout": "activation_dropout",
        "feat_proj_dropout": "dropout_input",
        "feat_quantizer_dropout": "dropout_features",
        "layerdrop": "layerdrop",
        "layer_norm_eps": "layer_norm_eps",
        "do_stable_layer_norm": "layer_norm_first",
        "num_conv_pos_embedding_groups": "pos_conv_groups",
    }
    out.update({ours: values[theirs] for theirs, ours in renames.items() if theirs in values})
    out["conv_norm"] = values.get("feat_extract_norm", "group") + "_norm"
    if model_type == "data2vec-audio":
        depth = values.get("num_conv_pos_embeddings", 5)
        out.update(pos_conv_depth=depth, pos_conv_width=values.get("conv_pos_kernel_size", 19) * depth)
    else:
        out.update(pos_conv_depth=1, pos_conv_kernel=values.get("num_conv_pos_embeddings", 128))
    return from_dict(BackboneConfig, out, where=where)


def _normalise_weight_norm(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Newer transformers save weight norm as parametrizations; older as weight_g / weight_v."""
    renames = {
        "conv.parametrizations.weight.original0": "conv.weight_g",
        "conv.parametrizations.weight.original1": "conv.weight_v",
    }
    out = {}
    for key, value in state.items():
        for old, new in renames.items():
            key = key.replace(old, new)
        out[key] = value
    return out


def read(
    path: str | os.PathLike, base: BackboneConfig | None = None, overrides: list[str] | None = None
) -> Converted:
    """A folder with config.json and model.safetensors (or pytorch_model.bin)."""
    folder = Path(path)
    if not (folder / CONFIG).is_file():
        raise FileNotFoundError(f"{folder}: expected a Hugging Face folder with {CONFIG}")
    weights = folder / WEIGHTS if (folder / WEIGHTS).is_file() else folder / "pytorch_model.bin"
    values = json.loads((folder / CONFIG).read_text(encoding="utf-8"))
    objective = str(values.get(OBJECTIVE_KEY) or objective_from(hf_type=str(values.get("model_type", ""))))
    if base is None:
        base = config_from_hf(values, str(folder / CONFIG))
    state = _normalise_weight_norm(strip_prefix(read_weights(weights), PREFIXES))
    mapped = key_table(base.pos_conv_depth).import_(state)
    config = infer_config(mapped.state, base, overrides, where=str(folder))
    if "mask_embedding" not in mapped.state:
        mapped.state["mask_embedding"] = torch.empty(config.embed_dim).uniform_()
    return Converted(config, mapped.state, mapped.unmatched, objective)


def write(converted: Converted, out: str | os.PathLike, model_type: str | None = None) -> list[Path]:
    """Write ``out/config.json`` and ``out/model.safetensors`` loadable by ``from_pretrained``;
    ``model_type`` None = :func:`default_model_type` of the model and its objective."""
    folder = Path(out)
    values = hf_config(converted.config, model_type, converted.objective)
    mapped = key_table(converted.config.pos_conv_depth).export(converted.state)
    if mapped.unmatched:
        raise ValueError(f"no Hugging Face name for {mapped.unmatched[:5]}")
    write_safetensors(mapped.state, folder / WEIGHTS, metadata={"format": "pt"})
    atomic_write_text(folder / CONFIG, json.dumps(values, indent=2) + "\n")
    return [folder / WEIGHTS, folder / CONFIG]
