"""Greedy best-path CTC decoding."""

import torch

from speechssl.decode.greedy import best_path, greedy_decode


def one_hot_log(ids, vocab=6):
    return torch.nn.functional.one_hot(torch.tensor(ids), vocab).float().log_softmax(-1)


def test_best_path_merges_repeats_and_drops_blanks():
    # 0 = blank: "a a - a b b -" -> a a b
    assert best_path(one_hot_log([1, 1, 0, 1, 2, 2, 0])) == [1, 1, 2]
    assert best_path(one_hot_log([0, 0, 0])) == []
    assert best_path(torch.zeros(0, 6)) == []


def test_greedy_decode_ignores_padded_frames():
    row0 = one_hot_log([3, 3, 0, 4, 5, 5])
    row1 = one_hot_log([2, 0, 2, 1, 1, 1])  # frames 3.. are padding
    ids = greedy_decode(torch.stack([row0, row1]), torch.tensor([6, 3]))
    assert ids == [[3, 4, 5], [2, 2]]
