"""Label quality against a data dir's true phones (``phones`` table) at the label rate."""

from __future__ import annotations

import json

import numpy as np
import pytest

from speechssl.cli.main import main
from speechssl.data.phones import PhoneSegment, frame_phone_labels, write_phone_alignments
from speechssl.kmeans.labels import LabelError, write_label_dir
from speechssl.kmeans.quality import measure_quality

# 50 Hz frame centres 0.01, 0.03, ...: a -> SIL SIL SIL AH, b -> AH T
PHONES = {
    "s-a": [PhoneSegment("SIL", 0.0, 0.06), PhoneSegment("AH", 0.06, 0.08)],
    "s-b": [PhoneSegment("AH", 0.0, 0.02), PhoneSegment("T", 0.02, 0.04)],
}


def _labels(tmp_path, table, rate=50.0, k=3):
    write_label_dir(tmp_path / "km", table.items(), [str(i) for i in range(k)], rate)
    return tmp_path / "km"


def test_hand_computed_against_phones(tmp_path):
    write_phone_alignments(tmp_path / "data", PHONES)
    # joint counts (phone, cluster): (SIL,0)=2 (SIL,1)=1 (AH,1)=2 (T,1)=1, as the hand-computed
    # example of test_kmeans_quality; s-c (an espeak-ng utterance) has no alignment
    labels = {"s-a": np.array([0, 0, 1, 1]), "s-b": np.array([1, 1]), "s-c": np.array([2, 2])}
    quality = measure_quality(_labels(tmp_path, labels), phones_dir=tmp_path / "data")
    assert quality.pnmi == pytest.approx(0.314669, abs=1e-6)
    assert (quality.phone_purity, quality.cluster_purity) == pytest.approx((4 / 6, 5 / 6))
    assert (quality.num_frames, quality.num_utts, quality.unaligned_utts, quality.rate) == (6, 2, 1, 50)
    record = json.loads((tmp_path / "km" / "quality.json").read_text())
    assert record["reference"].endswith("data/phones") and record["unaligned_utts"] == 1


def test_labels_equal_to_the_phones_give_pnmi_one(tmp_path):
    rng = np.random.default_rng(0)
    phones = ["SIL", "DH", "AH", "K", "AE", "T", "S", "IY", "Z", "SIL"]
    table = {}
    for u in range(6):
        ends = np.cumsum(rng.uniform(0.03, 0.15, len(phones)))
        starts = np.concatenate([[0.0], ends[:-1]])
        table[f"s-{u}"] = [PhoneSegment(p, round(a, 3), round(b, 3)) for p, a, b in zip(phones, starts, ends)]
    write_phone_alignments(tmp_path / "data", table)
    rate = 50.0
    labels = {
        utt: frame_phone_labels(segs, int(segs[-1].end * rate), rate) for utt, segs in table.items()
    }
    quality = measure_quality(_labels(tmp_path, labels, rate, k=40), phones_dir=tmp_path / "data")
    assert (quality.pnmi, quality.phone_purity, quality.cluster_purity) == pytest.approx((1, 1, 1))
    shuffled = {u: rng.permutation(v) for u, v in labels.items()}
    assert measure_quality(_labels(tmp_path, shuffled, rate, k=40), phones_dir=tmp_path / "data").pnmi < 0.5


def test_cli_and_errors(tmp_path, capsys):
    write_phone_alignments(tmp_path / "data", PHONES)
    labels = _labels(tmp_path, {"s-a": np.array([0, 0, 1, 1]), "s-b": np.array([1, 2]), "s-c": np.array([2])})
    assert main(["kmeans", "quality", "--labels", str(labels), "--phones", str(tmp_path / "data")]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("labels km: PNMI ")
    assert out[1] == (
        "1 labelled utterances have no phone alignment (espeak-ng voices give no timings) and are "
        "left out; 2 counted"
    )
    assert main(["kmeans", "quality", "--labels", str(labels), "--phones", str(tmp_path)]) == 1
    assert "no phone alignments; make them with 'speechssl data synth'" in capsys.readouterr().err
    with pytest.raises(SystemExit):  # exactly one reference
        main(["kmeans", "quality", "--labels", str(labels)])
    other = _labels(tmp_path, {"x-1": np.array([0])})
    with pytest.raises(LabelError, match="none of the 1 labelled utterances has a phone alignment"):
        measure_quality(other, phones_dir=tmp_path / "data")
