"""A synthetic upstream for the probe tests: one layer spells the phones frame by frame, the rest
are noise; the probe must find that layer."""

from __future__ import annotations

import torch

from speechssl.text.arpabet import PHONES


def phone_upstream(num_utts: int, num_layers: int = 5, informative: int = 2, dim: int = 16,
                   seed: int = 0) -> tuple[dict[str, torch.Tensor], dict[str, list[int]], dict[str, str]]:
    """(``utt -> hidden (L, T, D)``, ``utt -> phone ids`` (1-based, 0 = blank), ``utt -> phones``).

    Layer ``informative`` holds a fixed random code of each frame's phone plus noise of half its scale, every
    phone lasting 3-5 frames, no phone repeated back to back; other layers are Gaussian noise.
    """
    generator = torch.Generator().manual_seed(seed)
    codes = torch.randn(len(PHONES), dim, generator=generator)
    hidden, targets, references = {}, {}, {}
    for index in range(num_utts):
        count = int(torch.randint(6, 12, (1,), generator=generator))
        phones: list[int] = []
        while len(phones) < count:
            phone = int(torch.randint(len(PHONES), (1,), generator=generator))
            if not phones or phone != phones[-1]:
                phones.append(phone)
        durations = torch.randint(3, 6, (count,), generator=generator)
        frames = torch.repeat_interleave(torch.tensor(phones), durations)
        states = torch.randn(num_layers, len(frames), dim, generator=generator)
        states[informative] = codes[frames] + 0.5 * torch.randn(len(frames), dim, generator=generator)
        utt = f"utt{index:03d}"
        hidden[utt] = states
        targets[utt] = [p + 1 for p in phones]
        references[utt] = " ".join(PHONES[p] for p in phones)
    return hidden, targets, references
