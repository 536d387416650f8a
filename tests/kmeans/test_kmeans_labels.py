"""Label dirs: round trip, rate conversion, and each failure of read_labels with its message."""

from __future__ import annotations

import numpy as np
import pytest

from speechssl.io.kaldi_dir import DataDir
from speechssl.kmeans.labels import LabelError, read_labels, resample_labels, write_label_dir


@pytest.fixture
def label_case(tmp_path):
    """A data dir of two utterances (1.0 s, 0.5 s) and labels at 50 Hz that fit them."""
    data = DataDir(wav_scp={"s-a": "a.flac", "s-b": "b.flac"},
                   utt2num_samples={"s-a": 16000, "s-b": 8000})
    data.save(tmp_path / "data")
    labels = {"s-a": np.arange(50) % 4, "s-b": np.full(25, 3)}
    write_label_dir(tmp_path / "labels", labels.items(), ["0", "1", "2", "3"], 50)
    return tmp_path / "labels", tmp_path / "data", labels


def test_round_trip(label_case):
    label_dir, data_dir, labels = label_case
    read, rate, num_classes = read_labels(label_dir, data_dir)
    assert (rate, num_classes) == (50.0, 4)
    for utt in labels:
        np.testing.assert_array_equal(read[utt], labels[utt])
    assert (label_dir / "dict.txt").read_text() == "0 13\n1 13\n2 12\n3 37\n"
    assert (label_dir / "label_rate").read_text() == "50\n"


def test_missing_utterance(label_case):
    label_dir, data_dir, _ = label_case
    text = (label_dir / "labels.txt").read_text().splitlines()
    (label_dir / "labels.txt").write_text(text[0] + "\n")
    with pytest.raises(LabelError, match="no labels for utterance 's-b'"):
        read_labels(label_dir, data_dir)


def test_count_mismatch_names_utterance_and_numbers(label_case):
    label_dir, data_dir, _ = label_case
    write_label_dir(label_dir, [("s-a", np.zeros(50, int)), ("s-b", np.zeros(40, int))], ["0"], 50)
    with pytest.raises(LabelError, match="utterance 's-b' has 40 labels but its audio "
                                         "\\(0.500 s at 50 Hz\\) needs 25.0"):
        read_labels(label_dir, data_dir)


def test_empty_dictionary(label_case):
    label_dir, data_dir, _ = label_case
    (label_dir / "dict.txt").write_text("")
    with pytest.raises(LabelError, match="dict.txt: label dictionary is empty"):
        read_labels(label_dir, data_dir)


def test_label_outside_dictionary(label_case):
    label_dir, data_dir, _ = label_case
    (label_dir / "dict.txt").write_text("0 1\n1 1\n")
    with pytest.raises(LabelError, match="utterance 's-a' has label '2' that is not in dict.txt"):
        read_labels(label_dir, data_dir)


def test_bad_rate_file(label_case):
    label_dir, data_dir, _ = label_case
    (label_dir / "label_rate").write_text("fast\n")
    with pytest.raises(LabelError, match="label_rate: label rate is not a number"):
        read_labels(label_dir, data_dir)


def test_resample_labels():
    labels = np.array([5, 6, 7, 8, 9])
    np.testing.assert_array_equal(resample_labels(labels, 100, 50), [5, 7, 9])
    np.testing.assert_array_equal(resample_labels(labels[:2], 50, 100), [5, 5, 6, 6])
    np.testing.assert_array_equal(resample_labels(labels, 50, 50), labels)
