"""The ``phones`` table: round trip, malformed lines, frame labels at frame centres, validation."""

import shutil

import numpy as np
import pytest

from speechssl.data.phones import (
    PhoneSegment,
    PhoneTableError,
    format_segments,
    frame_phone_labels,
    parse_segments,
    read_phone_alignments,
    write_phone_alignments,
)
from speechssl.data.fix import fix_data_dir
from speechssl.data.validate import check_data_dir, validate_data_dir
from speechssl.io.kaldi_dir import DataDir
from speechssl.text.arpabet import PHONE_INDEX

SEGMENTS = [PhoneSegment("SIL", 0.0, 0.05), PhoneSegment("AH", 0.05, 0.12), PhoneSegment("T", 0.12, 0.2)]


def test_round_trip_sorted_and_readable(tmp_path):
    table = {"spk1-0002": SEGMENTS[:2], "spk1-0001": SEGMENTS}
    path = write_phone_alignments(tmp_path, table)
    lines = path.read_text().splitlines()
    assert lines == [
        "spk1-0001 SIL:0.000:0.050 AH:0.050:0.120 T:0.120:0.200",
        "spk1-0002 SIL:0.000:0.050 AH:0.050:0.120",
    ]
    assert read_phone_alignments(tmp_path) == table
    assert parse_segments(format_segments(SEGMENTS)) == SEGMENTS


@pytest.mark.parametrize(
    "value, message",
    [
        ("SIL:0.000", "is not PHONE:START:END"),
        ("SIL:0:0.1 XX:0.1:0.2", "'XX' is not one of the 39 phones"),
        ("SIL:0:0.1 AH:0.2:0.15", "0 <= start < end"),
        ("SIL:0:0.1 AH:0.05:0.15", "starts before the previous phone ends"),
        ("SIL:0:a", "times are not numbers"),
        ("", "no phone segments"),
    ],
)
def test_malformed_values(value, message):
    with pytest.raises(ValueError, match=message):
        parse_segments(value)


def test_read_errors_name_file_and_utterance(tmp_path):
    with pytest.raises(PhoneTableError, match="no phone alignments; make them with 'speechssl data synth'"):
        read_phone_alignments(tmp_path)
    (tmp_path / "phones").write_text("a SIL:0:0.1\nb SIL:0:0.1 AH:0.2:0.1\n")
    with pytest.raises(PhoneTableError, match=r"phones: utterance 'b' \(entry 2\): field 'AH:0.2:0.1'"):
        read_phone_alignments(tmp_path)


def test_frame_labels_take_the_phone_at_each_centre():
    sil, ah, t = PHONE_INDEX["SIL"], PHONE_INDEX["AH"], PHONE_INDEX["T"]
    # 50 Hz centres 0.01, 0.03, 0.05 (on the SIL/AH boundary: AH), ..., 0.19; 0.21 is past the end
    labels = frame_phone_labels(SEGMENTS, 11, 50.0)
    np.testing.assert_array_equal(labels, [sil, sil, ah, ah, ah, ah, t, t, t, t, t])
    assert labels.dtype == np.int64
    # 100 Hz: frame 4 (centre 0.045) is the last SIL frame, frame 11 (0.115) the last AH one
    labels = frame_phone_labels(SEGMENTS, 20, 100.0)
    assert list(labels).count(sil) == 5 and list(labels).count(ah) == 7 and list(labels).count(t) == 8
    gap = [PhoneSegment("SIL", 0.0, 0.02), PhoneSegment("T", 0.06, 0.1)]
    np.testing.assert_array_equal(frame_phone_labels(gap, 4, 50.0), [sil, t, t, t])
    assert frame_phone_labels(SEGMENTS, 0, 50.0).shape == (0,)
    with pytest.raises(ValueError, match="at least one segment"):
        frame_phone_labels([], 3, 50.0)


def _copy_dev(smoke_corpus, dest):
    data = DataDir.load(smoke_corpus / "dev")
    data.save(dest)
    shutil.copyfile(smoke_corpus / "dev" / "phones", dest / "phones")
    return data


def test_validate_checks_the_phones_table(smoke_corpus, tmp_path):
    data = _copy_dev(smoke_corpus, tmp_path / "dev")
    assert validate_data_dir(tmp_path / "dev", progress=False) == []
    first, second = sorted(read_phone_alignments(tmp_path / "dev"))[:2]
    too_long = data.utt2dur[first] + 0.5
    lines = [
        f"{first} SIL:0.000:0.100 AH:0.100:{too_long:.3f}",
        f"{second} SIL:0:0.1 AH:0.2:0.1",
        "zzz-0000 SIL:0.000:0.100",
    ]
    (tmp_path / "dev" / "phones").write_text("\n".join(lines) + "\n")
    check = check_data_dir(tmp_path / "dev", progress=False)
    messages = sorted(p.message() for p in check.problems)
    assert len(messages) == 3
    assert any(f"utt {first}" in m and "after the audio" in m for m in messages)
    assert any(f"utt {second}" in m and "0 <= start < end" in m for m in messages)
    assert any("utt zzz-0000" in m and "in phones but not in wav.scp" in m for m in messages)
    summary = fix_data_dir(tmp_path / "dev", tmp_path / "fixed", check, progress=False)
    assert "kept 2 of 5 utterances, dropped 3 (2 bad phones, 1 missing entry)" in summary
    assert not (tmp_path / "fixed" / "phones").read_text()  # the two bad lines went with their utts


def test_fix_keeps_the_phones_of_kept_utterances(smoke_corpus, tmp_path):
    _copy_dev(smoke_corpus, tmp_path / "dev")
    fix_data_dir(tmp_path / "dev", tmp_path / "fixed", progress=False)
    assert read_phone_alignments(tmp_path / "fixed") == read_phone_alignments(smoke_corpus / "dev")
