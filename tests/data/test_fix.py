"""NaN/Inf/silent audio and empty transcripts are named by validate; --fix output and a completed
plain 4-file Kaldi dir pass validation; duplicated keys keep their first line; bad targets are one line."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile

from speechssl.cli.main import main
from speechssl.data.fix import complete_data_dir, fix_data_dir
from speechssl.data.validate import validate_data_dir
from speechssl.io.audio import AudioError, read_audio
from speechssl.io.kaldi_dir import read_table
from tests.data.tiny_dirs import make_data_dir


def _complete_dir(tmp_path, num_utts):
    """A tiny data dir with every table (make_data_dir writes no utt2dur)."""
    data = make_data_dir(tmp_path, num_utts=num_utts, min_len=2000, max_len=3000)
    complete_data_dir(data, progress=False)
    return data


def _err_lines(capsys):
    """stderr lines without the progress bar's."""
    lines = (part for line in capsys.readouterr().err.splitlines() for part in line.split("\r"))
    return [line for line in lines if line.strip() and "%|" not in line]


@pytest.fixture
def tiny(tmp_path):
    data = _complete_dir(tmp_path, 6)
    return data, read_table(data / "wav.scp")


def _plant(path, fault):
    samples, rate = soundfile.read(path, dtype="float32")
    if fault == "nan":
        samples[[10, 20]] = np.nan
    elif fault == "inf":
        samples[5] = np.inf
    else:
        samples[:] = 0.0
    soundfile.write(path, samples, rate, subtype="FLOAT")


@pytest.mark.parametrize(
    "fault, message",
    [
        ("nan", "2 non-finite sample(s) (NaN first at sample 10)"),
        ("inf", "1 non-finite sample(s) (Inf first at sample 5)"),
        ("silent", "silent audio (every sample is 0)"),
    ],
)
def test_non_finite_and_silent_audio_are_named_and_dropped(tiny, tmp_path, fault, message, capsys):
    data, wav = tiny
    utt = sorted(wav)[2]
    _plant(wav[utt], fault)
    with pytest.raises(AudioError, match=message.replace("(", r"\(").replace(")", r"\)")):
        read_audio(wav[utt])
    assert main(["data", "validate", str(data)]) == 1
    err = _err_lines(capsys)
    assert err[0].startswith(f"{data}: utt {utt} ({wav[utt]}): {message}")
    assert "--fix" in err[0]
    assert err[-1] == f"{data}: 1 problem(s); --fix would drop 1 utterance(s)"
    assert main(["data", "validate", str(data), "--fix", str(tmp_path / "fixed")]) == 0
    assert sorted(read_table(tmp_path / "fixed" / "wav.scp")) == sorted(set(wav) - {utt})
    assert validate_data_dir(tmp_path / "fixed", progress=False) == []


def test_empty_transcript_fails_validation(tiny, tmp_path):
    data, wav = tiny
    utt = sorted(wav)[1]
    text = read_table(data / "text")
    (data / "text").write_text("".join(f"{u} {'' if u == utt else t}\n" for u, t in text.items()))
    messages = [p.message() for p in validate_data_dir(data, progress=False)]
    assert messages == [
        f"{data}: utt {utt} ({data}/text line 2): empty transcript: give its words, or drop it with --fix"
    ]
    assert "dropped 1 (1 empty text)" in fix_data_dir(data, tmp_path / "fixed", progress=False)


def _plain_kaldi_dir(data):
    for name in ("utt2dur", "utt2num_samples"):
        (data / name).unlink(missing_ok=True)


def test_plain_kaldi_dir_says_how_to_complete_and_complete_makes_it_valid(tiny, capsys):
    data, wav = tiny
    _plain_kaldi_dir(data)
    assert sorted(p.name for p in data.iterdir()) == ["spk2utt", "text", "utt2spk", "wav.scp"]
    assert main(["data", "validate", str(data)]) == 1
    err = _err_lines(capsys)
    assert err == [
        f"{data}: no utt2dur or utt2num_samples: run `speechssl data complete {data}` to write "
        "them from the audio",
        f"{data}: 1 problem(s); --fix would drop 0 utterance(s)",
    ]
    assert main(["data", "complete", str(data)]) == 0
    out = capsys.readouterr().out.strip()
    assert out == (
        f"{data}: wrote utt2dur, utt2num_samples for 6 utterances; check it with "
        f"`speechssl data validate {data}`"
    )
    counts = read_table(data / "utt2num_samples")
    assert {u: int(n) for u, n in counts.items()} == {u: len(soundfile.read(p)[0]) for u, p in wav.items()}
    assert validate_data_dir(data, progress=False) == []
    assert complete_data_dir(data, progress=False).written == []  # nothing left to do


def test_fix_of_a_plain_dir_writes_the_length_tables(tiny, tmp_path):
    data, wav = tiny
    _plain_kaldi_dir(data)
    (data / "spk2utt").unlink()
    summary = fix_data_dir(data, tmp_path / "fixed", progress=False)
    assert summary == (
        f"{tmp_path / 'fixed'}: kept 6 of 6 utterances, dropped 0; utt2dur and utt2num_samples "
        "written from the audio"
    )
    fixed = tmp_path / "fixed"
    assert sorted(p.name for p in fixed.iterdir()) == [
        "spk2utt", "text", "utt2dur", "utt2num_samples", "utt2spk", "wav.scp"
    ]
    assert validate_data_dir(fixed, progress=False) == []
    first = sorted(wav)[0]
    n = len(soundfile.read(wav[first])[0])
    assert read_table(fixed / "utt2dur")[first] == f"{n / 16000:.4f}"


def test_duplicated_key_keeps_the_first_line_and_writes_every_table(tmp_path):
    data = _complete_dir(tmp_path, 1)
    line = (data / "wav.scp").read_text()
    (data / "wav.scp").write_text(line + line)
    summary = fix_data_dir(data, tmp_path / "fixed", progress=False)
    assert summary.startswith(f"{tmp_path / 'fixed'}: kept 1 of 1 utterances, dropped 0")
    assert summary.endswith("1 duplicated key(s): first line kept")
    fixed = tmp_path / "fixed"
    assert (fixed / "wav.scp").read_text() == line
    for name in ("text", "utt2spk", "spk2utt", "utt2dur", "utt2num_samples"):
        assert len((fixed / name).read_text().splitlines()) == 1, name
    assert validate_data_dir(fixed, progress=False) == []


def test_every_table_is_written_when_everything_is_dropped(tmp_path):
    data = _complete_dir(tmp_path, 1)
    _plant(next(iter(read_table(data / "wav.scp").values())), "silent")
    assert "kept 0 of 1" in fix_data_dir(data, tmp_path / "fixed", progress=False)
    names = sorted(p.name for p in (tmp_path / "fixed").iterdir())
    assert names == ["spk2utt", "text", "utt2dur", "utt2num_samples", "utt2spk", "wav.scp"]


def test_fix_target_that_is_a_file_is_one_line(tiny, tmp_path, capsys):
    data, _ = tiny
    target = tmp_path / "a_file"
    target.write_text("x")
    assert main(["data", "validate", str(data), "--fix", str(target)]) == 1
    err = _err_lines(capsys)
    assert err == [
        f"speechssl data: error: {target}: --fix needs a folder to write the fixed copy to, not a file"
    ]
    assert target.read_text() == "x"
    assert main(["data", "validate", str(target)]) == 1
    assert _err_lines(capsys)[0] == f"{target}: is a file, not a data dir"


def test_complete_leaves_out_unreadable_files_and_names_them(tiny, capsys):
    data, wav = tiny
    _plain_kaldi_dir(data)
    utt = sorted(wav)[3]
    open(wav[utt], "wb").write(b"not audio at all")
    assert main(["data", "complete", str(data)]) == 0
    err = _err_lines(capsys)
    assert len(err) == 1 and err[0].startswith(f"{data}: utt {utt}: {wav[utt]}: cannot decode audio")
    assert utt not in read_table(data / "utt2num_samples") and len(read_table(data / "utt2dur")) == 5
    assert main(["data", "validate", str(data)]) == 1
    assert _err_lines(capsys)[-1] == f"{data}: 3 problem(s); --fix would drop 1 utterance(s)"
