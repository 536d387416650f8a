"""The backbone settings of a fairseq checkpoint's own config: ``cfg`` (hydra/omegaconf, read as
plain dicts) or legacy ``args`` (argparse Namespace), pre-trained or wrapped by a fine-tuned model."""

from __future__ import annotations

import ast
from typing import Any

from speechssl.config import ConfigError

# Models whose encoder is our backbone; fine-tuned wrappers keep the pre-trained config in w2v_args.
PRETRAINED_MODELS = ("wav2vec2", "hubert", "data2vec_audio")
FINETUNED_MODELS = ("wav2vec_ctc", "hubert_ctc", "wav2vec_seq2seq", "hubert_seq2seq")
# fairseq model-config name -> BackboneConfig field.
RENAMES = {
    "encoder_embed_dim": "embed_dim",
    "encoder_layers": "num_layers",
    "encoder_attention_heads": "num_heads",
    "encoder_ffn_embed_dim": "ffn_dim",
    "conv_bias": "conv_bias",
    "feature_grad_mult": "feature_grad_mult",
    "dropout": "dropout",
    "attention_dropout": "attention_dropout",
    "activation_dropout": "activation_dropout",
    "dropout_input": "dropout_input",
    "dropout_features": "dropout_features",
    "encoder_layerdrop": "layerdrop",
    "layer_norm_first": "layer_norm_first",
    "conv_pos_groups": "pos_conv_groups",
    "pos_conv_depth": "pos_conv_depth",
}
# What a fine-tuning config replaces in the pre-trained model (fairseq's w2v arg overrides).
FINETUNE_RENAMES = {
    "dropout": "dropout",
    "attention_dropout": "attention_dropout",
    "activation_dropout": "activation_dropout",
    "dropout_input": "dropout_input",
    "feature_grad_mult": "feature_grad_mult",
    "layerdrop": "layerdrop",
}


def parse_conv_layers(text: str, where: str) -> list[list[int]]:
    """fairseq's ``conv_feature_layers`` string, e.g. ``[(512, 10, 5)] + [(512, 3, 2)] * 4``.

    Read with ``ast`` (literals, ``+`` and ``*`` only), never ``eval``.
    """

    def value(node: ast.AST) -> Any:
        if isinstance(node, ast.Constant) and isinstance(node.value, int):
            return node.value
        if isinstance(node, (ast.List, ast.Tuple)):
            return [value(item) for item in node.elts]
        if isinstance(node, ast.BinOp) and isinstance(node.op, (ast.Add, ast.Mult)):
            left, right = value(node.left), value(node.right)
            return left + right if isinstance(node.op, ast.Add) else left * right
        raise ValueError(ast.dump(node))

    try:
        layers = value(ast.parse(text, mode="eval").body)
        if all(isinstance(layer, list) and len(layer) == 3 for layer in layers):
            return [[int(v) for v in layer] for layer in layers]
    except (SyntaxError, ValueError, TypeError):
        pass
    raise ConfigError(f"{where}: conv_feature_layers {text!r} is not a list of (dim, kernel, stride)")


def model_and_task(checkpoint: dict, where: str) -> tuple[dict, dict] | None:
    """(model config, task config) of a fairseq checkpoint, or None when it holds no config.

    ``cfg`` (fairseq >= 0.10 hydra) has ``model`` and ``task`` sections; legacy ``args`` is one
    flat namespace holding both.
    """
    cfg, args = checkpoint.get("cfg"), checkpoint.get("args")
    if isinstance(cfg, dict) and isinstance(cfg.get("model"), dict):
        return cfg["model"], cfg.get("task") if isinstance(cfg.get("task"), dict) else {}
    if isinstance(args, dict) and args:
        return args, args
    return None


def _name(model: dict) -> str:
    return str(model.get("_name") or model.get("arch") or "")


def backbone_values(checkpoint: dict, where: str) -> tuple[dict, str] | None:
    """(BackboneConfig fields that the checkpoint's config states, fairseq model name) or None
    without a config; a fine-tuned model gives its pre-trained model's name.

    Fields the config lacks are left out (the caller names the ``--set`` that supplies them); an
    interpolation (``${...}``) counts as missing.
    """
    found = model_and_task(checkpoint, where)
    if found is None:
        return None
    model, task = found
    finetune: dict = {}
    if _name(model) in FINETUNED_MODELS or "w2v_args" in model:
        inner = model.get("w2v_args")
        if not isinstance(inner, dict):
            raise ConfigError(
                f"{where}: fine-tuned model without w2v_args (its config is in {model.get('w2v_path')!r}): "
                "convert the pre-trained checkpoint, or pass --config"
            )
        finetune = {ours: model[theirs] for theirs, ours in FINETUNE_RENAMES.items() if theirs in model}
        found = model_and_task({"cfg": inner} if "model" in inner else {"args": inner}, where)
        if found is None:
            raise ConfigError(f"{where}: w2v_args of the fine-tuned model is empty; pass --config")
        model, task = found
    name = _name(model)
    if name and not name.startswith(PRETRAINED_MODELS):
        raise ConfigError(f"{where}: fairseq model '{name}' is not one of {PRETRAINED_MODELS}")
    if model.get("activation_fn", "gelu") != "gelu":
        raise ConfigError(f"{where}: activation_fn={model['activation_fn']!r}; only gelu is supported")
    values = {ours: model[theirs] for theirs, ours in RENAMES.items() if theirs in model}
    if "extractor_mode" in model:
        values["conv_norm"] = "group_norm" if model["extractor_mode"] == "default" else "layer_norm"
    if "conv_feature_layers" in model:
        values["conv_layers"] = parse_conv_layers(str(model["conv_feature_layers"]), where)
    if "conv_pos" in model:
        depth = int(values.get("pos_conv_depth", 1))
        values["pos_conv_kernel" if depth == 1 else "pos_conv_width"] = model["conv_pos"]
    if "normalize" in task:
        values["normalize_waveform"] = task["normalize"]
    values.update(finetune)
    values["layer_norm_eps"] = 1e-5  # fairseq's LayerNorm/GroupNorm default, not a config field
    stated = {k: v for k, v in values.items() if not (isinstance(v, str) and "${" in v) and v is not None}
    return stated, name
