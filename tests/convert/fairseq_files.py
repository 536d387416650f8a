"""Official-looking fairseq checkpoints built in the test: real omegaconf ``DictConfig``s whose
structured sections are classes of fake ``fairseq.*`` modules (as the real files name them), or a
legacy argparse ``Namespace``, in fairseq's checkpoint layout (``checkpoint_utils.save_state``)."""

import argparse
import sys
import types
from dataclasses import dataclass
from typing import Any, Optional

import numpy as np
import torch
from omegaconf import OmegaConf

from speechssl.convert import fairseq
from speechssl.models.config import BackboneConfig

# fairseq's own spelling of the tiny models' feature encoder (tiny_models.CONV).
CONV_TEXT = "[(32, 10, 5)] + [(32, 3, 2)] * 4 + [(32, 2, 2)] * 2"


@dataclass
class Wav2Vec2Config:
    _name: Optional[str] = "wav2vec2"
    extractor_mode: str = "default"
    encoder_layers: int = 12
    encoder_embed_dim: int = 768
    encoder_ffn_embed_dim: int = 3072
    encoder_attention_heads: int = 12
    activation_fn: str = "gelu"
    layer_norm_first: bool = False
    conv_feature_layers: str = "[(512, 10, 5)] + [(512, 3, 2)] * 4 + [(512,2,2)] + [(512,2,2)]"
    conv_bias: bool = False
    conv_pos: int = 128
    conv_pos_groups: int = 16
    pos_conv_depth: int = 1
    dropout: float = 0.1
    attention_dropout: float = 0.1
    activation_dropout: float = 0.0
    encoder_layerdrop: float = 0.0
    dropout_input: float = 0.0
    dropout_features: float = 0.0
    feature_grad_mult: float = 1.0


@dataclass
class AudioPretrainingConfig:
    _name: Optional[str] = "audio_pretraining"
    data: str = "/checkpoint/manifests"
    normalize: bool = False
    sample_rate: int = 16000


MODULES = {
    "fairseq.models.wav2vec.wav2vec2": Wav2Vec2Config,
    "fairseq.tasks.audio_pretraining": AudioPretrainingConfig,
}


def install_fake_fairseq(monkeypatch) -> None:
    """Make the config classes picklable under fairseq's module names (for writing only)."""
    for name, cls in MODULES.items():
        parts = name.split(".")
        for depth in range(1, len(parts) + 1):  # import of a.b.c imports a and a.b first
            package = ".".join(parts[:depth])
            if package not in sys.modules:
                monkeypatch.setitem(sys.modules, package, types.ModuleType(package))
        monkeypatch.setattr(cls, "__module__", name)
        setattr(sys.modules[name], cls.__name__, cls)


def model_fields(config: BackboneConfig, name: str) -> dict[str, Any]:
    """fairseq model-config fields describing ``config``."""
    return dict(
        _name=name,
        extractor_mode="default" if config.conv_norm == "group_norm" else "layer_norm",
        encoder_layers=config.num_layers,
        encoder_embed_dim=config.embed_dim,
        encoder_ffn_embed_dim=config.ffn_dim,
        encoder_attention_heads=config.num_heads,
        layer_norm_first=config.layer_norm_first,
        conv_feature_layers=CONV_TEXT,
        conv_bias=config.conv_bias,
        conv_pos=config.pos_conv_kernel if config.pos_conv_depth == 1 else config.pos_conv_width,
        conv_pos_groups=config.pos_conv_groups,
        pos_conv_depth=config.pos_conv_depth,
        dropout=config.dropout,
        attention_dropout=config.attention_dropout,
        activation_dropout=config.activation_dropout,
        encoder_layerdrop=config.layerdrop,
        dropout_input=config.dropout_input,
        dropout_features=config.dropout_features,
        feature_grad_mult=config.feature_grad_mult,
    )


def structured_cfg(config: BackboneConfig, name: str = "wav2vec2"):
    """``cfg`` as fairseq-hydra-train pickles it: structured model and task sections."""
    return OmegaConf.create(
        {
            "_name": None,
            "common": {"seed": 1, "fp16": True, "log_interval": 200},
            "model": OmegaConf.structured(Wav2Vec2Config(**model_fields(config, name))),
            "task": OmegaConf.structured(AudioPretrainingConfig(normalize=config.normalize_waveform)),
            "criterion": {"_name": "hubert" if name == "hubert" else "wav2vec"},
        }
    )


def fairseq_state(model: torch.nn.Module, prefix: str = "") -> dict[str, torch.Tensor]:
    config = model.config
    state = fairseq.key_table(config.conv_norm, config.pos_conv_depth).export(model.state_dict()).state
    return {prefix + key: value for key, value in state.items()}


def checkpoint(model_state: dict, cfg=None, args=None, **extra) -> dict:
    """The layout of fairseq's ``save_state``: config, weights, optimizer history, extra state."""
    return {
        "cfg": cfg,
        "args": args,
        "model": model_state,
        "optimizer_history": [
            {
                "criterion_name": "Wav2vecCriterion",
                "optimizer_name": "FairseqAdam",
                "lr_scheduler_state": {"best": 2.5},
                "num_updates": 400000,
            }
        ],
        "extra_state": {
            "epoch": 3,
            "train_iterator": {"epoch": 3, "iterations_in_epoch": 17, "shuffle": True},
            "previous_training_time": np.float64(12345.5),
        },
        "last_optimizer_state": {"state": {0: {"step": torch.tensor(3.0)}}, "param_groups": [{"lr": 5e-4}]},
        **extra,
    }


def namespace_args(config: BackboneConfig) -> argparse.Namespace:
    """Legacy ``args`` (wav2vec_small.pt): one flat namespace with model and task options."""
    fields = model_fields(config, "wav2vec2")
    fields.pop("_name")
    fields.pop("pos_conv_depth")  # wav2vec_small.pt predates the data2vec stack option
    return argparse.Namespace(arch="wav2vec2", task="audio_pretraining", normalize=config.normalize_waveform,
                              sample_rate=16000, criterion="wav2vec", **fields)  # fmt: skip
