"""Nearest-centroid assignment of feature shards: the HuBERT frame labels of one k-means model.

Distances are one matmul per batch of frames (GPU when present); labels are written per utterance.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Iterator

import numpy as np
import torch

from speechssl.features.shards import Shard, open_all_shards
from speechssl.io.atomic import atomic_write_text
from speechssl.io.kaldi_dir import DataDir
from speechssl.kmeans.labels import LabelError, resample_labels, write_label_dir
from speechssl.kmeans.model_io import KMeansModel
from speechssl.progress import progress_bar

logger = logging.getLogger(__name__)


def default_device() -> str:
    return "cuda" if torch.cuda.is_available() else "cpu"


class NearestCentroid:
    """Squared-distance nearest centroid, ``|x|^2 - 2 x.c + |c|^2`` with the centroids cached.

    Args:
        centroids: shape (k, dim).
        device: where the matmul runs.
        batch_frames: frames per matmul (bounds the (batch, k) distance matrix).
    """

    def __init__(self, centroids: np.ndarray, device: str = "cpu", batch_frames: int = 65536):
        self.device = torch.device(device)
        self.centroids_t = torch.as_tensor(centroids, dtype=torch.float32, device=self.device).T
        self.centroid_norms = (self.centroids_t**2).sum(dim=0, keepdim=True)  # (1, k)
        self.batch_frames = batch_frames

    @torch.no_grad()
    def __call__(self, feats: np.ndarray | torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
        """feats (N, dim), memory-mapped rows are fine -> (labels (N,) int64, sq. distances (N,))."""
        labels, distances = [], []
        for start in range(0, feats.shape[0], self.batch_frames):
            chunk = feats[start : start + self.batch_frames]
            if not torch.is_tensor(chunk):
                chunk = torch.from_numpy(np.array(chunk, dtype=np.float32))  # reads the rows
            x = chunk.to(self.device, torch.float32)
            dist = (x**2).sum(dim=1, keepdim=True) - 2 * (x @ self.centroids_t) + self.centroid_norms
            best, index = dist.min(dim=1)
            labels.append(index.cpu())
            distances.append(best.clamp(min=0).cpu())
        if not labels:
            return np.zeros(0, np.int64), np.zeros(0, np.float32)
        return torch.cat(labels).numpy().astype(np.int64), torch.cat(distances).numpy()


def shard_labels(shards: list[Shard], nearest: NearestCentroid) -> Iterator[tuple[str, np.ndarray]]:
    """Yield ``(utt, labels (frames,))`` for every utterance of ``shards``, in order.

    Frames are read in windows of about ``batch_frames`` rows, so memory is bounded by one window.
    """
    total = sum(s.meta.num_utts for s in shards)
    with progress_bar(total=total, desc="assign", unit="utt") as progress:
        for shard in shards:
            pending: list[tuple[str, int]] = []
            start = offset = 0
            for utt, frames in shard.lengths + [("", -1)]:
                if frames < 0 or offset + frames - start > nearest.batch_frames:
                    labels, _ = nearest(shard.read_rows(start, offset))
                    cursor = 0
                    for name, count in pending:
                        yield name, labels[cursor : cursor + count]
                        cursor += count
                    progress.update(len(pending))
                    pending, start = [], offset
                if frames >= 0:
                    pending.append((utt, frames))
                    offset += frames


def check_coverage(shards: list[Shard], data_dir: str | os.PathLike, feat_dir: str | os.PathLike) -> None:
    """The shards hold exactly the utterances of ``data_dir/wav.scp``, in its order.

    Raises:
        LabelError: naming the first utterance without features, or the first one out of place.
    """
    utt_ids = list(DataDir.load(data_dir).wav_scp)
    feature_utts = [utt for shard in shards for utt, _ in shard.lengths]
    if feature_utts == utt_ids:
        return
    have = set(feature_utts)
    missing = [u for u in utt_ids if u not in have]
    if missing:
        raise LabelError(f"{feat_dir}: utterance '{missing[0]}' of {data_dir}/wav.scp has no "
                         "features; dump the features of this data dir again")
    position = next(i for i, (a, b) in enumerate(zip(feature_utts, utt_ids)) if a != b)
    raise LabelError(f"{feat_dir}: features hold '{feature_utts[position]}' where {data_dir}/wav.scp "
                     f"has '{utt_ids[position]}'; the features were dumped from another data dir")


def assign_labels(
    feat_dir: str | os.PathLike,
    model: KMeansModel,
    data_dir: str | os.PathLike,
    label_dir: str | os.PathLike,
    label_rate: float | None = None,
    device: str | None = None,
) -> Path:
    """Label every utterance of ``data_dir`` with the nearest centroid of its feature frames.

    Args:
        label_rate: labels per second; None = the features' frame rate. Another rate resamples
            the labels (100 Hz MFCC labels at 50 Hz keep every second frame; ``resample_labels``).
        device: ``cpu`` or ``cuda``; None = cuda when available.
    Returns:
        ``label_dir``, holding ``labels.txt``, ``dict.txt`` (label and count), ``label_rate`` and
        ``source.json`` (feature dir, kind and source checkpoint).
    Raises:
        LabelError: the features do not cover ``data_dir`` in order (the utterance is named).
        ValueError: features of another dimension than the model.
    """
    shards = open_all_shards(feat_dir)
    meta = shards[0].meta
    if meta.dim != model.dim:
        raise ValueError(f"{feat_dir}: features have dim {meta.dim}, the k-means model {model.dim}")
    check_coverage(shards, data_dir, feat_dir)
    rate = meta.frame_rate if label_rate is None else float(label_rate)
    nearest = NearestCentroid(model.centroids, device or default_device())
    labelled = (
        (utt, resample_labels(labels, meta.frame_rate, rate))
        for utt, labels in shard_labels(shards, nearest)
    )
    counts = write_label_dir(label_dir, labelled, [str(i) for i in range(model.k)], rate)
    # Provenance: the report adds the compute of the model these labels came from (HuBERT iter 2).
    atomic_write_text(
        Path(label_dir) / "source.json",
        json.dumps({"features": str(feat_dir), "kind": meta.kind, "checkpoint": meta.source}) + "\n",
    )
    logger.info("wrote %s: %d labels at %g Hz", label_dir, int(counts.sum()), rate)
    return Path(label_dir)
