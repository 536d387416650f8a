"""Prep stage on the downloaded fake archives: LibriSpeech parts, Libri-light splits, manifests."""

from __future__ import annotations

import gzip
import shutil

import pytest

from speechssl.cli.main import main
from speechssl.io.kaldi_dir import DataDir, read_table
from speechssl.corpora.librispeech.libri_light import librilight_split
from speechssl.corpora.librispeech.manifest import letters
from speechssl.corpora.librispeech.official_lm import prepare_official_lm
from speechssl.corpora.librispeech.prep import PrepError, librispeech_part, read_transcripts


def test_cli_prep_librispeech_part(fake_corpus, downloaded, tmp_path):
    out, tsv = tmp_path / "data" / "dev_clean", tmp_path / "manifests"
    assert main(["librispeech", "prep", "--src", str(downloaded), "--part", "dev-clean",
                 "--out", str(out), "--tsv-dir", str(tsv)]) == 0
    data = DataDir.load(out)
    expected = fake_corpus.parts["dev-clean"]
    assert data.utt_ids == sorted(expected)
    assert {u: data.utt2num_samples[u] for u in expected} == {u: fake_corpus.num_samples[u] for u in expected}
    assert data.text == {u: fake_corpus.texts[u] for u in expected}
    assert read_table(out / "spk2utt") == {"174": "174-50561-0000 174-50561-0001",
                                           "84": "84-121123-0000 84-121123-0001"}
    assert data.wav_scp["84-121123-0001"].endswith("LibriSpeech/dev-clean/84/121123/84-121123-0001.flac")
    assert abs(data.utt2dur["84-121123-0000"] - fake_corpus.num_samples["84-121123-0000"] / 16000) < 1e-4
    rows = (tsv / "dev_clean.tsv").read_text().splitlines()
    assert rows[0] == str(downloaded.resolve() / "LibriSpeech" / "dev-clean")
    counts = [int(r.split("\t")[1]) for r in rows[1:]]
    assert counts == sorted(counts) and len(counts) == 4
    first = rows[1].split("\t")[0].split("/")[-1][: -len(".flac")]
    assert (tsv / "dev_clean.wrd").read_text().splitlines()[0] == fake_corpus.texts[first]
    assert (tsv / "dev_clean.ltr").read_text().splitlines()[0] == letters(fake_corpus.texts[first])


def test_letters():
    assert letters("IT'S A DOG") == "I T ' S | A | D O G |"


@pytest.mark.parametrize("split,fold,expected_keys", [
    ("10m", 0, ["1h/0"]),
    ("10m", 4, ["1h/4"]),
    ("1h", 0, [f"1h/{f}" for f in range(6)]),
    ("10h", 0, [f"1h/{f}" for f in range(6)] + ["9h"]),
])
def test_librilight_splits(fake_corpus, downloaded, split, fold, expected_keys):
    data = librilight_split(downloaded, split, fold)
    expected = sorted(u for key in expected_keys for u in fake_corpus.parts[key])
    assert data.utt_ids == expected
    assert all(data.utt2num_samples[u] == fake_corpus.num_samples[u] for u in expected)


def test_cli_prep_merges_parts_and_validates(fake_corpus, downloaded, tmp_path):
    out = tmp_path / "train"
    assert main(["librispeech", "prep", "--src", str(downloaded), "--part", "train-clean-100", "10h",
                 "--out", str(out)]) == 0
    utts = fake_corpus.parts["train-clean-100"] + [
        u for key, us in fake_corpus.parts.items() if key[:2] in ("1h", "9h") for u in us]
    assert DataDir.load(out).utt_ids == sorted(utts)
    for name in ("wav.scp", "text", "utt2spk", "spk2utt", "utt2dur", "utt2num_samples"):
        keys = list(read_table(out / name))
        assert keys == sorted(keys, key=str.encode), name


def test_prep_errors(downloaded, tmp_path, capsys):
    with pytest.raises(PrepError, match="run the download stage first"):
        librispeech_part(tmp_path, "test-other")
    with pytest.raises(PrepError, match="folds 0..5"):
        librilight_split(downloaded, "10m", fold=6)
    bad = tmp_path / "19-198.trans.txt"
    bad.write_text("19-198-0000 HELLO world\n")
    with pytest.raises(PrepError, match=r"19-198.trans.txt:1: text of '19-198-0000'"):
        read_transcripts(bad)
    bad.write_text("20-198-0000 HELLO\n")
    with pytest.raises(PrepError, match="does not start with '19-198-'"):
        read_transcripts(bad)
    assert main(["librispeech", "prep", "--src", str(downloaded), "--part", "dev-cleen",
                 "--out", str(tmp_path / "x")]) == 1
    assert "unknown part 'dev-cleen'" in capsys.readouterr().err


def test_prep_reports_missing_audio(downloaded, tmp_path):
    copy = tmp_path / "copy"
    shutil.copytree(downloaded / "LibriSpeech" / "dev-clean", copy / "LibriSpeech" / "dev-clean")
    (copy / "LibriSpeech/dev-clean/84/121123/84-121123-0001.flac").unlink()
    with pytest.raises(PrepError, match=r"84-121123-0001.flac: listed in 84-121123.trans.txt but"):
        librispeech_part(copy, "dev-clean")


def test_cli_official_lm(downloaded, tmp_path):
    out = tmp_path / "lm_4gram"
    assert main(["librispeech", "lm", "--src", str(downloaded), "--out", str(out)]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["kenlm.log", "lexicon.txt", "lm.bin", "tokens.txt"]
    lexicon = (out / "lexicon.txt").read_text().splitlines()
    assert len(lexicon) == 10 and lexicon[0] == "ALPHA\tA L P H A |"
    assert (out / "tokens.txt").read_text().split()[:3] == ["<blank>", "|", "'"]
    assert (out / "lm.bin").stat().st_size > 0


def test_official_lm_bad_arpa(downloaded, tmp_path):
    src = tmp_path / "src"
    (src / "lm").mkdir(parents=True)
    shutil.copy(downloaded / "lm" / "librispeech-lexicon.txt", src / "lm")
    (src / "lm" / "4-gram.arpa.gz").write_bytes(gzip.compress(b"not an arpa file\n"))
    with pytest.raises(PrepError, match="4-gram.arpa.gz: build_binary failed"):
        prepare_official_lm(src, tmp_path / "lm")
    assert not (tmp_path / "lm" / "lm.bin").exists()
    assert not (tmp_path / "lm" / ".4-gram.arpa.tmp").exists()
    with pytest.raises(PrepError, match="download --parts lm"):
        prepare_official_lm(tmp_path / "nowhere", tmp_path / "lm2")
