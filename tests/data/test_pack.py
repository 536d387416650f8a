"""Packing data dirs for a remote machine: Opus audio, relative paths, tables that still validate."""

import os

import numpy as np

from speechssl.cli.main import main
from speechssl.data.validate import validate_data_dir
from speechssl.io.audio import read_audio
from speechssl.io.kaldi_dir import DataDir, read_table


def test_pack_is_relocatable_and_valid(smoke_corpus, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    status = main(
        ["data", "pack", "--data", str(smoke_corpus), "--splits", "dev,test", "--out", "pack", "--nj", "1"]
    )
    assert status == 0
    for split in ("dev", "test"):
        source, packed = DataDir.load(smoke_corpus / split), DataDir.load(tmp_path / "pack" / split)
        assert sorted(packed.wav_scp) == sorted(source.wav_scp)
        assert all(not os.path.isabs(p) and p.endswith(".ogg") for p in packed.wav_scp.values())
        assert packed.text == source.text and packed.utt2spk == source.utt2spk
        # Opus keeps the length exactly, and the tables say what the decoder returns.
        assert packed.utt2num_samples == source.utt2num_samples
        utt = sorted(packed.wav_scp)[0]
        original, decoded = read_audio(source.wav_scp[utt]), read_audio(packed.wav_scp[utt])
        assert len(decoded) == packed.utt2num_samples[utt]
        # A lossy codec, but the same signal: correlation of the waveforms.
        assert np.corrcoef(original, decoded)[0, 1] > 0.9
        assert validate_data_dir(tmp_path / "pack" / split, progress=False) == []
    flac_bytes = sum(os.path.getsize(p) for p in source.wav_scp.values())
    ogg_bytes = sum(os.path.getsize(p) for p in packed.wav_scp.values())
    assert ogg_bytes < flac_bytes / 3


def test_pack_resumes_without_reencoding(smoke_corpus, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    args = ["data", "pack", "--data", str(smoke_corpus), "--splits", "dev", "--out", "pack", "--nj", "1"]
    assert main(args) == 0
    first = sorted(read_table(tmp_path / "pack" / "dev" / "wav.scp").values())[0]
    stamp = os.stat(first).st_mtime_ns
    assert main(args) == 0
    assert os.stat(first).st_mtime_ns == stamp


def test_unpack_to_flac_is_lossless_from_the_opus_copy(smoke_corpus, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    base = ["data", "pack", "--splits", "dev", "--nj", "1"]
    assert main(base + ["--data", str(smoke_corpus), "--out", "opus"]) == 0
    assert main(base + ["--data", "opus", "--out", "flac", "--codec", "flac"]) == 0
    opus, flac = DataDir.load("opus/dev"), DataDir.load("flac/dev")
    assert all(p.endswith(".flac") for p in flac.wav_scp.values())
    assert flac.utt2num_samples == opus.utt2num_samples
    for utt in sorted(opus.wav_scp)[:2]:  # 16-bit FLAC of the decoded Opus: within one LSB
        difference = read_audio(opus.wav_scp[utt]) - read_audio(flac.wav_scp[utt])
        assert np.abs(difference).max() <= 1.0 / 32768 + 1e-7
