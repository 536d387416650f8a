"""Helpers of the objective tests: the tiny backbone overrides and a fixed synthetic batch."""

import math

import torch

from speechssl.data.batch import AudioBatch

TINY = [
    "conv_layers=[[32,10,5],[32,3,2],[32,3,2],[32,3,2],[32,3,2],[32,2,2],[32,2,2]]",
    "embed_dim=64",
    "num_layers=3",
    "num_heads=4",
    "ffn_dim=128",
    "pos_conv_kernel=16",
    "dropout=0",
    "attention_dropout=0",
    "dropout_input=0",
    "dropout_features=0",
    "layerdrop=0",
]


def synthetic_batch(num_classes: int = 12, label_rate: int = 50) -> AudioBatch:
    """Two utterances (1 s and 0.8 s) of chirps plus noise, with frame labels from pitch."""
    gen = torch.Generator().manual_seed(1)
    lengths = torch.tensor([16000, 12800])
    t = torch.arange(16000) / 16000.0
    audio = torch.zeros(2, 16000)
    labels = torch.full((2, label_rate), -100, dtype=torch.long)
    for b, (f0, f1) in enumerate([(200.0, 900.0), (700.0, 250.0)]):
        freq = f0 + (f1 - f0) * t
        phase = 2 * math.pi * torch.cumsum(freq, 0) / 16000.0
        wave = 0.5 * torch.sin(phase) + 0.05 * torch.randn(16000, generator=gen)
        n = int(lengths[b])
        audio[b, :n] = wave[:n]
        count = n * label_rate // 16000
        frame_freq = freq[:: 16000 // label_rate][:count]
        bins = ((frame_freq - 200) / 700 * (num_classes - 1)).round().long()
        labels[b, :count] = bins.clamp(0, num_classes - 1)
    label_lengths = (labels != -100).sum(1)
    return AudioBatch(audio, lengths, ["spk1-utt1", "spk2-utt1"], labels=labels, label_lengths=label_lengths)
