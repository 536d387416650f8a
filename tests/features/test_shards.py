"""Feature shards: round trip, sharding of a data dir, resume, and every broken-shard error."""

from __future__ import annotations

import json

import numpy as np
import pytest

from speechssl.features.dump import Utterance, dump_shard, length_batches
from speechssl.features.mfcc import MfccExtractor
from speechssl.features.shards import (
    ShardError,
    ShardMeta,
    find_shards,
    open_all_shards,
    open_shard,
    shard_paths,
    shard_utterances,
    write_shard,
)


def write_random_shard(feat_dir, rank=0, nshard=1, counts=(3, 5, 2), dim=4, seed=0):
    rng = np.random.default_rng(seed)
    lengths = [(f"u{rank}-{i}", n) for i, n in enumerate(counts)]
    feats = {utt: rng.standard_normal((n, dim)).astype(np.float32) for utt, n in lengths}
    # Out of order on purpose: rows are fixed by the predicted lengths, not by arrival.
    chunks = iter(sorted(feats.items(), reverse=True))
    write_shard(feat_dir, rank, nshard, lengths, chunks, ShardMeta("test", dim, 100.0))
    return feats


def test_round_trip_keeps_rows_and_order(tmp_path):
    feats = write_random_shard(tmp_path)
    shard = open_shard(tmp_path, 0, 1)
    assert shard.meta == ShardMeta("test", 4, 100.0, 3, 10)
    assert [u for u, _ in shard.utterances()] == ["u0-0", "u0-1", "u0-2"]
    for utt, rows in shard.utterances():
        np.testing.assert_array_equal(rows, feats[utt])
    assert isinstance(shard.features, np.memmap)
    every = np.concatenate([feats[u] for u in ("u0-0", "u0-1", "u0-2")])
    np.testing.assert_array_equal(shard.read_rows(2, 9), every[2:9])
    assert shard.read_rows(4, 4).shape == (0, 4)
    windows = list(shard.windows(4))
    assert [start for start, _ in windows] == list(range(0, len(every), 4))
    np.testing.assert_array_equal(np.concatenate([rows for _, rows in windows]), every)
    assert (tmp_path / "0_1.len").read_text() == "u0-0 3\nu0-1 5\nu0-2 2\n"


def test_shard_utterances_cover_data_once():
    utts = [f"u{i}" for i in range(10)]
    blocks = [shard_utterances(utts, r, 3) for r in range(3)]
    assert blocks == [utts[0:3], utts[3:6], utts[6:10]]
    with pytest.raises(ShardError, match="rank 3 of 3"):
        shard_utterances(utts, 3, 3)


def test_wrong_frame_count_and_missing_utterance_are_errors(tmp_path):
    meta = ShardMeta("test", 2, 100.0)
    bad = iter([("a", np.zeros((4, 2), np.float32))])
    with pytest.raises(ShardError, match="utterance 'a' gave features of shape \\(4, 2\\), expected \\(3, 2\\)"):
        write_shard(tmp_path, 0, 1, [("a", 3)], bad, meta)
    short = iter([("a", np.zeros((3, 2), np.float32))])
    with pytest.raises(ShardError, match="no features for utterance\\(s\\) \\['b'\\]"):
        write_shard(tmp_path, 0, 1, [("a", 3), ("b", 1)], short, meta)
    assert not shard_paths(tmp_path, 0, 1)[0].exists()  # nothing half-written is left


def test_truncated_shard_is_a_clear_error(tmp_path):
    write_random_shard(tmp_path)
    npy = shard_paths(tmp_path, 0, 1)[0]
    npy.write_bytes(npy.read_bytes()[:-16])
    with pytest.raises(ShardError, match="0_1.npy: truncated or corrupt .npy"):
        open_shard(tmp_path, 0, 1)


def test_unfinished_and_mismatched_shards_are_errors(tmp_path):
    write_random_shard(tmp_path)
    npy, len_path, done = shard_paths(tmp_path, 0, 1)
    len_path.write_text("u0-0 3\nu0-1 5\nu0-2 9\n")
    with pytest.raises(ShardError, match="does not match 0_1.len \\(3 utterances, 17 frames\\)"):
        open_shard(tmp_path, 0, 1)
    len_path.write_text("u0-0 3\nu0-1 five\n")
    with pytest.raises(ShardError, match="0_1.len:2: expected 'utt num_frames'"):
        open_shard(tmp_path, 0, 1)
    done.unlink()
    with pytest.raises(ShardError, match="shard is unfinished"):
        open_shard(tmp_path, 0, 1)


def test_missing_rank_and_mixed_shard_sets_are_errors(tmp_path):
    write_random_shard(tmp_path, 0, 3)
    write_random_shard(tmp_path, 2, 3)
    with pytest.raises(ShardError, match="shard\\(s\\) \\[1\\] of 3 missing"):
        find_shards(tmp_path)
    write_random_shard(tmp_path, 1, 3)
    assert [s.meta.num_utts for s in open_all_shards(tmp_path)] == [3, 3, 3]
    write_random_shard(tmp_path, 0, 2)
    with pytest.raises(ShardError, match="shards of several sizes \\[2, 3\\]"):
        find_shards(tmp_path)
    (tmp_path / "empty").mkdir()
    with pytest.raises(ShardError, match="no feature shards"):
        find_shards(tmp_path / "empty")


def test_done_shard_is_skipped_on_rerun(audio_dir, tmp_path):
    feat_dir = tmp_path / "feats"
    dump_shard(audio_dir, feat_dir, 1, 2, MfccExtractor())
    done = shard_paths(feat_dir, 1, 2)[2]
    before = done.stat().st_mtime_ns

    class Exploding(MfccExtractor):
        def extract(self, batch):
            raise AssertionError("a done shard must not be recomputed")

    dump_shard(audio_dir, feat_dir, 1, 2, Exploding())
    assert done.stat().st_mtime_ns == before
    assert json.loads(done.read_text())["num_utts"] == 3  # utterances 2..4 of 5


def test_length_batches_respect_the_padding_budget():
    utts = [Utterance(f"u{i}", "", n) for i, n in enumerate([50, 10, 40, 30, 20, 100])]
    batches = length_batches(utts, 100)
    assert [[u.num_samples for u in b] for b in batches] == [[10, 20, 30], [40, 50], [100]]
    for batch in batches:
        assert len(batch) * max(u.num_samples for u in batch) <= 100
