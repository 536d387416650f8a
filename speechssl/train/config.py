"""Typed configs of the trainer: optimiser, learning-rate schedule, loop, and a pre-training run.

Loaded from ``conf/pretrain/*.yaml`` plus ``--set a.b=c`` overrides; saved next to the checkpoints.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

from speechssl.config import (
    ConfigError,
    apply_overrides,
    from_dict,
    read_yaml_mapping,
    to_dict,
)
from speechssl.data.augment_config import AugmentConfig
from speechssl.models.config import BackboneConfig, load_backbone_config

PRECISIONS = ("fp32", "bf16", "fp16")
SCHEDULES = ("polynomial", "tri_stage", "cosine", "constant")
COMPILE_CHOICES = ("off", "default", "reduce-overhead", "max-autotune", "max-autotune-no-cudagraphs")


@dataclass
class OptimConfig:
    """Adam(W) with fairseq's wav2vec 2.0 settings.

    Attributes:
        name: ``adamw`` (decoupled weight decay) or ``adam`` (L2 added to the gradient).
        lr: peak learning rate.
        betas, eps, weight_decay: Adam hyper-parameters.
        clip_norm: clip the global gradient L2 norm to this (0 = no clipping; norm still logged).
        fused: one fused kernel for the whole step, which also drops a non-finite step on the
            device: ``auto`` (when every parameter is on a GPU), ``true`` or ``false``.
    """

    name: str = "adamw"
    lr: float = 5e-4
    betas: tuple[float, float] = (0.9, 0.98)
    eps: float = 1e-6
    weight_decay: float = 0.01
    clip_norm: float = 0.0
    fused: str = "auto"

    def __post_init__(self) -> None:
        if self.name not in ("adam", "adamw"):
            raise ConfigError(f"optim.name: expected adam or adamw, got {self.name!r}")
        self.fused = str(self.fused).lower()  # YAML reads a bare true/false as a bool
        if self.fused not in ("auto", "true", "false"):
            raise ConfigError(f"optim.fused: expected auto, true or false, got {self.fused!r}")


@dataclass
class ScheduleConfig:
    """Learning-rate multiplier as a function of the update number.

    Attributes:
        name: ``polynomial`` (linear warmup then polynomial decay to ``end_lr_scale``), ``tri_stage``
            (warmup from ``init_lr_scale``, hold, exponential decay to ``final_lr_scale``),
            ``cosine`` (warmup then half cosine to ``end_lr_scale``) or ``constant``.
        warmup_updates: warmup length; ``warmup_ratio`` (fraction of max_updates) is used when > 0.
        power: exponent of the polynomial decay (1 = linear, fairseq's default).
        end_lr_scale: final multiplier of polynomial and cosine.
        phase_ratio: tri-stage (warmup, hold, decay) fractions of max_updates (fine-tuning: 10/40/50).
        init_lr_scale, final_lr_scale: tri-stage start and end multipliers.
    """

    name: str = "polynomial"
    warmup_updates: int = 0
    warmup_ratio: float = 0.0
    power: float = 1.0
    end_lr_scale: float = 0.0
    phase_ratio: tuple[float, float, float] = (0.1, 0.4, 0.5)
    init_lr_scale: float = 0.01
    final_lr_scale: float = 0.05

    def __post_init__(self) -> None:
        if self.name not in SCHEDULES:
            raise ConfigError(f"schedule.name: expected one of {SCHEDULES}, got {self.name!r}")


@dataclass
class TrainerConfig:
    """The training loop.

    Attributes:
        max_updates: stop after this many optimizer steps (0 = no limit).
        max_epochs: stop after this many epochs (0 = no limit).
        max_wall_seconds: stop cleanly, saving a checkpoint, after this much time (0 = no limit).
        max_flops: stop at the first update whose cumulative training FLOPs (the analytic count of
            ``flops_fn``, every rank together) reach this budget (0 = no limit). Unlike the wall
            time it depends on nothing but the data, so every machine stops at the same update.
        horizon_flops: with a FLOP budget, the learning-rate schedule's horizon in training FLOPs
            (0 = ``max_flops``); ``max_updates`` is then only a cap. Set it above ``max_flops`` to
            stop a long schedule early and ``--resume`` it later with a larger ``max_flops``.
        keep_flops_milestones: training-FLOP budgets at which a checkpoint is kept for good, as
            ``milestone_<update>.*`` listed in ``milestones.json`` (compute curves from one run).
        max_tokens: audio samples per batch, padding included (batch size x longest crop).
        max_sample_size, min_sample_size: crop longer and drop shorter utterances (samples).
        update_freq: batches accumulated per optimizer step (simulates more GPUs).
        precision: ``fp32``, ``bf16`` (autocast, also on CPU) or ``fp16`` (autocast + GradScaler).
        seed: seeds model init, crops, batch order and masking.
        num_workers: DataLoader worker processes (0 = load in the training process).
        log_interval: updates between progress lines / TensorBoard points.
        save_interval_updates: updates between checkpoints (0 = only at the end).
        keep_last: numbered checkpoints kept (plus ``checkpoint_best``).
        validate_interval_updates: updates between validations (0 = only at the end).
        device: ``auto`` (cuda when available), ``cpu`` or ``cuda``.
        max_skipped_in_a_row: fail when this many consecutive steps have a non-finite loss/gradient.
        length_noise: relative noise on lengths before bucketing (varies batches between epochs).
        find_unused_parameters: DDP option; ``auto`` turns it on when the model uses layerdrop.
        compile: ``torch.compile`` the objective's forward (its backward with it): ``off``, or a
            mode (``default``, ``reduce-overhead`` = CUDA graphs, ``max-autotune`` ...). Pair it
            with ``static_lengths`` so every batch has one of a few shapes (one compile each).
        static_lengths: pad each batch's audio to the smallest of these sample counts that holds
            it (e.g. ``[80000, 160000, 250000]``; empty = pad to the longest utterance only).
        collapse_every: updates between measures of the per-layer collapse metric
            (speechssl.train.collapse) on a fixed held-out batch, written with the next progress
            record (0 = off). Pre-training only (``speechssl pretrain``).
        collapse_utterances: utterances of that batch (drawn once with ``seed`` from the valid set,
            or the train set when there is none).
    """

    max_updates: int = 1000
    max_epochs: int = 0
    max_wall_seconds: float = 0.0
    max_flops: float = 0.0
    horizon_flops: float = 0.0
    keep_flops_milestones: list[float] = field(default_factory=list)
    max_tokens: int = 1_400_000
    max_sample_size: int = 250_000
    min_sample_size: int = 32_000
    update_freq: int = 1
    precision: str = "fp32"
    seed: int = 1
    num_workers: int = 2
    log_interval: int = 50
    save_interval_updates: int = 1000
    keep_last: int = 2
    validate_interval_updates: int = 1000
    device: str = "auto"
    max_skipped_in_a_row: int = 50
    length_noise: float = 0.05
    find_unused_parameters: str = "auto"
    compile: str = "off"
    static_lengths: tuple[int, ...] = ()
    collapse_every: int = 100
    collapse_utterances: int = 8

    def __post_init__(self) -> None:
        if self.compile not in COMPILE_CHOICES:
            raise ConfigError(f"trainer.compile: expected one of {COMPILE_CHOICES}, got {self.compile!r}")
        if any(n <= 0 for n in self.static_lengths) or list(self.static_lengths) != sorted(set(self.static_lengths)):
            raise ConfigError(
                f"trainer.static_lengths: expected increasing positive sample counts, got {list(self.static_lengths)}"
            )
        if self.precision not in PRECISIONS:
            raise ConfigError(f"trainer.precision: expected one of {PRECISIONS}, got {self.precision!r}")
        if self.device not in ("auto", "cpu", "cuda"):
            raise ConfigError(f"trainer.device: expected auto, cpu or cuda, got {self.device!r}")
        if self.update_freq < 1:
            raise ConfigError(f"trainer.update_freq must be >= 1, got {self.update_freq}")
        if self.find_unused_parameters not in ("auto", "true", "false"):
            raise ConfigError("trainer.find_unused_parameters: expected auto, true or false")
        if self.collapse_every < 0 or self.collapse_utterances < 1:
            raise ConfigError("trainer.collapse_every must be >= 0 and trainer.collapse_utterances >= 1")
        if self.max_flops < 0 or self.horizon_flops < 0 or any(m <= 0 for m in self.keep_flops_milestones):
            raise ConfigError("trainer.max_flops, horizon_flops and keep_flops_milestones must be positive (0 = none)")
        if self.horizon_flops > 0 and self.max_flops <= 0:
            raise ConfigError("trainer.horizon_flops needs trainer.max_flops (the budget it schedules)")


@dataclass
class DataConfig:
    """Where the audio comes from.

    Attributes:
        train, valid: Kaldi data dirs (``wav.scp`` + ``utt2num_samples``); empty valid = no
            validation loss.
        labels, valid_labels: HuBERT label dirs (``exp/labels/<name>``) of train and valid
            (empty = no frame labels; valid_labels is required when labels and valid are set).
        augment: on-the-fly augmentation of the train set (off unless ``augment.enabled``; the
            valid set and the collapse probe stay clean), see speechssl.data.augment.
    """

    train: str = "data/pretrain"
    valid: str = "data/dev"
    labels: str = ""
    valid_labels: str = ""
    augment: AugmentConfig = field(default_factory=AugmentConfig)

    def __post_init__(self) -> None:
        if self.labels and self.valid and not self.valid_labels:
            raise ConfigError(
                "data.labels is set: also set data.valid_labels (labels of data.valid) or data.valid=''"
            )


@dataclass
class PretrainConfig:
    """One pre-training run. ``model`` may be given in YAML as a name (``tiny``) or a mapping.

    Attributes:
        objective: ``wav2vec2``, ``hubert``, ``data2vec`` or ``data2vec2``.
        model: backbone sizes.
        objective_config: options of the objective's own config dataclass.
    """

    objective: str = "wav2vec2"
    model: BackboneConfig = field(default_factory=BackboneConfig)
    objective_config: dict[str, Any] = field(default_factory=dict)
    data: DataConfig = field(default_factory=DataConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    schedule: ScheduleConfig = field(default_factory=ScheduleConfig)
    trainer: TrainerConfig = field(default_factory=TrainerConfig)


def _expand_model(values: dict) -> None:
    """Replace a model name/path (``model: tiny``) by that config's fields, in place."""
    if isinstance(values.get("model"), (str, os.PathLike)):
        values["model"] = to_dict(load_backbone_config(values["model"]))


def load_pretrain_config(
    path: str | os.PathLike | None, overrides: list[str] | None = None
) -> PretrainConfig:
    """Load a PretrainConfig from YAML plus ``a.b=c`` overrides; ``model: NAME`` names a backbone.

    ``--set model=base`` switches the backbone; ``--set model.num_layers=2`` changes one field.
    """
    values = read_yaml_mapping(path)
    _expand_model(values)
    for override in overrides or []:
        apply_overrides(values, [override])
        _expand_model(values)
    return from_dict(PretrainConfig, values, where=str(path) if path else "PretrainConfig")
