"""AudioDataset: deterministic crops, label alignment, filtering, errors and collation."""

from __future__ import annotations

import numpy as np
import pytest

from speechssl.data.batch import LABEL_PAD
from speechssl.data.dataset import AudioDataset, collate, crop_labels
from speechssl.io.audio import AudioError, read_audio
from speechssl.io.kaldi_dir import DataDirError
from tests.data.tiny_dirs import make_data_dir


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    return make_data_dir(tmp_path_factory.mktemp("ds"), num_utts=8, min_len=3000, max_len=9000)


def test_crop_is_a_window_of_the_file_fixed_by_seed_epoch_index(data_dir):
    dataset = AudioDataset(data_dir, max_sample_size=2000, seed=7)
    dataset.set_epoch(3)
    example = dataset[5]
    full = read_audio(dataset.paths[5])
    offset = dataset.crop_offset(5, len(full))
    assert len(example.audio) == 2000
    np.testing.assert_array_equal(example.audio, full[offset : offset + 2000])
    np.testing.assert_array_equal(dataset[5].audio, example.audio)
    offsets = {dataset.crop_offset(5, len(full))}
    for epoch in range(4, 10):
        dataset.set_epoch(epoch)
        offsets.add(dataset.crop_offset(5, len(full)))
    assert len(offsets) > 1
    assert AudioDataset(data_dir, max_sample_size=2000, random_crop=False)[5].audio[0] == full[0]


def test_labels_follow_the_crop(data_dir):
    # label i of every utterance is i: the first kept label reveals where the crop started
    dataset0 = AudioDataset(data_dir, max_sample_size=None)
    labels = {u: np.arange(int(round(n * 50 / 16000))) for u, n in zip(dataset0.utt_ids, dataset0.lengths)}
    dataset = AudioDataset(data_dir, labels=labels, label_rate=50.0, max_sample_size=2000, seed=2)
    for index in range(len(dataset)):
        example = dataset[index]
        offset = dataset.crop_offset(index, int(dataset.lengths[index]))
        assert example.labels[0] == round(offset * 50 / 16000)
        assert len(example.labels) == round(2000 * 50 / 16000)  # 6 frames of 20 ms
    assert len(crop_labels(np.arange(10), 3100, 1600, 50.0)) == 0  # starts past the end
    assert list(crop_labels(np.arange(20), 3100, 1600, 50.0)) == [10, 11, 12, 13, 14]
    assert list(crop_labels(np.arange(12), 3100, 1600, 50.0)) == [10, 11]  # cut at the end


def test_short_utterances_are_dropped_and_counted(data_dir):
    lengths = AudioDataset(data_dir).lengths
    threshold = int(np.sort(lengths)[3])
    dataset = AudioDataset(data_dir, min_sample_size=threshold)
    assert dataset.num_filtered == 3 and len(dataset) == 5
    assert dataset.lengths.min() >= threshold
    assert (dataset.sizes <= 250_000).all()


def test_unreadable_audio_names_utterance_and_file(tmp_path):
    data_dir = make_data_dir(tmp_path, num_utts=3, nan_utts=("spk0-utt002",))
    (tmp_path / "audio" / "spk1-utt001.wav").write_bytes(b"not audio")
    with pytest.raises(AudioError, match=r"utterance 'spk1-utt001': .*spk1-utt001\.wav: cannot decode"):
        strict = AudioDataset(data_dir, skip_bad_audio=False)
        strict[strict.utt_ids.index("spk1-utt001")]
    dataset = AudioDataset(data_dir)  # skips: the batch leaves them out and names them
    batch = collate([dataset[i] for i in range(3)])
    assert batch.utt_ids == ["spk0-utt000"] and batch.audio.shape[0] == 1
    assert sorted(batch.skipped) == ["spk0-utt002", "spk1-utt001"]
    assert "spk0-utt002.wav: 1 non-finite sample(s) (NaN first" in batch.skipped["spk0-utt002"]
    empty = collate([dataset[dataset.utt_ids.index("spk1-utt001")]])
    assert empty.size == 0 and empty.audio.shape == (0, 0) and list(empty.skipped) == ["spk1-utt001"]
    (data_dir / "utt2num_samples").unlink()
    with pytest.raises(DataDirError, match="utt2num_samples: file not found"):
        AudioDataset(data_dir)


def test_collate_pads_audio_labels_and_targets(data_dir):
    labels = {
        u: np.full(int(n) // 320, 3)
        for u, n in zip(AudioDataset(data_dir).utt_ids, AudioDataset(data_dir).lengths)
    }
    dataset = AudioDataset(
        data_dir, labels=labels, target_fn=lambda text: [len(w) for w in text.split()], max_sample_size=None
    )
    picked = [0, len(dataset) - 1]  # speakers spk0 ("A B") and spk1 ("HELLO WORLD")
    batch = collate([dataset[i] for i in picked])
    lengths = dataset.lengths[picked]
    assert batch.audio.shape == (2, lengths.max())
    assert batch.audio_lengths.tolist() == lengths.tolist()
    assert batch.audio[int(np.argmin(lengths)), lengths.min() :].abs().sum() == 0
    assert batch.utt_ids == [dataset.utt_ids[i] for i in picked]
    assert batch.targets.tolist() == [[1, 1], [5, 5]]  # "A B", "HELLO WORLD"
    short = int(np.argmin(lengths))
    assert (batch.labels[short, batch.label_lengths[short] :] == LABEL_PAD).all()
