"""A label-free dimensional-collapse monitor: the singular-value spectrum of each layer's frames.

``spectrum_auc`` is the metric; ``CollapseProbe`` measures it per layer on one fixed batch.

Definition (after Li, Efros and Pathak 2022, "Understanding collapse in non-contrastive Siamese
representation learning"): for representations ``X (N, D)``, centre the columns, take the
singular values ``s_1 >= ... >= s_D`` (zeros beyond ``min(N, D)``), the explained-variance
fractions ``p_i = s_i^2 / sum_j s_j^2`` and their cumulative sums ``c_k = p_1 + ... + p_k``.
The metric is the normalised area under that curve, ``AUC = (1/D) * sum_{k=1..D} c_k``:

- isotropic, full rank: ``c_k = k/D``, AUC = ``(D + 1) / (2D)`` (about 0.5);
- rank ``r`` with ``r`` equal directions: AUC = ``1 - (r - 1) / (2D)``;
- rank 1 (complete collapse; also a constant input, whose variance is zero): AUC = 1.

Higher is more collapsed. The paper reads the same curve (area 0.5 for uniform, 1 for collapse);
``N`` should exceed ``D`` several times, otherwise the rank is bounded by ``N`` and AUC is high.
"""

from __future__ import annotations

import numpy as np
import torch

from speechssl.data.batch import AudioBatch
from speechssl.data.dataset import AudioDataset, collate

KEY_PREFIX = "collapse_auc_"  # progress.jsonl keys: collapse_auc_0 (projected features) .. _L


def spectrum_auc(x: torch.Tensor) -> float:
    """Normalised area under the cumulative explained variance of ``x`` (N, D); see the module doc.

    Returns a float in [(D + 1) / (2D), 1].
    """
    if x.dim() != 2 or x.shape[0] < 2:
        raise ValueError(f"spectrum_auc needs (N >= 2, D) representations, got shape {tuple(x.shape)}")
    dim = x.shape[1]
    x = x.detach().double()
    x = x - x.mean(dim=0, keepdim=True)
    variance = torch.linalg.svdvals(x).pow(2)
    total = variance.sum()
    if float(total) <= 0.0:
        return 1.0
    cumulative = torch.cumsum(variance / total, dim=0)
    # Directions beyond min(N, D) carry no variance: the curve stays at 1 there.
    padded = torch.ones(dim, dtype=cumulative.dtype)
    padded[: cumulative.numel()] = cumulative
    return float(padded.mean())


def fixed_batch(dataset: AudioDataset, utterances: int, seed: int) -> AudioBatch:
    """``utterances`` examples drawn once with ``seed``, with the crops of epoch 0 and no augmentation.

    Reads through the dataset only (its own seeded generators), so no global RNG is consumed.
    """
    count = min(utterances, len(dataset))
    indices = np.sort(np.random.default_rng([seed, 7919]).choice(len(dataset), count, replace=False))
    return collate([dataset.clean_example(int(i), epoch=0) for i in indices])


class CollapseProbe:
    """Measures ``spectrum_auc`` of every layer of a backbone on one fixed batch.

    Layer 0 is the projected conv features (Transformer input, before positions), layers 1..L
    the Transformer blocks' outputs; only valid (unpadded) frames count, N = frames of the batch.
    """

    def __init__(self, batch: AudioBatch):
        self.batch = batch

    @classmethod
    def from_dataset(cls, dataset: AudioDataset, utterances: int, seed: int) -> "CollapseProbe":
        return cls(fixed_batch(dataset, utterances, seed))

    @torch.no_grad()
    def __call__(self, backbone: torch.nn.Module) -> dict[str, float]:
        """``{collapse_auc_<layer>: AUC}``; runs in eval mode (no dropout or LayerDrop draws) in fp32
        and puts the backbone back in the mode it was in."""
        was_training = backbone.training
        backbone.eval()
        try:
            device = next(backbone.parameters()).device
            batch = self.batch.to(device)
            front = backbone.front_end(batch.audio, batch.audio_lengths)
            layers = [front.x] + backbone.encode(front, output_layers=True).layer_outputs
            valid = ~front.padding_mask
            return {f"{KEY_PREFIX}{i}": spectrum_auc(layer[valid].float().cpu()) for i, layer in enumerate(layers)}
        finally:
            backbone.train(was_training)

    def of_objective(self, objective: torch.nn.Module) -> dict[str, float]:
        """The metric of ``objective.backbone`` (the trainer's probe hook)."""
        return self(objective.backbone)


def collapse_series(records: list[dict]) -> dict[int, tuple[list[int], list[float]]]:
    """``{layer: (updates, AUCs)}`` of the progress records that carry the metric."""
    series: dict[int, tuple[list[int], list[float]]] = {}
    for record in records:
        for key, value in record.items():
            if key.startswith(KEY_PREFIX):
                updates, values = series.setdefault(int(key[len(KEY_PREFIX):]), ([], []))
                updates.append(int(record["update"]))
                values.append(float(value))
    return dict(sorted(series.items()))
