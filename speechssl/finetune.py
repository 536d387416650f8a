"""The CTC fine-tuning run config, and loading a fine-tuned model back from its experiment folder.

A fine-tuning folder holds ``config.yaml`` (this config, resolved), ``tokenizer.json`` and checkpoints.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path


from speechssl.config import apply_overrides, from_dict, read_yaml_mapping, to_dict
from speechssl.models.config import BackboneConfig, load_backbone_config
from speechssl.objectives.ctc import CTCConfig, CTCObjective
from speechssl.text.tokenizer import Tokenizer, load_tokenizer
from speechssl.train.config import OptimConfig, ScheduleConfig, TrainerConfig


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


def find_checkpoint(exp_dir: str | os.PathLike, name: str = "best") -> Path:
    """``checkpoint_best`` (``name='best'``), ``last`` (newest numbered) or a named checkpoint."""
    from speechssl.train import checkpoint as ckpt

    exp_dir = Path(exp_dir)
    if name == "last":
        path = ckpt.latest_checkpoint(exp_dir)
        if path is None:
            raise FileNotFoundError(f"{exp_dir}: no complete checkpoint_N.safetensors")
        return path
    stem = ckpt.BEST_NAME if name == "best" else name
    path = exp_dir / f"{stem}{ckpt.WEIGHTS_SUFFIX}"
    if not path.is_file():
        raise FileNotFoundError(f"{path}: checkpoint not found (did fine-tuning finish a validation?)")
    return path


def load_finetuned(
    exp_dir: str | os.PathLike, checkpoint: str = "best"
) -> tuple[CTCObjective, Tokenizer, FinetuneConfig]:
    """Rebuild the fine-tuned CTC model of ``exp_dir`` in eval mode, with its tokenizer and config."""
    from speechssl.models.backbone import build_backbone
    from speechssl.train.checkpoint import load_weights

    exp_dir = Path(exp_dir)
    config_path = exp_dir / "config.yaml"
    if not config_path.is_file():
        raise FileNotFoundError(f"{config_path}: not found ({exp_dir} is not a fine-tuning folder)")
    config = load_finetune_config(config_path)
    tokenizer = load_tokenizer(exp_dir)
    objective = CTCObjective(build_backbone(config.model), config.ctc, tokenizer.vocab_size)
    path = find_checkpoint(exp_dir, checkpoint)
    missing, unexpected = objective.load_state_dict(load_weights(path), strict=False)
    if missing or unexpected:
        raise ValueError(
            f"{path}: does not match the model in {config_path}: missing {missing[:3]}, "
            f"unexpected {unexpected[:3]}"
        )
    return objective.eval(), tokenizer, config
