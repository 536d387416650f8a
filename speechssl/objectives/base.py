"""The one interface every training objective implements (pre-training and CTC fine-tuning).

The trainer knows nothing else about objectives: it calls ``forward`` on a batch, backpropagates
``loss``, steps the optimizer, then calls ``after_update`` (EMA teachers, temperature schedules).
"""

from __future__ import annotations

import abc
from dataclasses import dataclass, field
from typing import ClassVar

import torch
from torch import nn

from speechssl.data.batch import AudioBatch
from speechssl.models.flops import FlopCount


@dataclass
class ObjectiveOutput:
    """What an objective returns for one batch.

    Attributes:
        loss: scalar tensor, summed over ``sample_size`` units (masked frames, CTC tokens...).
            The trainer divides gradients by the total sample_size of an update (fairseq semantics),
            so gradient accumulation and DDP average over the same units.
        sample_size: number of units ``loss`` is summed over: an int, or a 0-d tensor on the
            loss's device where counting on the host would read back from the GPU.
        logs: scalar monitors for the log and TensorBoard (accuracy, perplexity, target variance):
            floats or 0-d tensors; the trainer reads tensors back once per log interval.
    """

    loss: torch.Tensor
    sample_size: int | torch.Tensor
    logs: dict[str, float | torch.Tensor] = field(default_factory=dict)


class Objective(nn.Module, abc.ABC):
    """Base class: holds ``self.backbone`` plus objective-specific modules.

    Subclasses implement ``forward``; they may override ``after_update`` and
    ``trainable_parameters``. Teacher copies (EMA) must not be returned by ``trainable_parameters``.

    What a recipe must prepare is declared here, so shell recipes read it from the registry
    (``speechssl pretrain --list-objectives``) instead of testing names: ``needs_labels`` (frame
    labels in ``data.labels``) and ``iterations`` (pre-training runs from scratch, each on labels
    made from the previous run: HuBERT BASE is MFCC labels, then layer labels of iteration 1).
    """

    backbone: nn.Module
    # How converters name a model trained this way: the Hugging Face ``model_type`` it exports as
    # (None: the shapes decide) and the fairseq model names (``cfg.model._name``) it comes from.
    hf_model_type: ClassVar[str | None] = None
    fairseq_models: ClassVar[tuple[str, ...]] = ()
    needs_labels: ClassVar[bool] = False
    iterations: ClassVar[int] = 1

    @abc.abstractmethod
    def forward(self, batch: AudioBatch) -> ObjectiveOutput:
        """Compute the loss of one batch (model in train or eval mode as set by the caller)."""

    def check_batch(self, batch: AudioBatch) -> None:
        """Validate a batch still on the host, before the trainer copies it to a GPU.

        Checks that read tensor values (label counts, label ids) belong here, so that ``forward``
        on the GPU never waits for a device -> host copy; ``forward`` runs them itself on CPU
        tensors. Raises ``ValueError`` naming the utterance. Default: nothing to check.
        """

    def after_update(self, num_updates: int) -> None:
        """Called after every optimizer step with the number of updates done so far."""

    def training_flops(self, count: FlopCount) -> float:
        """FLOPs of one training step on one utterance whose backbone FLOPs are ``count``.

        Default: the backbone's forward + backward. Objectives that run more (an EMA teacher,
        masked clones) add it, so that the report compares objectives at equal compute.
        """
        return count.training

    def trainable_parameters(self) -> list[nn.Parameter]:
        """Parameters the optimizer updates; default: every parameter that requires grad."""
        return [p for p in self.parameters() if p.requires_grad]
