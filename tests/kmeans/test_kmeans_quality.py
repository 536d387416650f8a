"""Label quality numbers: hand-computed example, perfect and independent labels, rate alignment."""

from __future__ import annotations

import json

import numpy as np
import pytest

from speechssl.kmeans.labels import LabelError, write_label_dir
from speechssl.kmeans.quality import (
    aligned_pairs,
    format_quality,
    joint_counts,
    measure_quality,
    quality_from_counts,
)


def quality_of(ref, hyp):
    ref, hyp = np.array(ref), np.array(hyp)
    return quality_from_counts(joint_counts([(ref, hyp)], ref.max() + 1, hyp.max() + 1))


def test_hand_computed_example():
    # joint counts (y, z): (0,0)=2 (0,1)=1 (1,1)=2 (2,1)=1 over 6 frames
    # I = 1/3 ln2 + 1/6 ln(1/2) + 1/3 ln1.5 + 1/6 ln1.5 = 0.318257; H(y) = 1.011404
    pnmi, phone_purity, cluster_purity = quality_of([0, 0, 0, 1, 1, 2], [0, 0, 1, 1, 1, 1])
    assert pnmi == pytest.approx(0.314669, abs=1e-6)
    assert phone_purity == pytest.approx(4 / 6)  # z0: 2/6, z1: 2/6
    assert cluster_purity == pytest.approx(5 / 6)  # y0: 2/6, y1: 2/6, y2: 1/6


def test_perfect_and_independent_labels():
    ref = [0, 1, 2, 2, 1, 0, 3]
    renamed = [7, 4, 2, 2, 4, 7, 0]  # a relabelling carries all information
    assert quality_of(ref, renamed) == pytest.approx((1.0, 1.0, 1.0))
    # every (y, z) pair once: p(y, z) = p(y) p(z) exactly
    pnmi, phone_purity, cluster_purity = quality_of([0, 0, 1, 1], [0, 1, 0, 1])
    assert pnmi == pytest.approx(0.0, abs=1e-12)
    assert (phone_purity, cluster_purity) == pytest.approx((0.5, 0.5))
    rng = np.random.default_rng(0)
    random = quality_of(rng.integers(0, 5, 100_000), rng.integers(0, 20, 100_000))
    assert random[0] < 0.002


def test_rates_are_aligned_to_the_finer_one():
    pairs, rate = aligned_pairs({"u": np.array([1, 2])}, 50, {"u": np.array([5, 5, 6, 6, 6])}, 100)
    assert rate == 100
    np.testing.assert_array_equal(pairs[0][0], [1, 1, 2, 2])
    np.testing.assert_array_equal(pairs[0][1], [5, 5, 6, 6])
    with pytest.raises(LabelError, match="utterance 'v' has labels but no reference"):
        aligned_pairs({"u": np.array([1])}, 50, {"v": np.array([1])}, 50)
    with pytest.raises(LabelError, match="utterance 'u': 30 labels vs 2 reference frames"):
        aligned_pairs({"u": np.array([1])}, 50, {"u": np.zeros(30, int)}, 100)


def test_measure_quality_writes_json(tmp_path):
    ref = {"a": np.array([0, 0, 1, 1, 2]), "b": np.array([2, 2, 1])}
    hyp = {"a": np.array([3, 3, 0, 0, 1]), "b": np.array([1, 1, 0])}
    write_label_dir(tmp_path / "ref", ref.items(), ["<sil>", "A", "B"], 50, filename="ref.txt")
    write_label_dir(tmp_path / "km", hyp.items(), ["0", "1", "2", "3"], 50)
    quality = measure_quality(tmp_path / "km", tmp_path / "ref")
    assert (quality.pnmi, quality.num_frames, quality.num_utts) == (pytest.approx(1.0), 8, 2)
    record = json.loads((tmp_path / "km/quality.json").read_text())
    assert record["pnmi"] == pytest.approx(1.0) and record["rate"] == 50
    assert format_quality("km", quality) == "labels km: PNMI 1.000 phone-purity 1.000 cluster-purity 1.000"
