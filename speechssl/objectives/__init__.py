"""Training objectives over the shared backbone, and the table that names them.

Interface (``base.Objective``): ``Objective(backbone, config)`` is an ``nn.Module`` holding
``self.backbone`` plus its own heads; ``forward(batch: AudioBatch) -> ObjectiveOutput(loss,
sample_size, logs)`` with ``loss`` summed over ``sample_size`` units (masked frames);
``after_update(num_updates)`` after each optimizer step (Gumbel temperature, EMA teacher);
``trainable_parameters()`` excludes teacher copies. Configs are typed dataclasses with paper
defaults, masking fields included (``mask_prob``, ``mask_length``, ...).

Building blocks: ``masked_input`` (front end, span masks), ``contrastive`` (cosine logits,
negatives), ``quantizer``, ``label_alignment``, ``ema``, ``regression`` (top-K instance-norm
targets, loss, collapse monitors), ``teacher_student`` (data2vec base class), ``decoder``.

Adding an objective: write ``speechssl/objectives/NAME.py`` with ``NameConfig`` and
``NameObjective(Objective)``, then add one line to ``OBJECTIVES`` below.
"""

from __future__ import annotations

import dataclasses

from torch import nn

from speechssl.config import from_dict
from speechssl.objectives.base import Objective, ObjectiveOutput
from speechssl.objectives.data2vec import Data2VecConfig, Data2VecObjective
from speechssl.objectives.data2vec2 import Data2Vec2Config, Data2Vec2Objective
from speechssl.objectives.hubert import HubertConfig, HubertObjective
from speechssl.objectives.mae import MaeConfig, MaeObjective
from speechssl.objectives.wav2vec2 import Wav2Vec2Config, Wav2Vec2Objective

OBJECTIVES: dict[str, tuple[type[Objective], type]] = {
    "wav2vec2": (Wav2Vec2Objective, Wav2Vec2Config),
    "hubert": (HubertObjective, HubertConfig),
    "data2vec": (Data2VecObjective, Data2VecConfig),
    "data2vec2": (Data2Vec2Objective, Data2Vec2Config),
    "mae": (MaeObjective, MaeConfig),
}


def objective_config(name: str, config: dict | object | None = None):
    """The typed config of objective ``name`` from a dict (unknown keys are errors), a config
    instance, or None (paper defaults)."""
    if name not in OBJECTIVES:
        raise ValueError(f"unknown objective '{name}': choose one of {sorted(OBJECTIVES)}")
    config_cls = OBJECTIVES[name][1]
    if config is None:
        return config_cls()
    if isinstance(config, dict):
        return from_dict(config_cls, config, where=f"objective {name}")
    if not isinstance(config, config_cls):
        raise TypeError(f"objective {name}: expected {config_cls.__name__}, got {type(config).__name__}")
    return dataclasses.replace(config)


def hf_model_type(objective: str) -> str | None:
    """The Hugging Face ``model_type`` that objective ``objective`` declares (None: none, or unknown)."""
    entry = OBJECTIVES.get(objective)
    return entry[0].hf_model_type if entry else None


def objective_from(fairseq_model: str = "", hf_type: str = "") -> str:
    """Name of the objective whose class declares that fairseq model name or HF model type ("" if none)."""
    for name, (cls, _) in OBJECTIVES.items():
        if (fairseq_model and fairseq_model in cls.fairseq_models) or (hf_type and hf_type == cls.hf_model_type):
            return name
    return ""


def describe_objectives() -> list[str]:
    """One line per objective for shell recipes: ``NAME NEEDS_LABELS ITERATIONS`` (``hubert true 2``)."""
    return [
        f"{name} {str(cls.needs_labels).lower()} {cls.iterations}" for name, (cls, _) in OBJECTIVES.items()
    ]


def build_objective(name: str, backbone: nn.Module, config: dict | object | None = None) -> Objective:
    """``OBJECTIVES[name]`` built around ``backbone`` with ``config`` (see ``objective_config``)."""
    typed = objective_config(name, config)
    return OBJECTIVES[name][0](backbone, typed)


__all__ = [
    "OBJECTIVES",
    "Objective",
    "ObjectiveOutput",
    "build_objective",
    "hf_model_type",
    "describe_objectives",
    "objective_config",
    "objective_from",
]
