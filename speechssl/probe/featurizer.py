"""The probes' featurizer: a learnable softmax-weighted sum of an upstream's normalised layers.

Its learned weights say which layers a task reads; they are saved as JSON and a bar chart (PNG).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import torch
from torch import nn
from torch.nn import functional as F

from speechssl.io.atomic import atomic_path, atomic_write_text


class WeightedLayerSum(nn.Module):
    """``softmax(w)``-weighted sum over layers, each layer-normed (no affine) first when ``normalize``.

    The weights start equal (all logits zero), as s3prl's Featurizer.
    """

    def __init__(self, num_layers: int, normalize: bool = True) -> None:
        super().__init__()
        if num_layers < 1:
            raise ValueError(f"a weighted layer sum needs at least one layer, got {num_layers}")
        self.normalize = normalize
        self.logits = nn.Parameter(torch.zeros(num_layers))

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        """hidden (L, B, T, D) -> (B, T, D)."""
        if hidden.shape[0] != self.logits.numel():
            raise ValueError(f"expected {self.logits.numel()} layers, got {hidden.shape[0]}")
        if self.normalize:
            hidden = F.layer_norm(hidden, hidden.shape[-1:])
        weights = torch.softmax(self.logits, dim=0).to(hidden.dtype)
        return torch.einsum("l,lbtd->btd", weights, hidden)

    def layer_weights(self) -> list[float]:
        """The softmax weights, one per layer (layer 0 = the Transformer's input), summing to 1."""
        return torch.softmax(self.logits.detach().float().cpu(), dim=0).tolist()


def save_layer_weights(weights: list[float], out_dir: str | os.PathLike, title: str) -> tuple[Path, Path]:
    """Write ``layer_weights.json`` and ``layer_weights.png`` (bar chart) into ``out_dir``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out_dir = Path(out_dir)
    json_path, png_path = out_dir / "layer_weights.json", out_dir / "layer_weights.png"
    record = {"title": title, "layers": list(range(len(weights))), "weights": weights}
    atomic_write_text(json_path, json.dumps(record, indent=1) + "\n")
    figure, axis = plt.subplots(figsize=(max(3.0, 0.5 * len(weights) + 1.5), 3.0))
    axis.bar(range(len(weights)), weights, color="tab:blue")
    axis.axhline(1.0 / len(weights), color="grey", linestyle="--", linewidth=1, label="equal")
    axis.set_xticks(range(len(weights)))
    axis.set_xlabel("layer (0 = Transformer input)")
    axis.set_ylabel("softmax weight")
    axis.set_ylim(0, 1)
    axis.set_title(title, fontsize=9)
    axis.legend(fontsize=8)
    figure.tight_layout()
    with atomic_path(png_path) as tmp:
        figure.savefig(tmp, format="png", dpi=100)
    plt.close(figure)
    return json_path, png_path
