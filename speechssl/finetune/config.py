"""The CTC fine-tuning run config, and loading a fine-tuned model back with it.

A fine-tuning folder holds ``config.yaml`` (this config, resolved), ``tokenizer.json`` and checkpoints;
``speechssl.train.finetuned`` reads the model and checkpoints without this config.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from speechssl.config import apply_overrides, from_dict, read_yaml_mapping, to_dict
from speechssl.models.config import BackboneConfig, load_backbone_config
from speechssl.objectives.ctc import CTCConfig, CTCObjective
from speechssl.text.tokenizer import Tokenizer
from speechssl.train.config import OptimConfig, ScheduleConfig, TrainerConfig
from speechssl.train.finetuned import load_ctc_model


@dataclass
class FinetuneDataConfig:
    """Labelled Kaldi data dirs (``wav.scp``, ``utt2num_samples``, ``text``).

    Attributes:
        train: fine-tuning data; its transcripts also train a SentencePiece model for ``bpe:N``.
        valid: dev set for the validation loss and greedy WER/CER (selects ``checkpoint_best``).
    """

    train: str = "data/train"
    valid: str = "data/dev"


@dataclass
class FinetuneConfig:
    """One fine-tuning run. ``model`` is used for training from scratch; with ``--pretrained``
    it is replaced by the pre-trained backbone's sizes. Either way the ``ctc`` regularisation
    (dropouts, layerdrop, frozen feature encoder) is applied on top, and the result is saved.

    Attributes:
        units: ``letters`` or ``bpe:N``.
        pretrained: pre-training folder (or its ``.safetensors``) the backbone starts from;
            empty = random initialisation (the from-scratch baseline).
    """

    units: str = "letters"
    pretrained: str = ""
    model: BackboneConfig = field(default_factory=BackboneConfig)
    ctc: CTCConfig = field(default_factory=CTCConfig)
    data: FinetuneDataConfig = field(default_factory=FinetuneDataConfig)
    optim: OptimConfig = field(
        default_factory=lambda: OptimConfig(name="adam", lr=5e-5, eps=1e-8, weight_decay=0.0)
    )
    schedule: ScheduleConfig = field(
        default_factory=lambda: ScheduleConfig(name="tri_stage", phase_ratio=(0.1, 0.4, 0.5))
    )
    trainer: TrainerConfig = field(default_factory=TrainerConfig)


def load_finetune_config(
    path: str | os.PathLike | None, overrides: list[str] | None = None
) -> FinetuneConfig:
    """Load YAML plus ``a.b=c`` overrides; ``model: tiny`` (a name or path) expands to its fields."""
    values = read_yaml_mapping(path)
    for override in [None, *(overrides or [])]:
        if override is not None:
            apply_overrides(values, [override])
        if isinstance(values.get("model"), (str, os.PathLike)):
            values["model"] = to_dict(load_backbone_config(values["model"]))
    return from_dict(FinetuneConfig, values, where=str(path) if path else "FinetuneConfig")


def load_finetuned(
    exp_dir: str | os.PathLike, checkpoint: str = "best"
) -> tuple[CTCObjective, Tokenizer, FinetuneConfig]:
    """Rebuild the fine-tuned CTC model of ``exp_dir`` in eval mode, with its tokenizer and config."""
    objective, tokenizer = load_ctc_model(exp_dir, checkpoint)
    return objective, tokenizer, load_finetune_config(Path(exp_dir) / "config.yaml")
