"""``speechssl features``: sharded MFCC dump through the command line, errors as one line."""

from __future__ import annotations

import pytest

from speechssl.cli.main import main
from speechssl.features.shards import ShardError, open_all_shards
from speechssl.io.kaldi_dir import DataDir


def test_mfcc_cli_writes_every_shard_in_data_order(audio_dir, tmp_path):
    out = tmp_path / "feats"
    assert main(["features", "mfcc", "--data", str(audio_dir), "--out", str(out), "--nshard", "2",
                 "--rank", "0"]) == 0
    assert main(["features", "mfcc", "--data", str(audio_dir), "--out", str(out), "--nshard", "2",
                 "--backend", "psf"]) == 0  # rank 0 is done and skipped; rank 1 uses psf
    names = sorted(p.name for p in out.iterdir())
    assert names == ["0_2.done", "0_2.len", "0_2.npy", "1_2.done", "1_2.len", "1_2.npy"]
    with pytest.raises(ShardError, match="shards disagree on \\(kind, dim, frame_rate\\)"):
        open_all_shards(out)


def test_mfcc_cli_rank_errors_and_missing_data(audio_dir, tmp_path, capsys):
    out = str(tmp_path / "feats")
    assert main(["features", "mfcc", "--data", str(audio_dir), "--out", out, "--nshard", "2",
                 "--rank", "2"]) == 1
    assert "--rank 2: expected 0..1" in capsys.readouterr().err
    assert main(["features", "mfcc", "--data", str(tmp_path / "nope"), "--out", out]) == 1
    assert "wav.scp: file not found" in capsys.readouterr().err


def test_mfcc_cli_single_shard_matches_data_dir(audio_dir, tmp_path):
    out = tmp_path / "feats"
    assert main(["features", "mfcc", "--data", str(audio_dir), "--out", str(out)]) == 0
    (shard,) = open_all_shards(out)
    assert [u for u, _ in shard.lengths] == list(DataDir.load(audio_dir).wav_scp)
    assert shard.meta.kind == "mfcc-kaldi" and shard.features.shape[1] == 39
