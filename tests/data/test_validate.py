"""Data-dir validator: a clean smoke split passes; each kind of damage gives one named line."""

import hashlib
import shutil

import numpy as np
import pytest
import soundfile

from speechssl.cli.main import main
from speechssl.data.fix import fix_data_dir
from speechssl.data.validate import validate_data_dir
from speechssl.io.kaldi_dir import DataDir, read_table


def _copy_split(smoke_corpus, split, dest):
    """Copy a smoke split and its audio; wav.scp points at the copies."""
    data = DataDir.load(smoke_corpus / split)
    (dest / "audio").mkdir(parents=True)
    for utt, path in data.wav_scp.items():
        copy = dest / "audio" / f"{utt}.flac"
        shutil.copyfile(path, copy)
        data.wav_scp[utt] = str(copy)
    data.save(dest / "dir")
    return dest / "dir"


def _lines(path):
    return path.read_text().splitlines()


def _tree_hash(folder):
    digest = hashlib.sha256()
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        digest.update(path.name.encode() + path.read_bytes())
    return digest.hexdigest()


def test_clean_smoke_splits_pass(smoke_corpus):
    for split in ("pretrain", "train", "dev", "test"):
        assert validate_data_dir(smoke_corpus / split, progress=False) == []


@pytest.fixture
def broken(smoke_corpus, tmp_path):
    """A copy of the smoke pretrain split with one utterance broken in each way."""
    d = _copy_split(smoke_corpus, "pretrain", tmp_path)
    wav = read_table(d / "wav.scp")
    utts = sorted(wav)
    bad = dict(
        zip(["corrupt", "empty", "8k", "stereo", "text", "missing", "duplicate"], utts[1::3])
    )
    with open(wav[bad["corrupt"]], "wb") as f:
        f.write(b"this is not a flac file" * 10)
    open(wav[bad["empty"]], "wb").close()
    samples, _ = soundfile.read(wav[bad["8k"]], dtype="int16")
    soundfile.write(wav[bad["8k"]], samples, 8000, format="FLAC")
    samples, _ = soundfile.read(wav[bad["stereo"]], dtype="int16")
    soundfile.write(wav[bad["stereo"]], np.stack([samples, samples], 1), 16000, format="FLAC")
    text = [
        f"{bad['text']} hello, World!" if l.startswith(bad["text"] + " ") else l
        for l in _lines(d / "text")
    ]
    (d / "text").write_text("\n".join(text) + "\n")
    (tmp_path / "audio" / f"{bad['missing']}.flac").unlink()
    dup = [l for l in _lines(d / "utt2spk") if l.startswith(bad["duplicate"] + " ")][0]
    spk_lines = _lines(d / "utt2spk")
    spk_lines.insert(spk_lines.index(dup) + 1, dup)
    (d / "utt2spk").write_text("\n".join(spk_lines) + "\n")
    dur = _lines(d / "utt2dur")
    dur[0], dur[1] = dur[1], dur[0]
    (d / "utt2dur").write_text("\n".join(dur) + "\n")
    return d, wav, bad, utts


def test_each_problem_is_one_named_line(broken):
    d, wav, bad, utts = broken
    lines = sorted(p.message() for p in validate_data_dir(d, progress=False))
    expected = sorted(
        [
            f"{d}: utt {bad['corrupt']} ({wav[bad['corrupt']]}): cannot decode audio "
            f"(Error opening '{wav[bad['corrupt']]}': Format not recognised.)",
            f"{d}: utt {bad['empty']} ({wav[bad['empty']]}): empty audio file (0 bytes)",
            f"{d}: utt {bad['8k']} ({wav[bad['8k']]}): sample rate 8000 Hz, expected 16000 Hz",
            f"{d}: utt {bad['stereo']} ({wav[bad['stereo']]}): 2 channels, expected mono",
            f"{d}: utt {bad['text']} ({d}/text line {utts.index(bad['text']) + 1}): "
            "text has characters "
            "outside A-Z, apostrophe and space: '!' ',' 'd' 'e' 'h' 'l' 'o' 'r'",
            f"{d}: utt {bad['missing']} ({wav[bad['missing']]}): audio file not found",
            f"{d}: utt {bad['duplicate']} ({d}/utt2spk line {utts.index(bad['duplicate']) + 2}): "
            f"duplicated key (first on line {utts.index(bad['duplicate']) + 1})",
            f"{d}: utt {utts[0]} ({d}/utt2dur line 2): not sorted: comes after '{utts[1]}' "
            "(sort with LC_ALL=C)",
        ]
    )
    assert lines == expected


def test_fix_drops_exactly_the_bad_utterances(broken, tmp_path):
    d, wav, bad, utts = broken
    summary = fix_data_dir(d, tmp_path / "fixed")
    fixed = DataDir.load(tmp_path / "fixed")
    dropped = set(bad.values()) - {bad["duplicate"]}  # a duplicated key keeps its first line
    assert fixed.utt_ids == sorted(set(utts) - dropped)
    assert validate_data_dir(tmp_path / "fixed", progress=False) == []
    assert summary == (
        f"{tmp_path / 'fixed'}: kept {len(utts) - 6} of {len(utts)} utterances, dropped 6 "
        "(1 bad text, 1 channels, 1 corrupt audio, 1 empty audio, "
        "1 missing audio, 1 sample rate); 1 duplicated key(s): first line kept"
    )


def test_fix_leaves_the_original_untouched(broken, tmp_path):
    d, *_ = broken
    before = {p.name: p.read_bytes() for p in d.iterdir()}
    audio_before = _tree_hash(tmp_path / "audio")
    fix_data_dir(d, tmp_path / "fixed")
    assert {p.name: p.read_bytes() for p in d.iterdir()} == before
    assert _tree_hash(tmp_path / "audio") == audio_before
    with pytest.raises(ValueError, match="another folder"):
        fix_data_dir(d, d)


def test_cli_exit_status_and_lines(broken, smoke_corpus, tmp_path, capsys):
    d, wav, bad, utts = broken
    assert main(["data", "validate", str(smoke_corpus / "dev")]) == 0
    assert main(["data", "validate", str(d)]) == 1
    err = capsys.readouterr().err.splitlines()
    assert f"{d}: utt {bad['missing']} ({wav[bad['missing']]}): audio file not found" in err
    assert err[-1] == f"{d}: 8 problem(s); --fix would drop 6 utterance(s)"
    assert main(["data", "validate", str(d), "--fix", str(tmp_path / "fixed")]) == 0
    assert "dropped 6" in capsys.readouterr().out
    assert main(["data", "validate", str(tmp_path / "fixed")]) == 0


def test_sample_count_and_missing_table(smoke_corpus, tmp_path):
    d = _copy_split(smoke_corpus, "dev", tmp_path)
    counts = read_table(d / "utt2num_samples")
    first = sorted(counts)[0]
    lines = [f"{k} {int(v) + 5 if k == first else v}" for k, v in sorted(counts.items())]
    (d / "utt2num_samples").write_text("\n".join(lines) + "\n")
    (d / "spk2utt").unlink()
    messages = [p.message() for p in validate_data_dir(d, progress=False)]
    assert (
        f"{d}: {d}/spk2utt: file not found (`speechssl data complete {d}` writes it from utt2spk)"
        in messages
    )
    wav = read_table(d / "wav.scp")
    assert (
        f"{d}: utt {first} ({wav[first]}): {counts[first]} samples, utt2num_samples says "
        f"{int(counts[first]) + 5}"
    ) in messages


def test_inconsistent_tables(smoke_corpus, tmp_path):
    d = _copy_split(smoke_corpus, "pretrain", tmp_path)
    utts = sorted(read_table(d / "wav.scp"))
    text = _lines(d / "text")
    (d / "text").write_text("\n".join(text[1:]) + "\n")
    spk2utt = _lines(d / "spk2utt")
    speaker, first_utts = spk2utt[-1].split(" ", 1)
    spk2utt[-1] = f"{speaker} {first_utts.split()[0]}"
    (d / "spk2utt").write_text("\n".join(spk2utt) + "\n")
    problems = validate_data_dir(d, progress=False)
    assert [p.message() for p in problems] == [
        f"{d}: utt {utts[0]} ({d}/text): no line in text",
        f"{d}: {d}/spk2utt: speaker {speaker}: spk2utt does not match utt2spk",
    ]
    fix_data_dir(d, tmp_path / "fixed", progress=False)
    assert DataDir.load(tmp_path / "fixed").utt_ids == utts[1:]
    assert validate_data_dir(tmp_path / "fixed", progress=False) == []
