"""Streaming k-means: MiniBatchKMeans updated minibatch by minibatch from frames drawn off the shards.

The in-memory fit (``speechssl.kmeans.fit``, fairseq's recipe) holds its ``percent`` subsample in
memory, so its memory grows with the corpus. This one never holds more than an initialisation
sample and one minibatch: every minibatch is ``batch_size`` frames drawn from all frames of all
shards as random blocks of consecutive frames (``FrameDrawer``, one read per block), and
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

from speechssl.features.shards import Shard, open_all_shards
from speechssl.kmeans.assign import NearestCentroid
from speechssl.kmeans.fit import READ_ROWS, KMeansConfig, check_percent, subsample_size
from speechssl.kmeans.model_io import KMeansModel
from speechssl.progress import progress_bar

logger = logging.getLogger(__name__)
DISTANCE_CHUNK = 4096  # frames per distance matrix: (4096, k) temporaries instead of (batch, k)


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
    """Random frames from every row of a list of shards, without loading them.

    A draw cuts the rows of all shards, one after the other, into blocks of ``block_frames``
    consecutive frames starting at a random offset, picks distinct blocks uniformly and keeps a
    uniform subset of their rows. All blocks have the same size, so every frame covered by the
    blocks is equally likely; only the first and last ``block_frames - 1`` rows of the whole
    sequence are drawn less often (they are inside a block for some offsets only). A minibatch
    costs one read per block instead of one per frame (64 MFCC frames: 0.64 s of one utterance).

    Args:
        shards: the opened shards (same dim).
        rng: source of the draws.
        block_frames: consecutive frames read together.
    """

    def __init__(self, shards: list[Shard], rng: np.random.Generator, block_frames: int = 64):
        self.shards = shards
        self.rng = rng
        self.block_frames = block_frames
        self.ends = np.cumsum([s.meta.num_frames for s in shards])
        self.starts = self.ends - [s.meta.num_frames for s in shards]
        self.total = int(self.ends[-1]) if len(shards) else 0

    def draw(self, count: int) -> np.ndarray:
        """``count`` distinct random frames, shape (count, dim) float32."""
        if count > self.total:
            raise ValueError(f"cannot draw {count} distinct frames from {self.total}")
        size = self.block_frames
        offset = int(self.rng.integers(0, size))
        num_blocks = (self.total - offset) // size
        if num_blocks * size < count:  # nearly every frame wanted: single frames
            size, offset, num_blocks = 1, 0, self.total
        blocks = distinct_random_rows(num_blocks, -(-count // size), self.rng)
        rows = self.read_blocks(offset + blocks * size, size)
        keep = np.sort(self.rng.choice(len(rows), size=count, replace=False))
        return rows[keep]

    def read_blocks(self, starts: np.ndarray, size: int) -> np.ndarray:
        """Rows ``[start, start + size)`` of the whole row sequence for each of ``starts`` (sorted),
        shape (len(starts) * size, dim); a block across a shard boundary is read from both."""
        ranges: list[list[tuple[int, int]]] = [[] for _ in self.shards]
        for low in starts.tolist():
            high = low + size
            for index in range(int(np.searchsorted(self.ends, low, side="right")), len(self.shards)):
                start, end = int(self.starts[index]), int(self.ends[index])
                if start >= high:
                    break
                ranges[index].append((max(low, start) - start, min(high, end) - start))
        return np.concatenate([shard.read_ranges(r) for shard, r in zip(self.shards, ranges) if r])


def best_initial_centroids(sample: np.ndarray, config: KMeansConfig, rng: np.random.Generator) -> np.ndarray:
    """k-means++ ``config.n_init`` times on ``sample`` (M, dim); the centroids (k, dim) of the lowest
    inertia on the sample (what sklearn's fit does on its ``init_size`` sample)."""
    nearest_inertia = []
    for _ in range(config.n_init):
        centroids, _ = kmeans_plusplus(sample, config.k, random_state=int(rng.integers(2**31 - 1)))
        _, distances = NearestCentroid(centroids.astype(np.float32), batch_frames=DISTANCE_CHUNK)(sample)
        nearest_inertia.append((float(distances.mean()), centroids))
    return min(nearest_inertia, key=lambda pair: pair[0])[1].astype(np.float32)


def mean_distance(shards: list[Shard], centroids: np.ndarray) -> float:
    """Mean squared distance of every frame of ``shards`` to its nearest centroid, window by window."""
    nearest = NearestCentroid(centroids, batch_frames=DISTANCE_CHUNK)
    total, count = 0.0, 0
    for shard in shards:
        for _, window in shard.windows(READ_ROWS):
            _, distances = nearest(window)
            total += float(distances.sum())
            count += len(window)
    return total / max(count, 1)


def fit_kmeans_streaming(feat_dir: str | os.PathLike, config: KMeansConfig) -> KMeansModel:
    """Fit k-means on the shards of ``feat_dir`` one drawn minibatch at a time.

    Memory: the initialisation sample (``3 * batch_size`` frames, sklearn's ``init_size``) and one
    minibatch, whatever the corpus size.

    Returns:
        KMeansModel with centroids (k, dim); ``inertia`` is the mean squared distance of every frame
        of the shards to its centroid; ``num_frames`` the frames one epoch visits.
    Raises:
        ValueError: bad ``percent``, or an epoch of fewer frames than clusters.
    """
    check_percent(config.percent)
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
    tolerance = config.tol * float(init_sample.var(axis=0).mean())  # relative, as sklearn's tol
    estimator = MiniBatchKMeans(n_clusters=config.k, init=centroids, n_init=1, batch_size=batch,
                                reassignment_ratio=config.reassignment_ratio, compute_labels=False,
                                random_state=config.seed)
    steps = max(1, config.max_iter * epoch // batch)
    smoothing = min(1.0, 2.0 * batch / (epoch + 1))  # sklearn's EWA weight of a batch
    smoothed, best, stale, step = None, np.inf, 0, 0
    progress = progress_bar(range(steps), desc=f"k-means k={config.k}", unit="batch")
    for step in progress:
        frames = drawer.draw(batch)
        before = estimator.cluster_centers_.copy() if step else centroids
        _, distances = NearestCentroid(before, batch_frames=DISTANCE_CHUNK)(frames)  # before the step
        estimator.partial_fit(frames)
        batch_inertia = float(distances.mean())
        smoothed = batch_inertia if smoothed is None else smoothed + smoothing * (batch_inertia - smoothed)
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
