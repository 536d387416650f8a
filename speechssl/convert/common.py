"""Shared pieces of the converters: the converted-model record, safe weight I/O, validation.

Weights are read from safetensors or with ``torch.load(weights_only=True)``; fairseq's pickled
checkpoints go through the restricted unpickler of speechssl.convert.unpickle.
"""

from __future__ import annotations

import logging
import os
import pickle
from dataclasses import dataclass, field
from pathlib import Path

import safetensors.torch
import torch

from speechssl.io.atomic import atomic_path
from speechssl.models.backbone import Backbone
from speechssl.models.config import BackboneConfig

log = logging.getLogger(__name__)


@dataclass
class Converted:
    """A backbone in our naming: its config, its weights, the source keys that were dropped, and the
    objective that trained it when the source says (a name of the objective table, else "")."""

    config: BackboneConfig
    state: dict[str, torch.Tensor]
    ignored: list[str] = field(default_factory=list)
    objective: str = ""


def read_weights(path: str | os.PathLike) -> dict:
    """A ``.safetensors`` file or a torch file loaded with ``weights_only=True``."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: weights file not found")
    if path.suffix == ".safetensors":
        return safetensors.torch.load_file(str(path))
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, AttributeError) as error:
        raise ValueError(
            f"{path}: cannot load with torch.load(weights_only=True) ({str(error).splitlines()[0]}); "
            "an official fairseq checkpoint (pickled config) converts with --from fairseq"
        ) from None


def write_safetensors(
    state: dict[str, torch.Tensor], path: str | os.PathLike, metadata: dict | None = None
) -> None:
    """Save ``state`` (made contiguous) as safetensors, atomically."""
    tensors = {k: v.detach().contiguous() for k, v in state.items()}
    with atomic_path(path) as tmp:
        safetensors.torch.save_file(tensors, str(tmp), metadata=metadata)


def validate(converted: Converted, where: str) -> Backbone:
    """Build the backbone and load the weights strictly; a mismatch is a one-line error."""
    with torch.device("meta"):  # no random init of weights that are replaced right away
        model = Backbone(converted.config)
    result = model.load_state_dict(converted.state, strict=False, assign=True)
    if result.missing_keys or result.unexpected_keys:
        raise ValueError(
            f"{where}: weights do not match the model config (missing {result.missing_keys[:5]}, "
            f"unexpected {result.unexpected_keys[:5]}); check --config / --set"
        )
    if converted.ignored:
        log.info(
            "%s: ignored %d non-backbone tensors, e.g. %s",
            where,
            len(converted.ignored),
            converted.ignored[:3],
        )
    return model


def require_plain_backbone(config: BackboneConfig, fmt: str) -> None:
    """Formats other than ours have no place for the ALiBi scale."""
    if config.use_alibi:
        raise ValueError(f"{fmt} has no ALiBi attention bias; store this model in speechssl format")
