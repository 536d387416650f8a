"""Synthetic corpus generator: determinism, disjoint splits, audio format, resuming."""

import shutil
import time

import numpy as np
import pytest
import soundfile

from speechssl.cli.main import main
from speechssl.corpora.mini import generate, get_plan
from speechssl.corpora.mini.plans import SPLITS
from speechssl.io.kaldi_dir import DataDir, read_table


def _digest(root):
    fields = dict(
        line.split(" ", 1) for line in (root / "local" / "digest.txt").read_text().splitlines()
    )
    return fields["sha256"]


def _speakers(root):
    lines = (root / "local" / "speakers.tsv").read_text().splitlines()
    header = lines[0].split("\t")
    return [dict(zip(header, line.split("\t"))) for line in lines[1:]]


def test_same_seed_is_bit_identical_for_any_nj(smoke_corpus, tmp_path):
    digest = generate(get_plan("smoke"), 0, tmp_path / "nj2", nj=2)
    assert digest == _digest(smoke_corpus) == _digest(tmp_path / "nj2")
    for split in SPLITS:
        assert read_table(tmp_path / "nj2" / "local" / f"{split}.utt2sha256") == read_table(
            smoke_corpus / "local" / f"{split}.utt2sha256"
        )
    assert (tmp_path / "nj2" / "lm" / "text.txt").read_bytes() == (
        smoke_corpus / "lm" / "text.txt"
    ).read_bytes()


def test_other_seed_gives_other_corpus(smoke_corpus, tmp_path):
    assert main(["data", "synth", "--plan", "smoke", "--seed", "1", "--out", str(tmp_path)]) == 0
    assert _digest(tmp_path) != _digest(smoke_corpus)
    ours, theirs = DataDir.load(tmp_path / "dev"), DataDir.load(smoke_corpus / "dev")
    assert ours.text != theirs.text


def test_split_speakers_and_sentences_are_disjoint(smoke_corpus):
    data = {split: DataDir.load(smoke_corpus / split) for split in SPLITS}
    spk = {split: set(d.utt2spk.values()) for split, d in data.items()}
    text = {split: set(d.text.values()) for split, d in data.items()}
    lm = set((smoke_corpus / "lm" / "text.txt").read_text().splitlines())
    assert spk["train"] <= spk["pretrain"]
    for held_out in ("dev", "test"):
        assert not spk[held_out] & (spk["pretrain"] | spk["train"])
        assert not text[held_out] & (text["pretrain"] | text["train"] | lm)
    assert not spk["dev"] & spk["test"] and not text["dev"] & text["test"]
    assert not text["train"] & text["pretrain"]
    assert text["train"] | text["pretrain"] <= lm
    assert not set(data["train"].wav_scp) & set(data["pretrain"].wav_scp)


def test_held_out_speakers_use_unseen_base_voices(smoke_corpus):
    rows = _speakers(smoke_corpus)
    seen = {(r["engine"], r["voice"]) for r in rows if r["split"] in ("pretrain", "train")}
    unseen = {(r["engine"], r["voice"]) for r in rows if r["split"] in ("dev", "test")}
    assert not seen & unseen
    assert {engine for engine, _ in seen} == {"flite", "festival", "espeak"}


def test_audio_is_16k_mono_flac_with_listed_lengths(smoke_corpus):
    total = 0.0
    for split in SPLITS:
        data = DataDir.load(smoke_corpus / split)
        assert data.utt_ids and all(u.startswith(data.utt2spk[u] + "-") for u in data.utt_ids)
        for utt in data.utt_ids:
            info = soundfile.info(data.wav_scp[utt])
            assert (info.format, info.subtype, info.samplerate, info.channels) == (
                "FLAC",
                "PCM_16",
                16000,
                1,
            )
            assert info.frames == data.utt2num_samples[utt]
            samples, _ = soundfile.read(data.wav_scp[utt], dtype="int16")
            peak_dbfs = 20 * np.log10(np.abs(samples.astype(float)).max() / 32767)
            assert -18.1 <= peak_dbfs <= -2.9
            total += info.frames / 16000
    assert 80 < total < 200  # "about two minutes"


def test_finished_corpus_is_not_made_again(smoke_corpus):
    start = time.time()
    assert generate(get_plan("smoke"), 0, smoke_corpus) == _digest(smoke_corpus)
    assert time.time() - start < 3
    with pytest.raises(ValueError, match="holds another corpus"):
        generate(get_plan("smoke"), 5, smoke_corpus)


def test_unfinished_split_is_completed_identically(smoke_corpus, tmp_path):
    root = tmp_path / "copy"
    shutil.copytree(smoke_corpus, root, symlinks=True)
    for utt in sorted(read_table(root / "dev" / "wav.scp"))[:1]:
        (root / "audio" / "dev" / utt.split("-")[0] / f"{utt}.flac").unlink()
    for path in (root / "local" / "dev.done", root / "local" / "digest.txt"):
        path.unlink()
    shutil.rmtree(root / "dev")
    assert generate(get_plan("smoke"), 0, root) == _digest(smoke_corpus)
    assert read_table(root / "local" / "dev.utt2sha256") == read_table(
        smoke_corpus / "local" / "dev.utt2sha256"
    )


def test_missing_text_package_is_named(tmp_path, monkeypatch):
    monkeypatch.setenv("SPEECHSSL_TEXT_DIR", str(tmp_path))
    with pytest.raises(FileNotFoundError, match="janeaustenr.*local/install.sh"):
        generate(get_plan("smoke"), 0, tmp_path / "out")
