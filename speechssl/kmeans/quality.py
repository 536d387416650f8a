"""Label quality against reference frame labels: phone purity, cluster purity and PNMI (HuBERT paper).

From the joint distribution p(y, z) of reference class y and cluster z over frames:
phone purity = E_z[max_y p(y|z)], cluster purity = E_y[max_z p(z|y)], PNMI = I(y; z) / H(y).
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Iterable

import numpy as np

from speechssl.io.atomic import atomic_write_text
from speechssl.kmeans.labels import LabelError, read_label_table, resample_labels

QUALITY_FILE = "quality.json"
REF_FILE = "ref.txt"


@dataclass
class LabelQuality:
    """Quality of cluster labels z against reference labels y.

    Attributes:
        pnmi: I(y; z) / H(y), 1 when z determines y, 0 when independent.
        phone_purity: E_z[max_y p(y|z)] (here a *letter* purity when references are letters).
        cluster_purity: E_y[max_z p(z|y)].
        num_frames: frames counted.
        num_utts: utterances counted.
        rate: common frame rate (Hz) the two label streams were compared at.
    """

    pnmi: float = 0.0
    phone_purity: float = 0.0
    cluster_purity: float = 0.0
    num_frames: int = 0
    num_utts: int = 0
    rate: float = 0.0


def joint_counts(pairs: Iterable[tuple[np.ndarray, np.ndarray]], num_ref: int, num_hyp: int) -> np.ndarray:
    """Count matrix of (reference, cluster) pairs.

    Args:
        pairs: ``(ref (n,), hyp (n,))`` int arrays of equal length per utterance.
    Returns:
        shape (num_ref, num_hyp) int64.
    """
    counts = np.zeros(num_ref * num_hyp, dtype=np.int64)
    for ref, hyp in pairs:
        counts += np.bincount(ref * num_hyp + hyp, minlength=num_ref * num_hyp)
    return counts.reshape(num_ref, num_hyp)


def quality_from_counts(counts: np.ndarray) -> tuple[float, float, float]:
    """(PNMI, phone purity, cluster purity) of a (num_ref, num_hyp) count matrix.

    Raises ValueError when the matrix is empty. H(y) = 0 (one reference class) gives PNMI 0.
    """
    total = counts.sum()
    if total == 0:
        raise ValueError("no frames to measure label quality on")
    joint = counts / total
    p_ref = joint.sum(axis=1, keepdims=True)  # (Y, 1)
    p_hyp = joint.sum(axis=0, keepdims=True)  # (1, Z)
    nonzero = joint > 0
    mutual = float((joint[nonzero] * np.log(joint[nonzero] / (p_ref @ p_hyp)[nonzero])).sum())
    ref_nonzero = p_ref[p_ref > 0]
    entropy = float(-(ref_nonzero * np.log(ref_nonzero)).sum())
    pnmi = mutual / entropy if entropy > 0 else 0.0
    phone_purity = float(joint.max(axis=0).sum())  # sum_z p(z) max_y p(y|z)
    cluster_purity = float(joint.max(axis=1).sum())  # sum_y p(y) max_z p(z|y)
    return pnmi, phone_purity, cluster_purity


def aligned_pairs(
    ref_table: dict[str, np.ndarray],
    ref_rate: float,
    hyp_table: dict[str, np.ndarray],
    hyp_rate: float,
    tolerance_s: float = 0.05,
) -> tuple[list[tuple[np.ndarray, np.ndarray]], float]:
    """Bring both label streams to the higher of the two rates, utterance by utterance.

    The coarser stream's labels are repeated (``resample_labels``); the last few frames of the
    longer stream are cropped. Returns (pairs, common rate).
    Raises:
        LabelError: an utterance of ``hyp_table`` without a reference, or lengths that differ by
            more than ``tolerance_s``.
    """
    rate = max(ref_rate, hyp_rate)
    pairs = []
    for utt, hyp in hyp_table.items():
        if utt not in ref_table:
            raise LabelError(f"utterance '{utt}' has labels but no reference alignment")
        ref = resample_labels(ref_table[utt], ref_rate, rate)
        hyp = resample_labels(hyp, hyp_rate, rate)
        if abs(len(ref) - len(hyp)) > tolerance_s * rate:
            raise LabelError(
                f"utterance '{utt}': {len(hyp)} labels vs {len(ref)} reference frames at {rate:g} Hz; "
                "were they made from the same audio?"
            )
        length = min(len(ref), len(hyp))
        pairs.append((ref[:length], hyp[:length]))
    return pairs, rate


def measure_quality(label_dir: str | os.PathLike, ref_dir: str | os.PathLike) -> LabelQuality:
    """Quality of ``label_dir``'s labels against ``ref_dir/ref.txt``; writes ``quality.json``."""
    hyp_table, hyp_rate, hyp_symbols = read_label_table(label_dir)
    ref_table, ref_rate, ref_symbols = read_label_table(ref_dir, REF_FILE)
    if not hyp_table:
        raise LabelError(f"{label_dir}: no labelled utterances")
    pairs, rate = aligned_pairs(ref_table, ref_rate, hyp_table, hyp_rate)
    counts = joint_counts(pairs, len(ref_symbols), len(hyp_symbols))
    pnmi, phone_purity, cluster_purity = quality_from_counts(counts)
    quality = LabelQuality(pnmi, phone_purity, cluster_purity, int(counts.sum()), len(pairs), rate)
    record = {**asdict(quality), "labels": str(label_dir), "reference": str(ref_dir)}
    atomic_write_text(Path(label_dir) / QUALITY_FILE, json.dumps(record, indent=1) + "\n")
    return quality


def format_quality(name: str, quality: LabelQuality) -> str:
    """The one summary line: ``labels NAME: PNMI 0.xxx phone-purity 0.xxx cluster-purity 0.xxx``."""
    return (
        f"labels {name}: PNMI {quality.pnmi:.3f} phone-purity {quality.phone_purity:.3f} "
        f"cluster-purity {quality.cluster_purity:.3f}"
    )
