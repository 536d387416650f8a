"""The ``abx`` probe task: ABX error within and across speakers of every cached layer of an
upstream on one split, from its true phone alignments; no training. The best layer is the one of
the lowest across-speaker error."""

from __future__ import annotations

import dataclasses
import math
import os
from dataclasses import dataclass, field
from pathlib import Path

import torch

from speechssl.data.phones import read_phone_alignments
from speechssl.io.kaldi_dir import read_table
from speechssl.probe.abx import AbxConfig, abx_errors

ABX_TASK = "abx"
ABX_METRIC = "abx_across"


@dataclass
class LayerAbx:
    """ABX of every layer of one split.

    Attributes:
        layers: ``{"layer": i, "abx_within": x, "abx_across": y}`` per layer (None: no triplet).
        best_layer: the layer of the lowest ``abx_across``.
        counts: what the errors were averaged over (``speechssl.probe.abx.AbxCounts`` as a dict).
    """

    layers: list[dict] = field(default_factory=list)
    best_layer: int = 0
    counts: dict = field(default_factory=dict)

    @property
    def best(self) -> dict:
        return self.layers[self.best_layer]


def _rate(value: float) -> float | None:
    return None if math.isnan(value) else value


def layer_abx(hidden: dict[str, torch.Tensor], frame_rate: float, data_dir: str | os.PathLike,
              config: AbxConfig | None = None) -> LayerAbx:
    """ABX of each layer of ``hidden`` (``utt -> (L, T, D)``, at ``frame_rate`` Hz) of ``data_dir``.

    Speakers come from ``utt2spk``, alignments from ``phones``; utterances without an alignment are
    left out and counted (``counts["unaligned_utts"]``).
    Raises:
        ValueError: no ``phones`` table, or no ABX triplet in any layer (named by the data dir).
    """
    alignments = read_phone_alignments(data_dir)
    speakers = read_table(Path(data_dir) / "utt2spk")
    if not hidden:
        raise ValueError(f"{data_dir}: no utterance to score ABX on")
    num_layers = next(iter(hidden.values())).shape[0]
    layers = {str(i): {utt: h[i].numpy() for utt, h in hidden.items()} for i in range(num_layers)}
    results = abx_errors(layers, frame_rate, alignments, speakers, config)
    rows = [{"layer": int(name), "abx_within": _rate(r.within), "abx_across": _rate(r.across)}
            for name, r in results.items()]
    scored = [row for row in rows if row["abx_across"] is not None]
    if not scored:
        counts = next(iter(results.values())).counts
        raise ValueError(
            f"{data_dir}: no ABX triplet could be formed ({counts.utterances} aligned utterances, "
            f"{counts.items} triphones); ABX needs aligned utterances of two or more speakers "
            "sharing triphone contexts"
        )
    best = min(scored, key=lambda row: row["abx_across"])["layer"]
    counts = dataclasses.asdict(next(iter(results.values())).counts)
    return LayerAbx(rows, best, counts)
