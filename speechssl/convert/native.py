"""Our own checkpoint folder: ``model.safetensors`` (Backbone state dict) + ``config.yaml``.

Objective checkpoints whose keys carry a ``backbone.`` prefix are accepted when reading.
"""

from __future__ import annotations

import os
from pathlib import Path

from speechssl.config import save_config
from speechssl.convert.common import Converted, read_weights, write_safetensors
from speechssl.models.config import BackboneConfig, load_backbone_config

WEIGHTS, CONFIG = "model.safetensors", "config.yaml"


def read(
    path: str | os.PathLike, base: BackboneConfig | None = None, overrides: list[str] | None = None
) -> Converted:
    """Folder with model.safetensors + config.yaml (``base``/``overrides`` replace the yaml)."""
    folder = Path(path)
    if not (folder / WEIGHTS).is_file():
        raise FileNotFoundError(f"{folder}: expected a folder with {WEIGHTS} and {CONFIG}")
    state = read_weights(folder / WEIGHTS)
    if any(k.startswith("backbone.") for k in state):
        prefix = len("backbone.")
        ignored = [k for k in state if not k.startswith("backbone.")]
        state = {k[prefix:]: v for k, v in state.items() if k.startswith("backbone.")}
    else:
        ignored = []
    if base is not None:
        config = base
    else:
        config = load_backbone_config(folder / CONFIG, overrides)
    return Converted(config, state, ignored)


def write(converted: Converted, out: str | os.PathLike) -> list[Path]:
    """Write ``out/model.safetensors`` and ``out/config.yaml``."""
    folder = Path(out)
    write_safetensors(converted.state, folder / WEIGHTS, metadata={"format": "speechssl"})
    save_config(converted.config, folder / CONFIG)
    return [folder / WEIGHTS, folder / CONFIG]
