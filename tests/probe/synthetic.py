"""A synthetic upstream for the probe tests: one layer spells the phones frame by frame, the rest
are noise; the probe must find that layer."""

from __future__ import annotations

import torch

from speechssl.text.arpabet import ALIGNMENT_PHONES, PHONES


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


INVENTORY = ("AA", "IY", "K", "T", "S")


def aligned_upstream(num_speakers: int = 3, utts: int = 4, phones_per_utt: int = 20, num_layers: int = 5,
                     informative: int = 2, dim: int = 16, rate: float = 50.0, noise: float = 1 / 3,
                     seed: int = 0):
    """(``utt -> hidden (L, T, D)``, ``utt -> PhoneSegment list``, ``utt -> speaker``) at ``rate`` Hz.

    Utterances ``spk<s>-<u>``: SIL, then random phones of INVENTORY (none twice in a row), 3-5
    frames each, then SIL. Layer ``informative`` is a fixed random code of each frame's phone plus
    Gaussian noise times ``noise``; the other layers are Gaussian noise.
    """
    from speechssl.data.phones import PhoneSegment, frame_phone_labels

    generator = torch.Generator().manual_seed(seed)
    codes = torch.randn(len(ALIGNMENT_PHONES), dim, generator=generator)
    hidden, alignments, speakers = {}, {}, {}
    for speaker in range(num_speakers):
        for index in range(utts):
            names = ["SIL"]
            while len(names) <= phones_per_utt:
                phone = INVENTORY[int(torch.randint(len(INVENTORY), (1,), generator=generator))]
                if phone != names[-1]:
                    names.append(phone)
            names.append("SIL")
            ends = torch.cumsum(torch.randint(3, 6, (len(names),), generator=generator), 0) / rate
            starts = [0.0] + ends[:-1].tolist()
            segments = [PhoneSegment(p, a, b) for p, a, b in zip(names, starts, ends.tolist())]
            frames = int(round(segments[-1].end * rate))
            labels = torch.from_numpy(frame_phone_labels(segments, frames, rate))
            states = torch.randn(num_layers, frames, dim, generator=generator)
            states[informative] = codes[labels] + noise * torch.randn(frames, dim, generator=generator)
            utt = f"spk{speaker}-{index:04d}"
            hidden[utt], alignments[utt], speakers[utt] = states, segments, f"spk{speaker}"
    return hidden, alignments, speakers
