"""Label quality against reference frame labels: phone purity, cluster purity and PNMI (HuBERT paper).

From the joint distribution p(y, z) of reference class y and cluster z over frames:
phone purity = E_z[max_y p(y|z)], cluster purity = E_y[max_z p(z|y)], PNMI = I(y; z) / H(y)
(fairseq's examples/hubert/measure_teacher_quality.py). References: a data dir's true phones
(``phones`` table, speechssl.data.phones) or a ``ref.txt`` of CTC letter alignments.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Iterable

import numpy as np

from speechssl.data.phones import frame_phone_labels, read_phone_alignments
from speechssl.io.atomic import atomic_write_text
from speechssl.kmeans.labels import LabelError, read_label_table, resample_labels
from speechssl.text.arpabet import ALIGNMENT_PHONES

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
        unaligned_utts: labelled utterances without a reference (phone references only:
            utterances of engines without timings), left out as fairseq leaves them out.
    """

    pnmi: float = 0.0
    phone_purity: float = 0.0
    cluster_purity: float = 0.0
    num_frames: int = 0
    num_utts: int = 0
    rate: float = 0.0
    unaligned_utts: int = 0


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


def phone_pairs(
    data_dir: str | os.PathLike, hyp_table: dict[str, np.ndarray], rate: float
) -> tuple[list[tuple[np.ndarray, np.ndarray]], int]:
    """(reference phone, label) frame pairs of every labelled utterance with a phone alignment.

    The reference of frame i is the phone at its centre ``(i + 0.5) / rate``
    (``frame_phone_labels``), one per label, so no resampling is needed.
    Returns:
        (pairs ``(phone indices (n,), labels (n,))``, number of labelled utterances without one).
    Raises:
        LabelError: no labelled utterance has a phone alignment.
        PhoneTableError: ``data_dir`` has no (or a malformed) ``phones`` table.
    """
    alignments = read_phone_alignments(data_dir)
    pairs = [
        (frame_phone_labels(alignments[utt], len(hyp), rate), hyp)
        for utt, hyp in hyp_table.items()
        if utt in alignments and len(hyp)
    ]
    if not pairs:
        raise LabelError(
            f"{data_dir}/phones: none of the {len(hyp_table)} labelled utterances has a phone "
            "alignment; were the labels made from this data dir?"
        )
    return pairs, len(hyp_table) - len(pairs)


def measure_quality(
    label_dir: str | os.PathLike,
    ref_dir: str | os.PathLike | None = None,
    phones_dir: str | os.PathLike | None = None,
) -> LabelQuality:
    """Quality of ``label_dir``'s labels against ``ref_dir/ref.txt`` or against the true phones of
    the data dir ``phones_dir`` (exactly one of the two); writes ``label_dir/quality.json``."""
    if (ref_dir is None) == (phones_dir is None):
        raise ValueError("measure_quality needs exactly one reference: ref_dir or phones_dir")
    hyp_table, hyp_rate, hyp_symbols = read_label_table(label_dir)
    if not hyp_table:
        raise LabelError(f"{label_dir}: no labelled utterances")
    if phones_dir is not None:
        pairs, unaligned = phone_pairs(phones_dir, hyp_table, hyp_rate)
        rate, num_ref, reference = hyp_rate, len(ALIGNMENT_PHONES), f"{phones_dir}/phones"
    else:
        ref_table, ref_rate, ref_symbols = read_label_table(ref_dir, REF_FILE)
        pairs, rate = aligned_pairs(ref_table, ref_rate, hyp_table, hyp_rate)
        unaligned, num_ref, reference = 0, len(ref_symbols), str(ref_dir)
    counts = joint_counts(pairs, num_ref, len(hyp_symbols))
    pnmi, phone_purity, cluster_purity = quality_from_counts(counts)
    quality = LabelQuality(
        pnmi, phone_purity, cluster_purity, int(counts.sum()), len(pairs), rate, unaligned
    )
    record = {**asdict(quality), "labels": str(label_dir), "reference": reference}
    atomic_write_text(Path(label_dir) / QUALITY_FILE, json.dumps(record, indent=1) + "\n")
    return quality


def format_quality(name: str, quality: LabelQuality) -> str:
    """The one summary line: ``labels NAME: PNMI 0.xxx phone-purity 0.xxx cluster-purity 0.xxx``."""
    return (
        f"labels {name}: PNMI {quality.pnmi:.3f} phone-purity {quality.phone_purity:.3f} "
        f"cluster-purity {quality.cluster_purity:.3f}"
    )
