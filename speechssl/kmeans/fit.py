"""Fit k-means on a random subsample of feature-shard frames with scikit-learn's MiniBatchKMeans.

Frames are drawn from memory-mapped shards, so peak memory is the subsample, not the corpus.
"""

from __future__ import annotations

import logging
import os
from dataclasses import asdict, dataclass

import numpy as np
from sklearn.cluster import MiniBatchKMeans

from speechssl.features.shards import Shard, open_all_shards
from speechssl.kmeans.assign import NearestCentroid
from speechssl.kmeans.model_io import KMeansModel
from speechssl.progress import progress_bar

logger = logging.getLogger(__name__)
READ_ROWS = 16_384  # rows per window read from a shard (2.5 MB of 39-d frames)


@dataclass
class KMeansConfig:
    """MiniBatchKMeans settings; defaults are fairseq's HuBERT ``learn_kmeans.py``.

    Attributes:
        k: number of clusters.
        percent: fraction (0, 1] of each shard's frames used for fitting (fairseq's ``percent``).
        seed: seeds the subsample and the k-means initialisation.
        batch_size, init, n_init, max_iter, max_no_improvement, reassignment_ratio, tol:
            passed to MiniBatchKMeans; ``init_size`` is left to sklearn (3 * batch_size, capped by
            the number of frames) and ``compute_labels`` is off.
    """

    k: int = 100
    percent: float = 1.0
    seed: int = 0
    batch_size: int = 10000
    init: str = "k-means++"
    n_init: int = 20
    max_iter: int = 100
    max_no_improvement: int = 100
    reassignment_ratio: float = 0.0
    tol: float = 0.0


def subsample_size(total: int, fraction: float) -> int:
    """Rows kept of a shard of ``total`` rows: all for fraction >= 1, else at least one."""
    if fraction >= 1.0 or total == 0:
        return total
    return max(1, int(round(total * fraction)))


def check_percent(percent: float) -> None:
    """Raise ValueError unless ``percent`` is a fraction in (0, 1]."""
    if not 0.0 < percent <= 1.0:
        raise ValueError(f"--percent {percent}: expected a fraction in (0, 1] (0.1 = 10%)")


def sample_rows(shard: Shard, out: np.ndarray, rng: np.random.Generator) -> None:
    """Fill ``out`` (count, dim) with a random subset of a shard's rows, in row order.

    The shard is read window by window (``Shard.read_rows``), so besides ``out`` only one window
    of ``READ_ROWS`` rows is in memory.
    """
    total, count = shard.meta.num_frames, out.shape[0]
    index = np.sort(rng.choice(total, size=count, replace=False)) if count < total else None
    filled = 0
    for start, window in shard.windows(READ_ROWS):
        if index is not None:
            lo, hi = np.searchsorted(index, [start, start + READ_ROWS])
            window = window[index[lo:hi] - start]
        out[filled : filled + len(window)] = window
        filled += len(window)


def load_subsample(feat_dir: str | os.PathLike, percent: float, seed: int) -> tuple[np.ndarray, dict]:
    """Subsample of every shard of ``feat_dir``: (frames (M, dim) float32, shard meta).

    ``percent`` of each shard's frames, drawn without replacement; the result is allocated once
    and filled shard by shard, so memory is the subsample plus one read window.
    """
    check_percent(percent)
    rng = np.random.default_rng(seed)
    shards = open_all_shards(feat_dir)
    counts = [subsample_size(s.meta.num_frames, percent) for s in shards]
    frames = np.empty((sum(counts), shards[0].meta.dim), dtype=np.float32)
    offset = 0
    for shard, count in zip(progress_bar(shards, desc="sample", unit="shard"), counts):
        sample_rows(shard, frames[offset : offset + count], rng)
        offset += count
    return frames, asdict(shards[0].meta)


def fit_frames(frames: np.ndarray, config: KMeansConfig, feature_kind: str = "",
               frame_rate: float = 0.0) -> KMeansModel:
    """Fit MiniBatchKMeans on ``frames`` (M, dim) float32 held in memory.

    Returns:
        KMeansModel with centroids (k, dim) and the mean squared distance of the frames to their
        centroid as ``inertia``.
    Raises:
        ValueError: fewer frames than clusters.
    """
    if frames.shape[0] < config.k:
        raise ValueError(
            f"only {frames.shape[0]} frames sampled for k={config.k}; raise --percent or lower --k"
        )
    logger.info("fitting k=%d on %d frames of dim %d", config.k, *frames.shape)
    estimator = MiniBatchKMeans(
        n_clusters=config.k,
        init=config.init,
        max_iter=config.max_iter,
        batch_size=config.batch_size,
        tol=config.tol,
        max_no_improvement=config.max_no_improvement,
        n_init=config.n_init,
        reassignment_ratio=config.reassignment_ratio,
        compute_labels=False,
        init_size=None,
        random_state=config.seed,
    )
    estimator.fit(frames)
    centroids = estimator.cluster_centers_.astype(np.float32)
    _, distances = NearestCentroid(centroids)(frames)
    return KMeansModel(
        centroids=centroids,
        feature_kind=feature_kind,
        frame_rate=frame_rate,
        inertia=float(distances.mean()),
        num_frames=int(frames.shape[0]),
        extra={"config": asdict(config), "iterations": int(estimator.n_iter_),
               "minibatches": int(estimator.n_steps_), "fit": "in_memory"},
    )


def fit_kmeans(feat_dir: str | os.PathLike, config: KMeansConfig) -> KMeansModel:
    """Fit k-means on a ``config.percent`` subsample of the shards of ``feat_dir``."""
    frames, meta = load_subsample(feat_dir, config.percent, config.seed)
    try:
        return fit_frames(frames, config, meta["kind"], meta["frame_rate"])
    except ValueError as error:
        raise ValueError(f"{feat_dir}: {error}") from None
