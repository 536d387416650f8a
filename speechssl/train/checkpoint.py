"""Checkpoints: weights in ``NAME.safetensors``, trainer state in ``NAME.state.pt``, both atomic.

The state file (optimizer, scaler, RNG, sampler position) is written second, so its presence marks a
complete checkpoint; it records the sha256 of the weights file, checked on load, and is read with
``torch.load(weights_only=True)`` (no unpickling of objects).
"""

from __future__ import annotations

import hashlib
import os
import re
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from speechssl.io.atomic import atomic_path

WEIGHTS_SUFFIX = ".safetensors"
STATE_SUFFIX = ".state.pt"
BEST_NAME = "checkpoint_best"
DIGEST_KEY = "weights_sha256"
_NUMBERED = re.compile(r"^checkpoint_(\d+)\.safetensors$")


class CheckpointError(ValueError):
    """A checkpoint that cannot be read or written; the message names the file."""


def file_sha256(path: str | os.PathLike) -> str:
    """Hex sha256 of a file's bytes, read in 16 MiB blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 24), b""):
            digest.update(block)
    return digest.hexdigest()


def checkpoint_name(num_updates: int) -> str:
    return f"checkpoint_{num_updates}"


def save_checkpoint(
    directory: str | os.PathLike, name: str, weights: dict[str, torch.Tensor], state: dict
) -> Path:
    """Write ``directory/name.safetensors`` then ``directory/name.state.pt``; returns the weights path.

    Args:
        weights: parameter/buffer tensors (copied to CPU, contiguous; shared storage is fine).
        state: plain python values and tensors only; the weights' sha256 is added as ``DIGEST_KEY``.

    Raises:
        CheckpointError: the write failed (disk full, file-size limit...); the message names the
            newest complete checkpoint, which the failed write left intact.
    """
    directory = Path(directory)
    weights_path = directory / f"{name}{WEIGHTS_SUFFIX}"
    tensors = {k: v.detach().to("cpu", copy=True).contiguous() for k, v in weights.items()}
    replaced = False
    try:
        with atomic_path(weights_path) as tmp:
            save_file(tensors, str(tmp), metadata={"format": "pt"})
            digest = file_sha256(tmp)
        replaced = True
        with atomic_path(directory / f"{name}{STATE_SUFFIX}") as tmp:
            torch.save({**state, DIGEST_KEY: digest}, tmp)
    except (OSError, RuntimeError, SafetensorError) as error:  # torch reports write errors as RuntimeError
        if replaced:  # new weights beside an older state file: not a checkpoint any more
            state_path_of(weights_path).unlink(missing_ok=True)
        kept = [p for p in list_checkpoints(directory) if p != weights_path]
        fallback = f"{kept[-1].name} is intact" if kept else "no earlier checkpoint exists"
        raise CheckpointError(
            f"{weights_path}: writing the checkpoint failed ({_one_line(error)}); {fallback}: "
            "free disk space (or raise the file-size limit), then rerun with --resume"
        ) from None
    return weights_path


def _one_line(error: Exception) -> str:
    text = str(error).strip().splitlines()
    return f"{type(error).__name__}: {text[0] if text else ''}"


def load_weights(path: str | os.PathLike) -> dict[str, torch.Tensor]:
    """Tensors of a ``.safetensors`` file on CPU; CheckpointError naming the file when unreadable."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: checkpoint not found")
    try:
        return load_file(str(path), device="cpu")
    except (SafetensorError, OSError, ValueError, RuntimeError) as error:
        raise CheckpointError(f"{path}: corrupt weights file ({_one_line(error)})") from None


def load_checkpoint(weights_path: str | os.PathLike) -> tuple[dict[str, torch.Tensor], dict]:
    """(weights, trainer state) of the checkpoint whose weights file is ``weights_path``.

    The weights file must match the sha256 its state file recorded (older checkpoints without one
    are read as they are).
    """
    weights_path = Path(weights_path)
    state_path = state_path_of(weights_path)
    if not weights_path.is_file():
        raise CheckpointError(f"{weights_path}: checkpoint not found")
    if not state_path.is_file():
        raise CheckpointError(f"{state_path}: trainer state missing (incomplete checkpoint)")
    try:
        state = torch.load(state_path, map_location="cpu", weights_only=True)
    except Exception as error:  # torch raises pickle, zip and runtime errors for damaged files
        raise CheckpointError(f"{state_path}: corrupt trainer state ({_one_line(error)})") from None
    expected = state.pop(DIGEST_KEY, None) if isinstance(state, dict) else None
    if expected is not None and file_sha256(weights_path) != expected:
        raise CheckpointError(
            f"{weights_path}: corrupt weights file (sha256 differs from the one recorded in {state_path.name})"
        )
    return load_weights(weights_path), state


def state_path_of(weights_path: str | os.PathLike) -> Path:
    weights_path = Path(weights_path)
    return weights_path.with_name(weights_path.name[: -len(WEIGHTS_SUFFIX)] + STATE_SUFFIX)


def list_checkpoints(directory: str | os.PathLike) -> list[Path]:
    """Complete numbered checkpoints (weights + state present), oldest first."""
    directory = Path(directory)
    if not directory.is_dir():
        return []
    found = []
    for path in directory.iterdir():
        match = _NUMBERED.match(path.name)
        if match and state_path_of(path).is_file():
            found.append((int(match.group(1)), path))
    return [path for _, path in sorted(found)]


def latest_checkpoint(directory: str | os.PathLike) -> Path | None:
    checkpoints = list_checkpoints(directory)
    return checkpoints[-1] if checkpoints else None


def prune_checkpoints(directory: str | os.PathLike, keep_last: int) -> None:
    """Delete all but the ``keep_last`` newest numbered checkpoints (``checkpoint_best`` stays)."""
    for path in list_checkpoints(directory)[: -max(1, keep_last)]:
        state_path_of(path).unlink(missing_ok=True)
        path.unlink(missing_ok=True)


BACKBONE_PREFIX = "backbone."


def split_backbone_state(state: dict[str, torch.Tensor]) -> tuple[dict[str, torch.Tensor], list[str]]:
    """(``backbone.*`` tensors with the prefix removed, the other keys: teacher copies and objective
    heads) of an objective checkpoint's state dict; ({}, every key) when nothing has the prefix."""
    backbone = {k[len(BACKBONE_PREFIX):]: v for k, v in state.items() if k.startswith(BACKBONE_PREFIX)}
    return backbone, [k for k in state if not k.startswith(BACKBONE_PREFIX)]


def load_backbone_weights(path: str | os.PathLike) -> dict[str, torch.Tensor]:
    """Backbone state dict of an objective checkpoint: ``backbone.*`` keys with the prefix removed.

    Teacher copies (``teacher.backbone.*``) and objective heads are left out.
    """
    backbone, _ = split_backbone_state(load_weights(path))
    if not backbone:
        raise CheckpointError(f"{path}: no 'backbone.*' tensors (not a speechssl objective checkpoint?)")
    return backbone


def resolve_checkpoint(path: str | os.PathLike, prefer_best: bool) -> tuple[Path, Path]:
    """(weights ``.safetensors``, ``config.yaml``) of a checkpoint file or folder.

    A folder gives ``checkpoint_best`` when ``prefer_best`` and it exists, else its newest numbered
    checkpoint (the end of pre-training, what fairseq fine-tunes from), else its only
    ``*.safetensors`` (a converted model). ``config.yaml`` sits beside the weights.

    Raises:
        FileNotFoundError: naming the path when nothing usable is there.
    """
    location = Path(path)
    if location.is_dir():
        best = location / f"{BEST_NAME}{WEIGHTS_SUFFIX}"
        weights = best if prefer_best and best.is_file() else latest_checkpoint(location)
        if weights is None:
            candidates = sorted(location.glob(f"*{WEIGHTS_SUFFIX}"))
            if len(candidates) != 1:
                raise FileNotFoundError(
                    f"{location}: no numbered checkpoint or single *{WEIGHTS_SUFFIX} "
                    f"(found {[c.name for c in candidates]})"
                )
            weights = candidates[0]
    elif location.is_file() and location.suffix == WEIGHTS_SUFFIX:
        weights = location
    else:
        raise FileNotFoundError(f"{location}: pre-trained folder or checkpoint not found")
    config = weights.parent / "config.yaml"
    if not config.is_file():
        raise FileNotFoundError(f"{config}: checkpoint config not found (it holds the backbone sizes)")
    return weights, config


def read_backbone_config(config_path: str | os.PathLike):
    """(``BackboneConfig``, objective name or ``""``) of a checkpoint's ``config.yaml``.

    Run folders (pre-training, fine-tuning) nest the backbone under ``model``; converted model
    folders (``speechssl convert``) hold the backbone config itself.
    """
    from speechssl.config import from_dict, read_yaml_mapping
    from speechssl.models.config import BackboneConfig

    path = Path(config_path)
    values = read_yaml_mapping(path)  # ConfigError (a ValueError) naming the file if not a mapping
    model = values["model"] if isinstance(values.get("model"), dict) else values
    return from_dict(BackboneConfig, model, where=f"{path}:model"), str(values.get("objective", ""))


def load_pretrained_backbone_weights(path: str | os.PathLike) -> dict[str, torch.Tensor]:
    """Backbone state dict of an objective checkpoint (``backbone.`` prefix removed) or of a bare
    backbone file (a converted model, no prefix)."""
    try:
        return load_backbone_weights(path)
    except CheckpointError:
        return load_weights(path)
