"""fairseq wav2vec 2.0 / HuBERT / data2vec audio checkpoints (official ``.pt`` files or state dicts).

Official files pickle their config (omegaconf ``cfg`` or argparse ``args``): they are read with a
restricted unpickler (speechssl.convert.unpickle) and the architecture is taken from that config.
"""

from __future__ import annotations

import os
from pathlib import Path

import torch

from speechssl.config import from_dict, to_dict
from speechssl.convert.common import Converted, read_weights, require_plain_backbone
from speechssl.convert.fairseq_config import backbone_values
from speechssl.convert.infer import infer_config
from speechssl.convert.keymap import POS_CONV_BIAS, STACK_CONV, WEIGHT_G, WEIGHT_V, KeyTable, strip_prefix
from speechssl.convert.unpickle import load_restricted
from speechssl.io.atomic import atomic_path
from speechssl.models.config import BackboneConfig
from speechssl.objectives import objective_from

OURS_KEY, OBJECTIVE_KEY = "speechssl_backbone", "speechssl_objective"
# Fine-tuned (CTC) checkpoints wrap the pre-trained model.
PREFIXES = ("w2v_encoder.w2v_model.", "w2v_model.")


def key_table(conv_norm: str, pos_conv_depth: int) -> KeyTable:
    """Our names <-> fairseq names for the given conv norm layout and positional conv."""
    # fairseq conv blocks are Sequential(conv, dropout, norm, GELU); LayerNorm sits inside a
    # Sequential(TransposeLast, LayerNorm, TransposeLast).
    norm = "2.{p}" if conv_norm == "group_norm" else "2.1.{p}"
    if pos_conv_depth == 1:
        pos = [
            (WEIGHT_G, "encoder.pos_conv.0.weight_g"),
            (WEIGHT_V, "encoder.pos_conv.0.weight_v"),
            (POS_CONV_BIAS, "encoder.pos_conv.0.bias"),
        ]
    else:
        pos = [(STACK_CONV, "encoder.pos_conv.{i}.0.{p}")]
    layer = "encoder.layers.{i}."
    return KeyTable(
        [
            ("feature_encoder.layers.{i}.conv.{p}", "feature_extractor.conv_layers.{i}.0.{p}"),
            ("feature_encoder.layers.{i}.norm.{p}", "feature_extractor.conv_layers.{i}." + norm),
            ("feature_norm.{p}", "layer_norm.{p}"),
            ("projection.{p}", "post_extract_proj.{p}"),
            ("mask_embedding", "mask_emb"),
            ("encoder.layer_norm.{p}", "encoder.layer_norm.{p}"),
        ]
        + [(layer + f"attention.{n}_proj.{{p}}", layer + f"self_attn.{n}_proj.{{p}}") for n in "qkv"]
        + [
            (layer + "attention.out_proj.{p}", layer + "self_attn.out_proj.{p}"),
            (layer + "attention_norm.{p}", layer + "self_attn_layer_norm.{p}"),
            (layer + "ffn.fc1.{p}", layer + "fc1.{p}"),
            (layer + "ffn.fc2.{p}", layer + "fc2.{p}"),
            (layer + "final_norm.{p}", layer + "final_layer_norm.{p}"),
        ]
        + pos
    )


def _load(path: Path) -> dict:
    """safetensors, a plain torch file (weights_only) or an official pickled checkpoint (restricted)."""
    if path.suffix == ".safetensors":
        return read_weights(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: checkpoint not found")
    try:
        loaded = torch.load(path, map_location="cpu", weights_only=True)
    except Exception:  # pickled config objects: retry with the stand-ins of the restricted unpickler
        loaded = load_restricted(path)
    if not isinstance(loaded, dict):
        raise ValueError(f"{path}: expected a state dict or a checkpoint with a 'model' entry")
    return loaded


def read(
    path: str | os.PathLike, base: BackboneConfig | None = None, overrides: list[str] | None = None
) -> Converted:
    """A fairseq checkpoint or bare state dict; architecture from ``base``, else our own copy of the
    config, else the checkpoint's ``cfg``/``args``, else ``overrides`` (never guessed)."""
    path = Path(path)
    loaded = _load(path)
    state = loaded.get("model", loaded)
    if not isinstance(state, dict):
        raise ValueError(f"{path}: expected a state dict or a checkpoint with a 'model' entry")
    known, objective = None, str(loaded.get(OBJECTIVE_KEY) or "")
    if base is None and isinstance(loaded.get(OURS_KEY), dict):
        base = from_dict(BackboneConfig, loaded[OURS_KEY], where=f"{path}:{OURS_KEY}")
    elif base is None and (stated := backbone_values(loaded, str(path))) is not None:
        known, objective = stated[0], objective_from(fairseq_model=stated[1])
    state = strip_prefix(state, PREFIXES)
    conv_norm = "layer_norm" if "feature_extractor.conv_layers.0.2.1.weight" in state else "group_norm"
    depth = 1 if "encoder.pos_conv.0.weight_v" in state else 2
    mapped = key_table(conv_norm, depth).import_(state)
    config = infer_config(mapped.state, base, overrides, where=str(path), known=known)
    if "mask_embedding" not in mapped.state:
        mapped.state["mask_embedding"] = torch.empty(config.embed_dim).uniform_()
    return Converted(config, mapped.state, mapped.unmatched, objective)


def write(converted: Converted, out: str | os.PathLike) -> list[Path]:
    """Write ``{"model": fairseq state dict, "speechssl_backbone": config, "speechssl_objective"}``.

    Only tensors and plain values: it loads with ``weights_only=True``; fairseq users call
    ``model.load_state_dict(ckpt["model"], strict=False)`` (objective heads are not included).
    """
    config = converted.config
    require_plain_backbone(config, "fairseq")
    mapped = key_table(config.conv_norm, config.pos_conv_depth).export(converted.state)
    if mapped.unmatched:
        raise ValueError(f"no fairseq name for {mapped.unmatched[:5]}")
    state = {k: v.detach().contiguous().clone() for k, v in mapped.state.items()}
    with atomic_path(out) as tmp:
        torch.save({"model": state, OURS_KEY: to_dict(config), OBJECTIVE_KEY: converted.objective}, tmp)
    return [Path(out)]
