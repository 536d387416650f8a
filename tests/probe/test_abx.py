"""ABX (Libri-light definition): DTW by hand, triphone items, and errors near 0, near 0.5 and
within < across on synthetic features of synthetic alignments."""

from __future__ import annotations

import time

import numpy as np
import pytest

from speechssl.data.phones import PhoneSegment, frame_phone_labels
from speechssl.probe.abx import AbxConfig, abx_error, abx_errors, build_triplets, triphone_items
from speechssl.probe.dtw import angular_distances, dtw_normalised, pair_distances, unit_frames

RATE = 50.0


def test_dtw_by_hand():
    d = np.array([[[0.0, 1.0, 1.0], [1.0, 0.0, 1.0]]])  # (1, 2, 3)
    # best path (0,0) (1,1) (1,2): cost 0 + 0 + 1 = 1 over 3 steps
    assert dtw_normalised(d, np.array([2]), np.array([3])) == pytest.approx([1 / 3])
    # padded batch: the second pair only uses its top-left 1 x 2 block
    batch = np.stack([d[0], np.array([[0.2, 0.4, 9.0], [9.0, 9.0, 9.0]])])
    assert dtw_normalised(batch, np.array([2, 1]), np.array([3, 2])) == pytest.approx([1 / 3, 0.3])
    x = unit_frames(np.array([[1.0, 0.0], [0.0, 2.0], [0.0, 0.0]]))
    assert np.allclose(x, [[1, 0], [0, 1], [0, 0]])
    angles = angular_distances(x[None, :2], x[None, :2])[0]
    assert np.allclose(angles, [[0, 0.5], [0.5, 0]])
    same = pair_distances([x[:2], x[:2], x[:1]], np.array([[0, 1], [0, 2]]))
    assert same == pytest.approx([0.0, 0.25])  # second: path (0,0) (1,0), costs 0 and 0.5


def _corpus(num_speakers=3, utts=5, phones_per_utt=30, seed=0):
    """Random phone strings over five phones (no phone twice in a row, or A-A-B and A-B-B would
    be the same sound), random durations, a SIL at each end."""
    rng = np.random.default_rng(seed)
    inventory = ["AA", "IY", "K", "T", "S"]
    alignments, speakers = {}, {}
    for s in range(num_speakers):
        for u in range(utts):
            utt = f"spk{s}-{u:04d}"
            names = ["SIL"]
            while len(names) <= phones_per_utt:
                names.append(str(rng.choice([p for p in inventory if p != names[-1]])))
            names.append("SIL")
            ends = np.cumsum(rng.integers(2, 6, len(names))) / RATE
            starts = np.concatenate([[0.0], ends[:-1]])
            alignments[utt] = [PhoneSegment(str(p), a, b) for p, a, b in zip(names, starts, ends)]
            speakers[utt] = f"spk{s}"
    return alignments, speakers


def _features(alignments, speakers, noise, offset=0.0, seed=1):
    rng = np.random.default_rng(seed)
    speaker_shift = {s: rng.standard_normal(40) * offset for s in sorted(set(speakers.values()))}
    features = {}
    for utt, segments in alignments.items():
        frames = int(round(segments[-1].end * RATE))
        one_hot = np.eye(40)[frame_phone_labels(segments, frames, RATE)]
        features[utt] = one_hot + speaker_shift[speakers[utt]] + noise * rng.standard_normal((frames, 40))
    return features


def test_triphone_items_and_cells():
    segments = [PhoneSegment("SIL", 0, 0.1), PhoneSegment("K", 0.1, 0.2), PhoneSegment("AA", 0.2, 0.3),
                PhoneSegment("T", 0.3, 0.4), PhoneSegment("S", 0.4, 0.5), PhoneSegment("SIL", 0.5, 0.6)]
    items = triphone_items({"a-1": segments, "b-1": segments}, {"a-1": "a"}, {"a-1": 30, "b-1": 30}, RATE)
    # K-AA-T and AA-T-S (b-1 has no speaker); frames of centres 0.1 .. 0.4: ceil(4.5)=5 .. floor(19.5)=19
    assert [(i.context, i.phone, i.start, i.stop) for i in items] == [
        (("K", "T"), "AA", 5, 19), (("AA", "S"), "T", 10, 24),
    ]  # fmt: skip
    alignments, speakers = _corpus()
    items = triphone_items(alignments, speakers, {u: 10_000 for u in alignments}, RATE)
    triplets, kept = build_triplets(items, AbxConfig(max_items_per_group=3))
    assert triplets.within and triplets.across and len(kept) < len(items)
    for (speaker, a, b, context), (group_a, group_b) in triplets.within.items():
        assert a != b and len(group_a) > 1 and len(group_a) <= 3
        assert {(items[i].speaker, items[i].phone, items[i].context) for i in group_a} == {(speaker, a, context)}
        assert {(items[i].speaker, items[i].phone) for i in group_b} == {(speaker, b)}
    for (cell, other), (_, _, group_x) in triplets.across.items():
        assert other != cell[0] and {items[i].speaker for i in group_x} == {other}


def test_phone_features_near_zero_noise_near_half_speaker_offset_hurts_across():
    alignments, speakers = _corpus()
    start = time.perf_counter()
    layers = {
        "phones": _features(alignments, speakers, noise=0.1),
        "noise": {u: np.random.default_rng(len(u)).standard_normal((len(f), 40))
                  for u, f in _features(alignments, speakers, 0.0).items()},
        "offset": _features(alignments, speakers, noise=0.1, offset=1.0),
    }
    results = abx_errors(layers, RATE, alignments, speakers, AbxConfig(max_items_per_group=5))
    assert time.perf_counter() - start < 20
    phones, noise, offset = results["phones"], results["noise"], results["offset"]
    assert phones.within < 0.02 and phones.across < 0.02
    assert abs(noise.within - 0.5) < 0.05 and abs(noise.across - 0.5) < 0.05
    assert offset.within < 0.05 and offset.across > offset.within + 0.2  # measured 0.011, 0.387
    assert phones.counts == noise.counts and phones.counts.utterances == 15
    assert phones.counts.within_phone_pairs == 20  # every ordered pair of the five phones
    single = abx_error(layers["phones"], RATE, alignments, speakers, AbxConfig(max_items_per_group=5))
    assert single == phones  # same seed, same triplets


def test_unaligned_utterances_are_counted_and_mismatched_layers_refused():
    alignments, speakers = _corpus(num_speakers=2, utts=2)
    features = _features(alignments, speakers, noise=0.1)
    features["spk9-0000"] = np.zeros((20, 40))  # an espeak-ng utterance: no alignment
    result = abx_error(features, RATE, alignments, speakers)
    assert (result.counts.utterances, result.counts.unaligned_utts) == (4, 1)
    shorter = {u: f[:-1] for u, f in features.items()}
    with pytest.raises(ValueError, match="layer 'b' has other utterances or frame counts"):
        abx_errors({"a": features, "b": shorter}, RATE, alignments, speakers)
    lonely = abx_error({"spk9-0000": np.zeros((20, 40))}, RATE, alignments, speakers)
    assert np.isnan(lonely.within) and np.isnan(lonely.across) and lonely.counts.items == 0
