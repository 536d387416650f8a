"""The pre-training job: self-supervised pre-training of the backbone with one objective.

``run_pretrain(cfg, exp_dir)`` builds the datasets (with HuBERT-style label dirs when the config has
them), the objective over a fresh backbone and the collapse monitor, and trains; alone or under
``torchrun``. ``build_datasets`` is what bench and the estimates use to read the same data.
"""

from __future__ import annotations

import dataclasses
import logging
import os

from speechssl.config import to_dict
from speechssl.data.dataset import AudioDataset
from speechssl.kmeans.labels import read_labels
from speechssl.models.backbone import build_backbone
from speechssl.objectives import OBJECTIVES, build_objective, objective_config
from speechssl.objectives.base import Objective
from speechssl.train.collapse import CollapseProbe
from speechssl.train.config import PretrainConfig
from speechssl.train.distributed import close_world, seed_everything
from speechssl.train.mfu import training_flops_fn
from speechssl.train.run import run_training

logger = logging.getLogger("speechssl.pretrain")


def _labelled_objective_config(
    values: dict, objective: str, label_dir: str, rate: float, num_classes: int
) -> dict:
    """``values`` (objective config) with ``num_classes``/``label_rate`` taken from ``label_dir``.

    A value already set that contradicts the label dir is an error, not silently replaced.
    """
    fields = {f.name for f in dataclasses.fields(OBJECTIVES[objective][1])}
    values = dict(values)
    for key, found in (("num_classes", num_classes), ("label_rate", rate)):
        if key not in fields:
            continue
        if key in values and float(values[key]) != float(found):
            raise ValueError(
                f"objective_config.{key}={values[key]} but label dir {label_dir} has {found}:"
                f" remove the setting or use matching labels"
            )
        values[key] = found
    return values


def build_datasets(cfg: PretrainConfig) -> tuple[AudioDataset, AudioDataset | None, dict]:
    """(train, valid or None, objective config dict) of a pre-training config."""
    t = cfg.trainer
    objective_values = dict(cfg.objective_config)
    sets = []
    splits = (("train", cfg.data.train, cfg.data.labels), ("valid", cfg.data.valid, cfg.data.valid_labels))
    for split, data_dir, label_dir in splits:
        if not data_dir:
            sets.append(None)
            continue
        labels, rate = None, 50.0
        if label_dir:
            labels, rate, num_classes = read_labels(label_dir, data_dir)
            objective_values = _labelled_objective_config(
                objective_values, cfg.objective, label_dir, rate, num_classes
            )
        sets.append(
            AudioDataset(
                data_dir,
                labels=labels,
                label_rate=rate,
                max_sample_size=t.max_sample_size,
                min_sample_size=t.min_sample_size,
                random_crop=split == "train",
                seed=t.seed,
                augment=cfg.data.augment if split == "train" else None,
            )
        )
    return sets[0], sets[1], objective_values


def build_pretrain_objective(cfg: PretrainConfig, typed_objective_config) -> Objective:
    """``cfg``'s objective over a fresh backbone, seeded with ``trainer.seed`` (the same initial
    weights on every rank and in every measurement of the run's speed)."""
    seed_everything(cfg.trainer.seed)
    return build_objective(cfg.objective, build_backbone(cfg.model), typed_objective_config)


def run_pretrain(cfg: PretrainConfig, exp_dir: str | os.PathLike, resume: bool = False) -> dict:
    """Pre-train into ``exp_dir``; the run summary (``summary.json``).

    Raises:
        ValueError: unknown objective (listing the names), no training data, labels that contradict
            the objective config.
        TrainingDiverged: the loss stayed non-finite (see ``speechssl.train.trainer``).
    """
    objective_config(cfg.objective)  # fails early, listing the names, on an unknown objective
    if cfg.data.train == "":
        raise ValueError("data.train is empty: set the pre-training data dir")
    train_set, valid_set, objective_values = build_datasets(cfg)
    typed_objective_config = objective_config(cfg.objective, objective_values)
    cfg = dataclasses.replace(cfg, objective_config=to_dict(typed_objective_config))
    objective = build_pretrain_objective(cfg, typed_objective_config)
    logger.info(
        "%s: %d trainable parameters, %d train / %s valid utterances",
        cfg.objective,
        sum(p.numel() for p in objective.trainable_parameters()),
        len(train_set),
        len(valid_set) if valid_set is not None else "no",
    )
    probe = None
    if cfg.trainer.collapse_every > 0:
        collapse = CollapseProbe.from_dataset(
            valid_set or train_set, cfg.trainer.collapse_utterances, cfg.trainer.seed
        )
        probe = collapse.of_objective
    try:
        return run_training(
            objective, train_set, valid_set, cfg.trainer, cfg.optim, cfg.schedule, exp_dir,
            resume=resume, flops_fn=training_flops_fn(objective), config=cfg, probe=probe,
        )
    finally:
        close_world()
