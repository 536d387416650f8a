"""Batched dynamic time warping over frame-wise angular distances, for ABX (speechssl.probe.abx).

The Libri-light / ZeroSpeech ABX distance: frames normalised to unit length, frame distance
``arccos(a . b) / pi``, DTW cost of the best path divided by that path's length.
"""

from __future__ import annotations

import numpy as np

DEFAULT_BATCH = 512  # pairs per vectorised DTW batch


def unit_frames(features: np.ndarray) -> np.ndarray:
    """Each frame divided by its length (all-zero frames stay zero): (frames, dim) float32."""
    features = np.asarray(features, dtype=np.float32)
    norms = np.linalg.norm(features, axis=1, keepdims=True)
    return features / np.where(norms > 0, norms, 1.0)


def angular_distances(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Frame-wise angular distances of padded unit-frame batches.

    Args:
        x: shape (P, N, D), y: shape (P, M, D), unit frames (zero padding allowed).
    Returns:
        shape (P, N, M) float64 in [0, 1]: ``arccos(x_i . y_j) / pi``.
    """
    cosine = np.matmul(x, y.transpose(0, 2, 1)).astype(np.float64)
    return np.arccos(np.clip(cosine, -1.0, 1.0)) / np.pi


def dtw_normalised(distances: np.ndarray, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """Path-length-normalised DTW cost of each pair of a padded batch.

    Steps are (1, 0), (1, 1) and (0, 1). Ties in the backtrack that counts the path length go
    to the diagonal, then to the column step, as in Libri-light's ``dtw.pyx``.

    Args:
        distances: shape (P, N, M); only ``[:rows[p], :cols[p]]`` of pair p is read.
        rows, cols: shape (P,) int, the true lengths (>= 1).
    Returns:
        shape (P,) float64: cost of the best path from (0, 0) to (rows-1, cols-1) / its length.
    """
    count, n, m = distances.shape
    cost = np.full((count, n + 1, m + 1), np.inf)
    cost[:, 0, 0] = 0.0
    # anti-diagonals i + j = s are independent of each other's cells: one vectorised step each
    for s in range(n + m - 1):
        i = np.arange(max(0, s - m + 1), min(n, s + 1))
        j = s - i
        best = np.minimum(np.minimum(cost[:, i, j + 1], cost[:, i, j]), cost[:, i + 1, j])
        cost[:, i + 1, j + 1] = distances[:, i, j] + best
    pair = np.arange(count)
    i, j = rows.astype(np.int64) - 1, cols.astype(np.int64) - 1
    total = cost[pair, i + 1, j + 1]
    length = np.ones(count, dtype=np.int64)
    active = (i > 0) & (j > 0)
    while active.any():
        p, ip, jp = pair[active], i[active], j[active]
        up, left, diag = cost[p, ip, jp + 1], cost[p, ip + 1, jp], cost[p, ip, jp]
        take_diag = (diag <= left) & (diag <= up)
        take_left = ~take_diag & (left <= up)
        i[active] = ip - (take_diag | ~take_left).astype(np.int64)
        j[active] = jp - (take_diag | take_left).astype(np.int64)
        length[active] += 1
        active = (i > 0) & (j > 0)
    return total / (length + i + j)


def pair_distances(
    items: list[np.ndarray], pairs: np.ndarray, batch: int = DEFAULT_BATCH
) -> np.ndarray:
    """Normalised DTW distance of each pair of items.

    Args:
        items: unit-frame sequences, each (frames_k, D) with frames_k >= 1.
        pairs: shape (Q, 2) int, indices into ``items``.
    Returns:
        shape (Q,) float64.
    """
    lengths = np.array([len(item) for item in items])
    out = np.empty(len(pairs))
    if not len(pairs):
        return out
    # pairs of similar lengths share a batch, so little of it is padding
    order = np.lexsort((lengths[pairs[:, 1]], lengths[pairs[:, 0]]))
    dim = items[0].shape[1]
    for start in range(0, len(order), batch):
        chosen = order[start : start + batch]
        first, second = pairs[chosen, 0], pairs[chosen, 1]
        rows, cols = lengths[first], lengths[second]
        x = np.zeros((len(chosen), rows.max(), dim), dtype=np.float32)
        y = np.zeros((len(chosen), cols.max(), dim), dtype=np.float32)
        for k, (a, b) in enumerate(zip(first, second)):
            x[k, : rows[k]] = items[a]
            y[k, : cols[k]] = items[b]
        out[chosen] = dtw_normalised(angular_distances(x, y), rows, cols)
    return out
