"""Synthetic k-means data: Gaussian blobs around known centres, in runs of frames."""

from __future__ import annotations

import numpy as np

CENTRES = np.array([[0, 0, 0], [10, 0, 0], [0, 10, 0], [0, 0, 10], [10, 10, 10]], dtype=np.float32)


def blob_features(num_utts: int = 24, frames: int = 100, seed: int = 0) -> tuple[dict, dict]:
    """Per-utterance 3-d frames around ``CENTRES`` (std 0.3), runs of 10 frames per centre.

    Returns (utt -> features (frames, 3), utt -> true centre index per frame (frames,)).
    """
    rng = np.random.default_rng(seed)
    feats, truth = {}, {}
    for index in range(num_utts):
        utt = f"spk{index % 3}-utt{index:03d}"
        classes = np.repeat(rng.integers(0, len(CENTRES), -(-frames // 10)), 10)[:frames]
        feats[utt] = (CENTRES[classes] + 0.3 * rng.standard_normal((frames, 3))).astype(np.float32)
        truth[utt] = classes
    return feats, truth
