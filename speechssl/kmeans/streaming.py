"""Streaming k-means: MiniBatchKMeans updated minibatch by minibatch from frames drawn off the shards.

The in-memory fit (``speechssl.kmeans.fit``, fairseq's recipe) holds its ``percent`` subsample in
memory, so its memory grows with the corpus. This one never holds more than an initialisation
sample and one minibatch: every minibatch is ``batch_size`` frames drawn uniformly from all
frames of all shards (read from freshly mapped shards, ``Shard.gather_rows``), and
``MiniBatchKMeans.partial_fit`` takes one step on it. ``percent`` keeps its meaning for the
schedule: an epoch is ``percent`` of the frames, and at most ``max_iter`` epochs are run, with
sklearn's early stopping (exponentially weighted batch inertia, ``max_no_improvement`` steps).
"""

from __future__ import annotations

import logging
import os
from dataclasses import asdict

import numpy as np
from sklearn.cluster import MiniBatchKMeans, kmeans_plusplus
from tqdm import tqdm

from speechssl.features.shards import Shard, open_all_shards
from speechssl.kmeans.assign import NearestCentroid
from speechssl.kmeans.fit import READ_ROWS, KMeansConfig, subsample_size
from speechssl.kmeans.model_io import KMeansModel

logger = logging.getLogger(__name__)


def distinct_random_rows(total: int, count: int, rng: np.random.Generator) -> np.ndarray:
    """``count`` distinct sorted integers from [0, total), drawn uniformly in O(count) memory
    (``Generator.choice`` without replacement permutes all ``total`` when count > total / 50)."""
    if count > total:
        raise ValueError(f"cannot draw {count} distinct rows from {total}")
    rows = np.unique(rng.integers(0, total, size=count))
    while len(rows) < count:  # top up the few collisions
        rows = np.unique(np.concatenate([rows, rng.integers(0, total, size=count - len(rows))]))
    return rows


class FrameDrawer:
    """Uniform random frames from every row of a list of shards, without loading them.

    Args:
        shards: the opened shards (same dim).
        rng: source of the draws.
    """

    def __init__(self, shards: list[Shard], rng: np.random.Generator):
        self.shards = shards
        self.rng = rng
        self.ends = np.cumsum([s.meta.num_frames for s in shards])
        self.total = int(self.ends[-1]) if len(shards) else 0

    def draw(self, count: int) -> np.ndarray:
        """``count`` distinct random frames, shape (count, dim) float32, in shard order."""
        rows = distinct_random_rows(self.total, count, self.rng)
        shard_of_row = np.searchsorted(self.ends, rows, side="right")
        starts = np.concatenate([[0], self.ends[:-1]])
        parts = [
            self.shards[index].gather_rows(rows[shard_of_row == index] - starts[index])
            for index in np.unique(shard_of_row)
        ]
        return np.concatenate(parts)


def best_initial_centroids(sample: np.ndarray, config: KMeansConfig, rng: np.random.Generator) -> np.ndarray:
    """k-means++ ``config.n_init`` times on ``sample`` (M, dim); the centroids (k, dim) of the lowest
    inertia on the sample (what sklearn's fit does on its ``init_size`` sample)."""
    nearest_inertia = []
    for _ in range(config.n_init):
        centroids, _ = kmeans_plusplus(sample, config.k, random_state=int(rng.integers(2**31 - 1)))
        _, distances = NearestCentroid(centroids.astype(np.float32))(sample)
        nearest_inertia.append((float(distances.mean()), centroids))
    return min(nearest_inertia, key=lambda pair: pair[0])[1].astype(np.float32)


def mean_distance(shards: list[Shard], centroids: np.ndarray) -> float:
    """Mean squared distance of every frame of ``shards`` to its nearest centroid, window by window."""
    nearest = NearestCentroid(centroids)
    total, count = 0.0, 0
    for shard in shards:
        for start in range(0, shard.meta.num_frames, READ_ROWS):
            window = shard.read_rows(start, min(start + READ_ROWS, shard.meta.num_frames))
            _, distances = nearest(window)
            total += float(distances.sum())
            count += len(window)
    return total / max(count, 1)


def fit_kmeans_streaming(feat_dir: str | os.PathLike, config: KMeansConfig) -> KMeansModel:
    """Fit k-means on the shards of ``feat_dir`` one drawn minibatch at a time.

    Memory: the initialisation sample (``3 * batch_size`` frames, sklearn's ``init_size``), one
    minibatch and the pages of its rows, whatever the corpus size.

    Returns:
        KMeansModel with centroids (k, dim); ``inertia`` is the mean squared distance of every frame
        of the shards to its centroid; ``num_frames`` the frames one epoch visits.
    Raises:
        ValueError: bad ``percent``, or an epoch of fewer frames than clusters.
    """
    if not 0.0 < config.percent <= 1.0:
        raise ValueError(f"--percent {config.percent}: expected a fraction in (0, 1] (0.1 = 10%)")
    shards = open_all_shards(feat_dir)
    epoch = sum(subsample_size(s.meta.num_frames, config.percent) for s in shards)
    if epoch < config.k:
        raise ValueError(f"{feat_dir}: only {epoch} frames per epoch for k={config.k}; "
                         "raise --percent or lower --k")
    rng = np.random.default_rng(config.seed)
    drawer = FrameDrawer(shards, rng)
    batch = min(config.batch_size, epoch)
    init_sample = drawer.draw(min(3 * batch, epoch))
    centroids = best_initial_centroids(init_sample, config, rng)
    tolerance = config.tol * float(init_sample.var(axis=0).mean())  # sklearn scales tol so
    estimator = MiniBatchKMeans(n_clusters=config.k, init=centroids, n_init=1, batch_size=batch,
                                reassignment_ratio=config.reassignment_ratio, compute_labels=False,
                                random_state=config.seed)
    steps = max(1, config.max_iter * epoch // batch)
    smoothing = min(1.0, 2.0 * batch / (epoch + 1))  # sklearn's EWA weight of a batch
    smoothed, best, stale, step = None, np.inf, 0, 0
    progress = tqdm(range(steps), desc=f"k-means k={config.k}", unit="batch")
    for step in progress:
        frames = drawer.draw(batch)
        before = estimator.cluster_centers_.copy() if step else centroids
        _, distances = NearestCentroid(before)(frames)  # the batch's inertia before its update
        estimator.partial_fit(frames)
        batch_inertia = float(distances.mean())
        smoothed = batch_inertia if smoothed is None else (1 - smoothing) * smoothed + smoothing * batch_inertia
        if tolerance > 0 and np.sum((estimator.cluster_centers_ - before) ** 2) <= tolerance:
            break
        best, stale = (smoothed, 0) if smoothed < best else (best, stale + 1)
        if stale >= config.max_no_improvement:
            break
        progress.set_postfix(inertia=f"{smoothed:.4g}", refresh=False)
    progress.close()
    logger.info("streaming k-means: %d of at most %d minibatches of %d frames", step + 1, steps, batch)
    centroids = estimator.cluster_centers_.astype(np.float32)
    meta = shards[0].meta
    return KMeansModel(
        centroids=centroids,
        feature_kind=meta.kind,
        frame_rate=meta.frame_rate,
        inertia=mean_distance(shards, centroids),
        num_frames=epoch,
        extra={"config": asdict(config), "iterations": round((step + 1) * batch / epoch, 2),
               "minibatches": step + 1, "fit": "streaming"},
    )
