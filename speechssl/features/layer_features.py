"""Transformer layer outputs (50 Hz) of a pre-trained backbone: HuBERT's later-iteration k-means input.

Loads any speechssl checkpoint folder or file (``*.safetensors`` + ``config.yaml`` beside it).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import yaml

from speechssl.config import from_dict
from speechssl.io.audio import SAMPLE_RATE
from speechssl.models import Backbone, BackboneConfig, build_backbone
from speechssl.train.checkpoint import (
    BEST_NAME,
    WEIGHTS_SUFFIX,
    CheckpointError,
    latest_checkpoint,
    load_backbone_weights,
    load_weights,
)


@dataclass
class LayerFeatureConfig:
    """Settings of a layer dump.

    Attributes:
        layer: Transformer layer whose output is dumped, 1-based as fairseq (1 = first layer).
        device: ``cpu`` or ``cuda``.
        max_batch_samples: padded audio samples per batch (utterances are batched by length).
    """

    layer: int = 6
    device: str = "cpu"
    max_batch_samples: int = 16000 * 60


def find_weights(checkpoint: str | os.PathLike) -> tuple[Path, Path]:
    """(weights .safetensors, config.yaml) of a checkpoint file or folder.

    A folder's weights are ``checkpoint_best``, else its newest numbered checkpoint, else its only
    ``*.safetensors``; ``config.yaml`` sits in the folder (or next to the file).
    """
    path = Path(checkpoint)
    if path.is_dir():
        best = path / f"{BEST_NAME}{WEIGHTS_SUFFIX}"
        weights = best if best.is_file() else latest_checkpoint(path)
        if weights is None:
            candidates = sorted(path.glob(f"*{WEIGHTS_SUFFIX}"))
            if len(candidates) != 1:
                raise FileNotFoundError(
                    f"{path}: no {best.name}, numbered checkpoint or single *{WEIGHTS_SUFFIX} "
                    f"(found {[c.name for c in candidates]})"
                )
            weights = candidates[0]
        folder = path
    elif path.is_file() and path.suffix == WEIGHTS_SUFFIX:
        weights, folder = path, path.parent
    else:
        raise FileNotFoundError(f"{path}: not a checkpoint folder or .safetensors file")
    config = folder / "config.yaml"
    if not config.is_file():
        raise FileNotFoundError(f"{config}: checkpoint config not found (needs a 'model' section)")
    return weights, config


def load_backbone(checkpoint: str | os.PathLike) -> Backbone:
    """The pre-trained backbone of a checkpoint (objective weights' ``backbone.`` prefix removed).

    Raises:
        ValueError / ConfigError: a config that is not a backbone config, or weights that do not fit.
    """
    weights_path, config_path = find_weights(checkpoint)
    values = yaml.safe_load(config_path.read_text(encoding="utf-8")) or {}
    if not isinstance(values, dict):
        raise ValueError(f"{config_path}: expected a mapping (a run config or a backbone config)")
    # Run folders (pre-training, fine-tuning) nest the backbone under ``model``; converted model
    # folders (speechssl convert) hold the backbone config itself.
    model = values["model"] if isinstance(values.get("model"), dict) else values
    backbone = build_backbone(from_dict(BackboneConfig, model, where=f"{config_path}:model"))
    try:
        state = load_backbone_weights(weights_path)
    except CheckpointError:
        state = load_weights(weights_path)  # a bare backbone file (converted model): no prefix
    missing, unexpected = backbone.load_state_dict(state, strict=False)
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
        self.backbone = backbone.to(config.device).eval()
        self.config = config
        self.kind = f"layer{config.layer}"
        self.source = source  # recorded with the shards, so labels know which model made them
        self.dim = backbone.config.embed_dim
        self.frame_rate = SAMPLE_RATE / backbone.config.downsampling

    def num_frames(self, num_samples: int) -> int:
        return int(self.backbone.frame_lengths(torch.tensor([num_samples]))[0])

    @torch.no_grad()
    def extract(self, batch: list[np.ndarray]) -> list[np.ndarray]:
        """Each (samples,) float32 -> (frames, embed_dim) float32, frames as ``num_frames``."""
        lengths = torch.tensor([len(x) for x in batch])
        audio = torch.zeros(len(batch), int(lengths.max()))
        for row, samples in enumerate(batch):
            audio[row, : len(samples)] = torch.from_numpy(samples)
        device = self.config.device
        output, _ = self.backbone(audio.to(device), lengths.to(device), output_layers=True)
        hidden = output.layer_outputs[self.config.layer - 1].float().cpu()
        frames = self.backbone.frame_lengths(lengths).tolist()
        return [hidden[row, :n].numpy() for row, n in enumerate(frames)]
