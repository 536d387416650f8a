"""K-means models on disk: centroids in a safetensors file, facts about the fit in its metadata.

No pickle: the file holds one float32 tensor ``centroids`` (K, D) and string metadata.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
from safetensors import SafetensorError, safe_open
from safetensors.numpy import load_file, save_file

from speechssl.io.atomic import atomic_path

CENTROIDS = "centroids"


@dataclass
class KMeansModel:
    """A fitted k-means model.

    Attributes:
        centroids: shape (k, dim), float32.
        feature_kind: kind of the features it was fitted on (``mfcc-kaldi``, ``layer6``...).
        frame_rate: frames per second of those features.
        inertia: mean squared distance of the fitting frames to their nearest centroid.
        num_frames: frames the model was fitted on.
        extra: other facts of the fit (seed, percent, sklearn settings), JSON-serialisable.
    """

    centroids: np.ndarray
    feature_kind: str = ""
    frame_rate: float = 0.0
    inertia: float = 0.0
    num_frames: int = 0
    extra: dict = field(default_factory=dict)

    @property
    def k(self) -> int:
        return int(self.centroids.shape[0])

    @property
    def dim(self) -> int:
        return int(self.centroids.shape[1])


def save_kmeans(model: KMeansModel, path: str | os.PathLike) -> None:
    """Write ``model`` to ``path`` (.safetensors) atomically."""
    facts = asdict(model)
    del facts["centroids"]
    metadata = {"k": str(model.k), "dim": str(model.dim), "facts": json.dumps(facts)}
    centroids = np.ascontiguousarray(model.centroids, dtype=np.float32)
    with atomic_path(path) as tmp:
        save_file({CENTROIDS: centroids}, str(tmp), metadata=metadata)


def load_kmeans(path: str | os.PathLike) -> KMeansModel:
    """Read a model written by ``save_kmeans``. Raises ValueError naming the file when malformed."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: k-means model not found (run 'speechssl kmeans fit')")
    try:
        tensors = load_file(str(path))
        with safe_open(str(path), framework="numpy") as f:
            metadata = f.metadata() or {}
    except (SafetensorError, OSError) as error:
        raise ValueError(f"{path}: not a safetensors k-means model ({error})") from None
    if CENTROIDS not in tensors or "facts" not in metadata:
        raise ValueError(f"{path}: no '{CENTROIDS}' tensor or metadata; not a k-means model")
    centroids = tensors[CENTROIDS]
    if centroids.ndim != 2 or str(centroids.shape[0]) != metadata.get("k"):
        raise ValueError(f"{path}: centroids of shape {centroids.shape} disagree with k={metadata.get('k')}")
    return KMeansModel(centroids=centroids, **json.loads(metadata["facts"]))
