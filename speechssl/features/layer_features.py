"""Transformer layer outputs (50 Hz) of a pre-trained backbone: HuBERT's later-iteration k-means input.

Loads any speechssl checkpoint folder or file (``*.safetensors`` + ``config.yaml`` beside it).
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np
import torch

from speechssl.io.audio import SAMPLE_RATE
from speechssl.models import Backbone, build_backbone
from speechssl.train.checkpoint import (
    load_pretrained_backbone_weights,
    read_backbone_config,
    resolve_checkpoint,
)


@dataclass
class LayerFeatureConfig:
    """Settings of a layer dump.

    Attributes:
        layer: Transformer layer whose output is dumped, 1-based as fairseq (1 = first layer).
        final_norm: dump the top layer after the encoder's final LayerNorm of a pre-LN model (HF's
            ``last_hidden_state``); by default every layer is dumped before it, as fairseq's
            ``extract_features(layer=L)``. Post-LN models have no final LayerNorm: no difference.
        device: ``cpu`` or ``cuda``.
        max_batch_samples: padded audio samples per batch (utterances are batched by length).
    """

    layer: int = 6
    final_norm: bool = False
    device: str = "cpu"
    max_batch_samples: int = SAMPLE_RATE * 60


def load_backbone(checkpoint: str | os.PathLike) -> Backbone:
    """The pre-trained backbone of a checkpoint folder (``checkpoint_best`` first) or file.

    Raises:
        ValueError / ConfigError: a config that is not a backbone config, or weights that do not fit.
    """
    weights_path, config_path = resolve_checkpoint(checkpoint, prefer_best=True)
    backbone = build_backbone(read_backbone_config(config_path)[0])
    missing, unexpected = backbone.load_state_dict(load_pretrained_backbone_weights(weights_path), strict=False)
    if missing or unexpected:
        raise ValueError(
            f"{weights_path}: weights do not fit the model of {config_path}; "
            f"missing {missing[:3]}, unexpected {unexpected[:3]}"
        )
    return backbone


class LayerExtractor:
    """``FeatureExtractor`` of one Transformer layer's output for ``dump_shard``."""

    def __init__(self, backbone: Backbone, config: LayerFeatureConfig, source: str = "") -> None:
        num_layers = backbone.config.num_layers
        if not 1 <= config.layer <= num_layers:
            raise ValueError(f"--layer {config.layer}: the model has layers 1..{num_layers}")
        if config.final_norm and config.layer != num_layers:
            raise ValueError(f"--final-norm applies to the top layer only (--layer {num_layers})")
        self.backbone = backbone.to(config.device).eval()
        self.config = config
        self.kind = f"layer{config.layer}" + ("_final_norm" if config.final_norm else "")
        self.source = source  # recorded with the shards, so labels know which model made them
        self.dim = backbone.config.embed_dim
        self.frame_rate = SAMPLE_RATE / backbone.config.downsampling

    def num_frames(self, num_samples: int) -> int:
        return self.backbone.config.num_frames(num_samples)

    @torch.no_grad()
    def extract(self, batch: list[np.ndarray]) -> list[np.ndarray]:
        """Each (samples,) float32 -> (frames, embed_dim) float32, frames as ``num_frames``."""
        lengths = torch.tensor([len(x) for x in batch])
        audio = torch.zeros(len(batch), int(lengths.max()))
        for row, samples in enumerate(batch):
            audio[row, : len(samples)] = torch.from_numpy(samples)
        device = self.config.device
        output, _ = self.backbone(audio.to(device), lengths.to(device), output_layers=True)
        hidden = output.output if self.config.final_norm else output.layer_outputs[self.config.layer - 1]
        hidden = hidden.float().cpu()
        frames = self.backbone.frame_lengths(lengths).tolist()
        return [hidden[row, :n].numpy() for row, n in enumerate(frames)]
