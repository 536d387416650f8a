"""Streaming k-means: recovers blob centres, subsamples per shard, model file round trip."""

from __future__ import annotations

import numpy as np
import pytest
from kmeans_fixtures import CENTRES, blob_features

from speechssl.features.shards import open_all_shards
from speechssl.kmeans import fit
from speechssl.kmeans.fit import KMeansConfig, fit_kmeans, load_subsample
from speechssl.kmeans.model_io import KMeansModel, load_kmeans, save_kmeans


def test_fit_recovers_blob_centres(make_corpus):
    feats, _ = blob_features()
    feat_dir, _ = make_corpus(feats, nshard=3)
    model = fit_kmeans(feat_dir, KMeansConfig(k=5, percent=0.5, seed=1, n_init=5))
    assert model.centroids.shape == (5, 3)
    assert model.num_frames == 1200  # half of the 2400 frames
    distance = np.linalg.norm(CENTRES[:, None] - model.centroids[None], axis=-1)  # (true, fitted)
    assert sorted(distance.argmin(axis=1)) == [0, 1, 2, 3, 4]  # one centroid per blob
    assert distance.min(axis=1).max() < 0.1  # std 0.3 / sqrt(240 frames) ~ 0.02
    assert 0.2 < model.inertia < 0.35  # 3 dims x 0.3^2 = 0.27 expected
    assert model.feature_kind == "blobs" and model.frame_rate == 100.0


def test_subsample_is_a_fraction_of_each_shard(make_corpus):
    feats, _ = blob_features(num_utts=10)
    feat_dir, _ = make_corpus(feats, nshard=2)
    frames, meta = load_subsample(feat_dir, 0.1, seed=0)
    assert frames.shape == (100, 3) and frames.dtype == np.float32  # 50 from each 500-frame shard
    assert meta["dim"] == 3
    every = np.concatenate([feats[u] for u in sorted(feats)])
    rows = {tuple(r) for r in every}
    assert all(tuple(r) in rows for r in frames)  # real frames, no repeats
    assert len({tuple(r) for r in frames}) == 100
    again, _ = load_subsample(feat_dir, 0.1, seed=0)
    np.testing.assert_array_equal(frames, again)
    with pytest.raises(ValueError, match="--percent 1.5: expected a fraction"):
        load_subsample(feat_dir, 1.5, seed=0)


def test_sample_rows_reads_sorted_subset_across_windows(make_corpus, monkeypatch):
    monkeypatch.setattr(fit, "READ_ROWS", 7)  # several windows over the 20 rows
    feat_dir, _ = make_corpus({"s-u": np.arange(40, dtype=np.float32).reshape(20, 2)}, nshard=1)
    (shard,) = open_all_shards(feat_dir)
    assert fit.subsample_size(20, 0.25) == 5 and fit.subsample_size(20, 0.001) == 1
    rows = np.zeros((5, 2), np.float32)
    fit.sample_rows(shard, rows, np.random.default_rng(0))
    assert np.all(np.diff(rows[:, 0]) > 0) and np.all(rows[:, 1] == rows[:, 0] + 1)
    every = np.zeros((20, 2), np.float32)
    fit.sample_rows(shard, every, np.random.default_rng(0))
    np.testing.assert_array_equal(every, np.arange(40).reshape(20, 2))


def test_too_few_frames_for_k_is_an_error(make_corpus):
    feats, _ = blob_features(num_utts=2, frames=10)
    feat_dir, _ = make_corpus(feats, nshard=1)
    with pytest.raises(ValueError, match="only 20 frames sampled for k=50"):
        fit_kmeans(feat_dir, KMeansConfig(k=50))


def test_model_file_round_trip_and_bad_file(tmp_path):
    model = KMeansModel(np.arange(12, dtype=np.float32).reshape(4, 3), "mfcc-kaldi", 100.0, 1.5,
                        77, {"seed": 3})
    save_kmeans(model, tmp_path / "km.safetensors")
    loaded = load_kmeans(tmp_path / "km.safetensors")
    np.testing.assert_array_equal(loaded.centroids, model.centroids)
    assert (loaded.k, loaded.dim, loaded.feature_kind, loaded.inertia, loaded.extra) == (
        4, 3, "mfcc-kaldi", 1.5, {"seed": 3})
    (tmp_path / "bad.safetensors").write_bytes(b"not a model")
    with pytest.raises(ValueError, match="bad.safetensors: not a safetensors k-means model"):
        load_kmeans(tmp_path / "bad.safetensors")
    with pytest.raises(FileNotFoundError, match="run 'speechssl kmeans fit'"):
        load_kmeans(tmp_path / "none.safetensors")
