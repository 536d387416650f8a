"""Label assignment: nearest centroid, label dir contents, rate conversion, round trip."""

from __future__ import annotations

import numpy as np
import pytest
from kmeans_fixtures import CENTRES, blob_features

from speechssl.kmeans.assign import NearestCentroid, assign_labels
from speechssl.kmeans.labels import LabelError, read_labels
from speechssl.kmeans.model_io import KMeansModel


def test_nearest_centroid_matches_brute_force():
    rng = np.random.default_rng(0)
    feats = rng.standard_normal((1000, 6)).astype(np.float32)
    centroids = rng.standard_normal((7, 6)).astype(np.float32)
    labels, distances = NearestCentroid(centroids, batch_frames=128)(feats)
    brute = ((feats[:, None] - centroids[None]) ** 2).sum(-1)
    np.testing.assert_array_equal(labels, brute.argmin(1))
    np.testing.assert_allclose(distances, brute.min(1), rtol=1e-4, atol=1e-4)


def test_assign_writes_label_dir_that_reads_back(make_corpus, tmp_path):
    feats, truth = blob_features(num_utts=7, frames=60)
    feat_dir, data_dir = make_corpus(feats, nshard=3)
    model = KMeansModel(CENTRES[::-1].copy(), "blobs", 100.0)  # class i = centre 4 - i
    assign_labels(feat_dir, model, data_dir, tmp_path / "labels", device="cpu")
    labels, rate, num_classes = read_labels(tmp_path / "labels", data_dir)
    assert (rate, num_classes) == (100.0, 5)
    assert list(labels) == sorted(feats)
    for utt, classes in truth.items():
        np.testing.assert_array_equal(labels[utt], 4 - classes)
        assert labels[utt].dtype == np.int64
    counts = [int(line.split()[1]) for line in (tmp_path / "labels/dict.txt").read_text().splitlines()]
    every = np.concatenate(list(truth.values()))
    assert counts == [int((4 - every == i).sum()) for i in range(5)]
    first = (tmp_path / "labels/labels.txt").read_text().splitlines()[0].split()
    assert first[0] == sorted(feats)[0] and len(first) == 61


def test_assign_at_half_rate_keeps_every_second_frame(make_corpus, tmp_path):
    feats, truth = blob_features(num_utts=3, frames=41)
    feat_dir, data_dir = make_corpus(feats, nshard=1)
    assign_labels(feat_dir, KMeansModel(CENTRES.copy()), data_dir, tmp_path / "lab50", 50, "cpu")
    labels, rate, _ = read_labels(tmp_path / "lab50", data_dir)
    assert rate == 50.0
    for utt, classes in truth.items():
        np.testing.assert_array_equal(labels[utt], classes[::2])  # 21 labels from 41 frames


def test_assign_names_utterance_without_features(make_corpus, tmp_path):
    feats, _ = blob_features(num_utts=3, frames=20)
    feat_dir, data_dir = make_corpus(feats, nshard=1)
    with open(data_dir / "wav.scp", "a") as f:
        f.write("spk9-extra /nonexistent/extra.flac\n")
    with pytest.raises(LabelError, match="utterance 'spk9-extra' of .*wav.scp has no features"):
        assign_labels(feat_dir, KMeansModel(CENTRES.copy()), data_dir, tmp_path / "l", device="cpu")


def test_assign_rejects_other_order_and_dimension(make_corpus, tmp_path):
    feats, _ = blob_features(num_utts=3, frames=20)
    feat_dir, data_dir = make_corpus(feats, nshard=1)
    lines = (data_dir / "wav.scp").read_text().splitlines()
    (data_dir / "wav.scp").write_text("\n".join([lines[1], lines[0], lines[2]]) + "\n")
    with pytest.raises(LabelError, match="features hold 'spk0-utt000' where .* has 'spk1-utt001'"):
        assign_labels(feat_dir, KMeansModel(CENTRES.copy()), data_dir, tmp_path / "l", device="cpu")
    with pytest.raises(ValueError, match="features have dim 3, the k-means model 2"):
        assign_labels(feat_dir, KMeansModel(CENTRES[:, :2].copy()), data_dir, tmp_path / "l", device="cpu")
