"""Streaming k-means: same centres as the in-memory fit, draws only minibatches, fails clearly."""

from __future__ import annotations

import numpy as np
import pytest
from kmeans_fixtures import CENTRES, blob_features

from speechssl.features.shards import Shard, ShardError, open_all_shards
from speechssl.kmeans import fit, streaming
from speechssl.kmeans.fit import KMeansConfig
from speechssl.kmeans.streaming import FrameDrawer, fit_kmeans_streaming


def test_streaming_fit_recovers_blob_centres(make_corpus):
    feats, _ = blob_features()
    feat_dir, _ = make_corpus(feats, nshard=3)
    config = KMeansConfig(k=5, percent=0.5, seed=1, n_init=5, batch_size=100)
    model = fit_kmeans_streaming(feat_dir, config)
    assert model.centroids.shape == (5, 3) and model.num_frames == 1200  # an epoch: half the frames
    distance = np.linalg.norm(CENTRES[:, None] - model.centroids[None], axis=-1)  # (true, fitted)
    assert sorted(distance.argmin(axis=1)) == [0, 1, 2, 3, 4]  # one centroid per blob
    assert distance.min(axis=1).max() < 0.15
    assert 0.2 < model.inertia < 0.35  # every frame: 3 dims x 0.3^2 = 0.27 expected
    assert model.feature_kind == "blobs" and model.extra["fit"] == "streaming"
    assert 1 <= model.extra["minibatches"] <= 100 * 1200 // 100  # max_iter epochs at most
    assert model.extra["iterations"] == pytest.approx(model.extra["minibatches"] * 100 / 1200, abs=0.01)
    again = fit_kmeans_streaming(feat_dir, config)
    np.testing.assert_array_equal(model.centroids, again.centroids)  # seeded
    early = fit_kmeans_streaming(feat_dir, KMeansConfig(k=5, percent=0.5, n_init=2, batch_size=100, tol=1e9))
    assert early.extra["minibatches"] == 1  # centres moved less than tol x the data's variance


def test_streaming_fit_never_holds_more_than_a_minibatch(make_corpus, monkeypatch):
    feats, _ = blob_features()
    feat_dir, _ = make_corpus(feats, nshard=2)
    monkeypatch.setattr(fit, "load_subsample", None)  # the in-memory path must not be taken
    monkeypatch.setattr(streaming, "READ_ROWS", 64)
    sizes: list[int] = []
    ranges, read = Shard.read_ranges, Shard.read_rows
    monkeypatch.setattr(Shard, "read_ranges",
                        lambda self, r: sizes.append(sum(b - a for a, b in r)) or ranges(self, r))
    monkeypatch.setattr(Shard, "read_rows", lambda self, a, b: sizes.append(b - a) or read(self, a, b))
    fit_kmeans_streaming(feat_dir, KMeansConfig(k=5, percent=1.0, n_init=2, batch_size=50, max_iter=2))
    assert max(sizes) <= 150 + 2 * 64  # the k-means++ sample (3 minibatches) in 64-frame blocks
    assert sum(sizes) >= 2400  # the final inertia pass reads every frame, window by window


def test_frame_drawer_draws_distinct_frames_from_every_shard(make_corpus):
    rows = np.arange(600, dtype=np.float32)
    feats = {f"s-u{i}": np.stack([rows[i * 100:(i + 1) * 100]] * 2, axis=1) for i in range(6)}
    feat_dir, _ = make_corpus(feats, nshard=3)
    drawer = FrameDrawer(open_all_shards(feat_dir), np.random.default_rng(0), block_frames=64)
    assert drawer.total == 600
    drawn = drawer.draw(300)
    assert drawn.shape == (300, 2) and np.all(drawn[:, 0] == drawn[:, 1])
    assert len(set(drawn[:, 0])) == 300  # distinct real rows, across the shard boundaries
    per_shard = np.histogram(drawn[:, 0], bins=[0, 200, 400, 600])[0]
    assert per_shard.min() > 0  # blocks from every shard (uniformity: below)
    counts = np.bincount(np.concatenate([drawer.draw(60)[:, 0].astype(int) for _ in range(2000)]),
                         minlength=600)
    inner = counts[63:537]  # rows inside a block whatever the offset: each equally likely
    assert inner.mean() == pytest.approx(2000 * 60 / 537.5, rel=0.05)  # ~537.5 rows in blocks
    assert inner.min() > 0.75 * inner.mean() and inner.max() < 1.25 * inner.mean()
    assert counts.max() < 1.25 * inner.mean() and counts[[0, 599]].max() < 0.2 * inner.mean()
    np.testing.assert_array_equal(np.sort(drawer.draw(600)[:, 0]), rows)  # all: frame by frame
    with pytest.raises(ValueError, match="cannot draw 601 distinct frames from 600"):
        drawer.draw(601)


def test_read_ranges_returns_the_rows(make_corpus):
    feat_dir, _ = make_corpus({"s-u": np.arange(40, dtype=np.float32).reshape(20, 2)}, nshard=1)
    (shard,) = open_all_shards(feat_dir)
    np.testing.assert_array_equal(shard.read_ranges([(1, 2), (4, 6), (19, 20)]),
                                  [[2, 3], [8, 9], [10, 11], [38, 39]])
    assert shard.read_ranges([]).shape == (0, 2) and shard.read_ranges([(3, 3)]).shape == (0, 2)
    with pytest.raises(ShardError, match=r"rows \[18, 21\) outside its 20 rows"):
        shard.read_ranges([(18, 21)])


def test_streaming_fit_bad_settings_are_errors(make_corpus):
    feats, _ = blob_features(num_utts=2, frames=10)
    feat_dir, _ = make_corpus(feats, nshard=1)
    with pytest.raises(ValueError, match="only 20 frames per epoch for k=50"):
        fit_kmeans_streaming(feat_dir, KMeansConfig(k=50))
    with pytest.raises(ValueError, match="--percent 0.0: expected a fraction"):
        fit_kmeans_streaming(feat_dir, KMeansConfig(k=2, percent=0.0))


def test_distinct_random_rows_are_distinct_sorted_and_uniform():
    rng = np.random.default_rng(0)
    rows = streaming.distinct_random_rows(1000, 900, rng)  # many collisions to top up
    assert len(rows) == 900 and np.all(np.diff(rows) > 0) and rows.min() >= 0 and rows.max() < 1000
    counts = np.bincount(np.concatenate([streaming.distinct_random_rows(100, 10, rng) for _ in range(2000)]),
                         minlength=100)
    assert counts.min() > 140 and counts.max() < 270  # 200 expected per row
    with pytest.raises(ValueError, match="cannot draw 11 distinct rows from 10"):
        streaming.distinct_random_rows(10, 11, rng)
