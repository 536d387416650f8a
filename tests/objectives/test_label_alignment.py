"""HuBERT label/frame alignment at 50 and 100 Hz labels, and the error on length mismatch."""

import pytest
import torch

from speechssl.data.batch import LABEL_PAD
from speechssl.objectives.label_alignment import align_labels


def test_50hz_labels_map_one_to_one_and_crop():
    labels = torch.tensor([[1, 2, 3, 4, 5, 6], [7, 8, 9, 10, LABEL_PAD, LABEL_PAD]])
    out = align_labels(labels, None, torch.tensor([5, 5]), 6, 50, 50, ["s-1", "s-2"])
    assert out.tolist() == [[1, 2, 3, 4, 5, LABEL_PAD], [7, 8, 9, 10, LABEL_PAD, LABEL_PAD]]


def test_100hz_labels_take_every_second():
    labels = torch.arange(10).unsqueeze(0)  # 10 labels at 100 Hz = 5 frames at 50 Hz
    out = align_labels(labels, torch.tensor([10]), torch.tensor([5]), 5, 100, 50, ["s-1"])
    assert out.tolist() == [[0, 2, 4, 6, 8]]
    out = align_labels(labels[:, :9], torch.tensor([9]), torch.tensor([4]), 5, 100, 50, ["s-1"])
    assert out.tolist() == [[0, 2, 4, 6, LABEL_PAD]]


def test_25hz_labels_repeat():
    labels = torch.tensor([[3, 4, 5]])
    out = align_labels(labels, None, torch.tensor([6]), 6, 25, 50)
    assert out.tolist() == [[3, 3, 4, 4, 5, 5]]


def test_mismatch_names_the_utterance():
    labels = torch.zeros(2, 40, dtype=torch.long)
    with pytest.raises(ValueError, match="utterance spk-b: 40 labels at 100 Hz cover 20 frames"):
        align_labels(labels, torch.tensor([40, 40]), torch.tensor([20, 30]), 30, 100, 50, ["spk-a", "spk-b"])
    # within the tolerance of 2 frames: cropped, no error
    align_labels(labels, torch.tensor([40, 40]), torch.tensor([20, 22]), 22, 100, 50, ["spk-a", "spk-b"])
