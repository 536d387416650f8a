"""Fixtures of the k-means tests: feature shards + a matching data dir, without any audio."""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import pytest

from speechssl.features.shards import ShardMeta, shard_utterances, write_shard
from speechssl.io.kaldi_dir import DataDir


@pytest.fixture
def make_corpus(tmp_path: Path) -> Callable[..., tuple[Path, Path]]:
    """``make_corpus(feats, rate=100.0, nshard=2) -> (feat_dir, data_dir)``.

    Writes the shards and a data dir whose utt2num_samples fit the frame counts at ``rate``.
    """

    def make(feats: dict, rate: float = 100.0, nshard: int = 2) -> tuple[Path, Path]:
        feat_dir, data_dir = tmp_path / "feats", tmp_path / "data"
        utts = sorted(feats)
        dim = next(iter(feats.values())).shape[1]
        for rank in range(nshard):
            block = shard_utterances(utts, rank, nshard)
            counts = [(u, len(feats[u])) for u in block]
            chunks = iter((u, feats[u]) for u in block)
            write_shard(feat_dir, rank, nshard, counts, chunks, ShardMeta("blobs", dim, rate))
        data = DataDir(
            wav_scp={u: f"/nonexistent/{u}.flac" for u in utts},
            utt2num_samples={u: int(len(feats[u]) * 16000 / rate) + 240 for u in utts},
        )
        data.save(data_dir)
        return feat_dir, data_dir

    return make
