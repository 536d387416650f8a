"""The training steps the benchmarks time: our objectives and the reference implementations.

References: torchaudio's ``hubert_pretrain_base`` and HF transformers' ``Wav2Vec2ForPreTraining``.
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

from speechssl.data.batch import AudioBatch
from speechssl.io.audio import SAMPLE_RATE
from speechssl.models import BackboneConfig, build_backbone, load_backbone_config
from speechssl.objectives import OBJECTIVES, build_objective, objective_config
from speechssl.objectives.teacher_student import TeacherStudentObjective

OURS = tuple(OBJECTIVES)
REFERENCES = ("torchaudio_hubert", "hf_wav2vec2")
# data2vec / data2vec 2.0 BASE backbone (the comment in conf/model/base.yaml)
DATA2VEC_OVERRIDES = [
    "conv_norm=layer_norm", "pos_conv_depth=5", "feature_grad_mult=1.0", "dropout_input=0.0",
]
NUM_CLASSES = 500  # HuBERT label types on both sides
# conf/model/tiny.yaml sizes for the references (quick mode)
TINY_HF = {"hidden_size": 256, "num_hidden_layers": 4, "num_attention_heads": 4,
           "intermediate_size": 1024, "conv_dim": (128,) * 7, "layerdrop": 0.0}


@dataclass
class StepModel:
    """One trainable model and the loss of one batch.

    Attributes:
        name: ``ours:<objective>`` or a reference name.
        module: the ``nn.Module`` holding every parameter (moved to the device, train mode).
        loss_fn: ``fn(batch) -> scalar loss`` (forward pass only).
        params: the parameters the optimizer steps.
        after_update: called after each step (EMA teachers, temperatures).
    """

    name: str
    module: nn.Module
    loss_fn: Callable[[AudioBatch], torch.Tensor]
    params: list[nn.Parameter]
    after_update: Callable[[int], None] = lambda updates: None


def _has_teacher(objective: str) -> bool:
    """The data2vec family: an EMA teacher regresses its own layers (the registry's class says so)."""
    return issubclass(OBJECTIVES[objective][0], TeacherStudentObjective)


def backbone_config(size: str, objective: str) -> BackboneConfig:
    """BASE/tiny config as each paper trains it (data2vec variants: conv LayerNorm, conv stack)."""
    overrides = DATA2VEC_OVERRIDES if _has_teacher(objective) else []
    return load_backbone_config(size, overrides)


def make_batch(batch_size: int, seconds: float, seed: int = 0) -> AudioBatch:
    """Random audio (B, T) of equal length and random HuBERT labels (B, F) at the 50 Hz frame rate
    of the BASE conv stack (the tiny configs downsample alike)."""
    generator = torch.Generator().manual_seed(seed)
    samples = int(seconds * SAMPLE_RATE)
    frames = load_backbone_config("base").num_frames(samples)
    audio = 0.1 * torch.randn(batch_size, samples, generator=generator)
    labels = torch.randint(0, NUM_CLASSES, (batch_size, frames), generator=generator)
    return AudioBatch(
        audio=audio,
        audio_lengths=torch.full((batch_size,), samples, dtype=torch.long),
        utt_ids=[f"bench-{i}" for i in range(batch_size)],
        labels=labels,
        label_lengths=torch.full((batch_size,), frames, dtype=torch.long),
    )


def objective_overrides(objective: str, size: str) -> dict | None:
    """Objective config values the benchmark needs beyond the defaults (label count, top-K)."""
    config = backbone_config(size, objective)
    extra: dict = {"num_classes": NUM_CLASSES} if OBJECTIVES[objective][0].needs_labels else {}
    if _has_teacher(objective):
        extra["average_top_k_layers"] = min(8, config.num_layers)
    if size == "tiny" and hasattr(objective_config(objective), "decoder"):  # data2vec 2.0's conv decoder
        extra["decoder"] = {"dim": 32, "layers": 1, "groups": 4}
    return extra or None


def build_ours(objective: str, size: str, layerdrop: float | None = None) -> StepModel:
    """Our ``objective`` over a ``size`` backbone; the loss is divided by its sample size."""
    config = backbone_config(size, objective)
    if layerdrop is not None:
        config = dataclasses.replace(config, layerdrop=layerdrop)
    model = build_objective(objective, build_backbone(config), objective_overrides(objective, size))

    def loss_fn(batch: AudioBatch) -> torch.Tensor:
        output = model(batch)
        size = output.sample_size  # a tensor (HuBERT) stays on the device: no read-back
        return output.loss / (size.clamp(min=1) if torch.is_tensor(size) else max(size, 1))

    return StepModel(f"ours:{objective}", model, loss_fn, model.trainable_parameters(), model.after_update)


def build_torchaudio_hubert(size: str, layerdrop: float | None = None) -> StepModel:
    """torchaudio HuBERT pre-training model; loss as torchaudio's recipe (``hubert_loss``):
    cross-entropy of the masked logits against index 0 (the positive), plus unmasked logits with
    weight 0 and the feature penalty times 10 times the masked frame count."""
    from torchaudio.models import hubert_pretrain_base, hubert_pretrain_model

    if size == "tiny":
        model = hubert_pretrain_model(
            extractor_mode="group_norm", extractor_conv_layer_config=[(128, 10, 5)] + [(128, 3, 2)] * 4
            + [(128, 2, 2)] * 2, extractor_conv_bias=False, encoder_embed_dim=256,
            encoder_projection_dropout=0.1, encoder_pos_conv_kernel=128, encoder_pos_conv_groups=16,
            encoder_num_layers=4, encoder_num_heads=4, encoder_attention_dropout=0.1,
            encoder_ff_interm_features=1024, encoder_ff_interm_dropout=0.0, encoder_dropout=0.1,
            encoder_layer_norm_first=False, encoder_layer_drop=layerdrop or 0.0, mask_prob=0.8,
            mask_selection="static", mask_other=0.0, mask_length=10, no_mask_overlap=False,
            mask_min_space=1, mask_channel_prob=0.0, mask_channel_selection="static",
            mask_channel_other=0.0, mask_channel_length=10, no_mask_channel_overlap=False,
            mask_channel_min_space=1, skip_masked=False, skip_nomask=False,
            num_classes=NUM_CLASSES, final_dim=256, feature_grad_mult=0.1,
        )
    else:
        model = hubert_pretrain_base(num_classes=NUM_CLASSES,
                                     **({} if layerdrop is None else {"encoder_layer_drop": layerdrop}))

    def loss_fn(batch: AudioBatch) -> torch.Tensor:
        logit_m, logit_u, feature_pen = model(batch.audio, batch.labels, batch.audio_lengths)
        masked = logit_m.shape[0]
        target_m = torch.zeros(masked, dtype=torch.long, device=logit_m.device)
        target_u = torch.zeros(logit_u.shape[0], dtype=torch.long, device=logit_u.device)
        loss = nn.functional.cross_entropy(logit_m, target_m, reduction="sum")
        loss = loss + 0.0 * nn.functional.cross_entropy(logit_u, target_u, reduction="sum")
        loss = loss + 10.0 * feature_pen * masked
        return loss / max(masked, 1)

    return StepModel("torchaudio_hubert", model, loss_fn, list(model.parameters()))


def build_hf_wav2vec2(size: str, layerdrop: float | None = None) -> StepModel:
    """HF ``Wav2Vec2ForPreTraining`` (BASE settings as fairseq: mask 0.65 x 10, 100 negatives,
    dropouts 0.1, LayerDrop 0.05) with masks and negatives from transformers' own helpers."""
    from transformers import Wav2Vec2Config, Wav2Vec2ForPreTraining
    from transformers.models.wav2vec2.modeling_wav2vec2 import (
        _compute_mask_indices,
        _sample_negative_indices,
    )

    settings = {
        "mask_time_prob": 0.65, "mask_time_length": 10, "layerdrop": 0.05, "feat_proj_dropout": 0.1,
        "hidden_dropout": 0.1, "attention_dropout": 0.1, "activation_dropout": 0.0,
        "feat_quantizer_dropout": 0.1,
    }
    overrides = {} if layerdrop is None else {"layerdrop": layerdrop}
    config = Wav2Vec2Config(**{**settings, **(TINY_HF if size == "tiny" else {}), **overrides})
    model = Wav2Vec2ForPreTraining(config)

    def loss_fn(batch: AudioBatch) -> torch.Tensor:
        frames = int(model._get_feat_extract_output_lengths(batch.audio.shape[1]))
        shape = (batch.audio.shape[0], frames)
        mask = _compute_mask_indices(shape, config.mask_time_prob, config.mask_time_length, min_masks=2)
        negatives = _sample_negative_indices(shape, config.num_negatives, mask)
        device = batch.audio.device
        output = model(
            batch.audio,
            mask_time_indices=torch.from_numpy(mask).to(device),
            sampled_negative_indices=torch.from_numpy(negatives).to(device),
        )
        return output.loss / max(int(mask.sum()), 1)

    return StepModel("hf_wav2vec2", model, loss_fn, list(model.parameters()))


def build_model(name: str, size: str, layerdrop: float | None = None) -> StepModel:
    """``ours:<objective>`` (or a bare objective name) or a reference name; ``layerdrop``
    replaces every model's LayerDrop probability (None: each keeps its BASE / tiny value)."""
    objective = name.split(":", 1)[-1]
    if objective in OURS:
        return build_ours(objective, size, layerdrop)
    if name == "torchaudio_hubert":
        return build_torchaudio_hubert(size, layerdrop)
    if name == "hf_wav2vec2":
        return build_hf_wav2vec2(size, layerdrop)
    raise ValueError(f"unknown benchmark model '{name}': choose from {list(OURS) + list(REFERENCES)}")


class TrainStep:
    """forward + backward + gradient clip + Adam step of one ``StepModel`` (the trainer's loop).

    The same code path and optimizer settings time every model, ours and the references (on a
    GPU the fused Adam, as the trainer uses there).
    """

    def __init__(self, model: StepModel, device: torch.device, dtype: torch.dtype | None):
        self.model = model
        model.module.to(device).train()
        fused = True if device.type == "cuda" else None
        self.optimizer = torch.optim.Adam(model.params, lr=1e-5, betas=(0.9, 0.98), eps=1e-6, fused=fused)
        self.device = device
        self.dtype = dtype
        self.updates = 0

    def autocast(self) -> contextlib.AbstractContextManager:
        if self.dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(self.device.type, dtype=self.dtype)

    def __call__(self, batch: AudioBatch) -> torch.Tensor:
        """One update; returns the loss (0-d tensor, not read back: the caller synchronises)."""
        if self.device.type == "cuda":  # a new iteration for CUDA-graphed (reduce-overhead) modules
            torch.compiler.cudagraph_mark_step_begin()
        with self.autocast():
            loss = self.model.loss_fn(batch)
        loss.float().backward()
        torch.nn.utils.clip_grad_norm_(self.model.params, 10.0)
        self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)
        self.updates += 1
        self.model.after_update(self.updates)
        return loss.detach()
