"""Our own checkpoint folder: ``model.safetensors`` (Backbone state dict) + ``config.yaml``.

Reading also takes a pre-training run folder (its newest checkpoint, ``backbone.`` keys) and keeps
the name of the objective that trained the model (run config, or the weights' metadata).
"""

from __future__ import annotations

import os
from pathlib import Path

from safetensors import safe_open

from speechssl.config import apply_overrides, from_dict, save_config, to_dict
from speechssl.convert.common import Converted, read_weights, write_safetensors
from speechssl.models.config import BackboneConfig
from speechssl.train.checkpoint import read_backbone_config, resolve_checkpoint, split_backbone_state

WEIGHTS, CONFIG = "model.safetensors", "config.yaml"


def read(
    path: str | os.PathLike, base: BackboneConfig | None = None, overrides: list[str] | None = None
) -> Converted:
    """Folder with model.safetensors + config.yaml (``base``/``overrides`` replace the yaml)."""
    folder = Path(path)
    if (folder / WEIGHTS).is_file():
        weights, config_path = folder / WEIGHTS, folder / CONFIG
    else:
        try:
            weights, config_path = resolve_checkpoint(folder, prefer_best=False)
        except FileNotFoundError:
            raise FileNotFoundError(
                f"{folder}: expected a folder with {WEIGHTS} and {CONFIG}, or a pre-training run folder"
            ) from None
    state = read_weights(weights)
    backbone, ignored = split_backbone_state(state)
    if backbone:  # an objective checkpoint; a bare backbone file has no prefix
        state = backbone
    else:
        ignored = []
    with safe_open(str(weights), "pt") as f:
        objective = (f.metadata() or {}).get("objective", "")
    if base is not None:
        return Converted(base, state, ignored, objective)
    config, run_objective = read_backbone_config(config_path)
    if overrides:
        config = from_dict(BackboneConfig, apply_overrides(to_dict(config), overrides), where=str(config_path))
    return Converted(config, state, ignored, objective or run_objective)


def write(converted: Converted, out: str | os.PathLike) -> list[Path]:
    """Write ``out/model.safetensors`` and ``out/config.yaml``."""
    folder = Path(out)
    metadata = {"format": "speechssl", "objective": converted.objective}
    write_safetensors(converted.state, folder / WEIGHTS, metadata=metadata)
    save_config(converted.config, folder / CONFIG)
    return [folder / WEIGHTS, folder / CONFIG]
