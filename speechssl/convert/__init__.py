"""Checkpoint converters between speechssl, fairseq, Hugging Face transformers and torchaudio.

Each format module has ``read(path, base, overrides) -> Converted`` and ``write(converted, out)``.
"""

from __future__ import annotations

import os
from pathlib import Path

from speechssl.convert import fairseq, huggingface, native, torchaudio_format
from speechssl.convert.common import Converted, validate
from speechssl.models.backbone import Backbone
from speechssl.models.config import load_backbone_config

FORMATS = {"speechssl": native, "fairseq": fairseq, "hf": huggingface, "torchaudio": torchaudio_format}


def read_checkpoint(
    fmt: str,
    path: str | os.PathLike,
    config: str | os.PathLike | None = None,
    overrides: list[str] | None = None,
) -> tuple[Converted, Backbone]:
    """Read ``path`` in format ``fmt``; returns the converted record and the loaded Backbone.

    ``config`` (a name like ``large`` or a YAML path) supplies what the weights cannot say
    (strides, heads, pre/post-LN, dropouts); ``overrides`` are ``key=value`` strings on top.
    """
    if fmt not in FORMATS:
        raise ValueError(f"unknown checkpoint format '{fmt}'; choose from {sorted(FORMATS)}")
    base = load_backbone_config(config, overrides) if config is not None else None
    converted = FORMATS[fmt].read(path, base, None if base is not None else overrides)
    return converted, validate(converted, str(path))


def convert(
    src: str,
    dst: str,
    path: str | os.PathLike,
    out: str | os.PathLike,
    config: str | os.PathLike | None = None,
    overrides: list[str] | None = None,
    hf_model_type: str | None = None,
) -> list[Path]:
    """Convert ``path`` from format ``src`` to ``dst`` at ``out``; returns the files written."""
    if dst not in FORMATS:
        raise ValueError(f"unknown checkpoint format '{dst}'; choose from {sorted(FORMATS)}")
    converted, _ = read_checkpoint(src, path, config, overrides)
    if dst == "hf":
        return huggingface.write(converted, out, model_type=hf_model_type)
    return FORMATS[dst].write(converted, out)


__all__ = ["FORMATS", "Converted", "convert", "read_checkpoint"]
